"""Notes, from mutation testing (scripts/mutate): how much of a line that is no record
the warning shows, the warning for a remote's notes, adding what a note holds already
(nothing is written), and what the remote said when records were pushed."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from pipeline.promote import notes
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote

WHO = pygit2.Signature("t", "t@example.com", 1_790_000_000, 0)
RECORD = notes.Record("check", "dev", "a" * 40, "2026-11-30T08:00:00Z", check="smoke",
                      state="success")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r"), bare=True)


def a_commit(repo: pygit2.Repository) -> pygit2.Oid:
    return repo.create_commit(None, WHO, WHO, "x", repo.TreeBuilder().write(), [])


@pytest.mark.parametrize(("length", "shown"), [(80, "x" * 80), (81, "x" * 77 + "...")])
def test_a_line_that_is_no_record_is_shown_whole_up_to_80_characters(
        repo: pygit2.Repository, length: int, shown: str) -> None:
    commit = a_commit(repo)
    repo.create_note("x" * length + "\n", WHO, WHO, str(commit), notes.REF)
    told: list[str] = []
    assert notes.local(repo, told.append).lines(commit) == ()
    assert told == [f"refs/notes/hydrate: the note on {str(commit)[:7]}, line 1, is ignored "
                    f"(not JSON): {shown}"]


@pytest.fixture
def remote(tmp_path: Path, repo: pygit2.Repository) -> tuple[Remote, pygit2.Repository]:
    there = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    return Remote(repo, there.path, Credentials(), {"PATH": "/usr/bin:/bin"}), there


def test_a_remotes_unreadable_line_is_warned_about_naming_its_notes(
        repo: pygit2.Repository, remote: tuple[Remote, pygit2.Repository]) -> None:
    where, there = remote
    commit = a_commit(repo)
    there.create_note(f"not json\n{RECORD.line()}\n", WHO, WHO, str(commit), notes.REF)
    told: list[str] = []
    evidence = notes.of_remote(repo, where, told.append)
    assert evidence.records(commit) == [RECORD]
    assert told == [f"{where.notes_tracking_ref(notes.REF)}: the note on {str(commit)[:7]}, "
                    "line 1, is ignored (not JSON): not json"]


def test_adding_records_a_note_holds_already_writes_nothing(repo: pygit2.Repository) -> None:
    commit = a_commit(repo)
    notes.add(repo, commit, [RECORD], WHO)
    first = repo.references[notes.REF].target
    notes.add(repo, commit, [RECORD], WHO)
    assert repo.references[notes.REF].target == first  # no new notes commit
    assert notes.local(repo).records(commit) == [RECORD]


def test_publishing_says_what_the_remote_said(repo: pygit2.Repository,
                                              remote: tuple[Remote, pygit2.Repository]) -> None:
    where, there = remote
    hook = Path(there.path) / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\necho 'evidence recorded'\n")
    hook.chmod(0o755)
    commit = a_commit(repo)
    said: list[str] = []
    notes.publish(repo, where, commit, [RECORD], WHO, said.append)
    assert said == ["evidence recorded"]
    assert there.lookup_note(str(commit), notes.REF).message == RECORD.line() + "\n"
