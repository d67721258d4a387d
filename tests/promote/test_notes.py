"""Records in the notes: what a line must be to count, and the warning when it is not."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pygit2
import pytest

from pipeline.promote import notes

GOOD = ('{"kind": "check", "env": "dev", "source": "a", "time": "2026-11-30T08:00:00Z", '
        '"check": "smoke", "state": "success"}')


@pytest.mark.parametrize(("line", "why"), [
    ('{"kind": "check", "env": "dev", "source": "a", "time": "2026-11-30T08:00:00"}',
     "time '2026-11-30T08:00:00' has no offset"),
    ('{"kind": "check", "env": "dev", "source": "a", "time": 5}', "a value that is not a string"),
    ('{"kind": "approve", "env": "dev", "source": "a", "time": "2026-11-30T08:00:00Z"}',
     "kind 'approve' is neither check nor live"),
    ('{"kind": "live", "env": "dev", "time": "2026-11-30T08:00:00Z"}', "no 'source'"),
    ("not json", "not JSON"),
])
def test_a_line_that_is_no_record_says_why(line: str, why: str) -> None:
    assert notes.Record.parse(line) == why


def test_unreadable_lines_are_ignored_with_a_warning_naming_the_note(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    who = pygit2.Signature("t", "t@example.com")
    commit = repo.create_commit(None, who, who, "x", repo.TreeBuilder().write(), [])
    bad = '{"kind": "check", "env": "dev", "source": "a", "time": "2026-11-30T08:00:00"}'
    repo.create_note(f"{bad}\n{GOOD}\n", who, who, str(commit), notes.REF)
    told: list[str] = []
    evidence = notes.local(repo, told.append)
    (line,) = evidence.lines(commit)
    assert (line.index, line.record.check) == (1, "smoke")
    assert told == [f"refs/notes/hydrate: the note on {str(commit)[:7]}, line 1, is ignored "
                    f"(time '2026-11-30T08:00:00' has no offset): {bad}"]


def test_a_notes_ref_that_is_no_commit_is_read_as_empty_and_never_written_to(
        tmp_path: Path) -> None:
    """Someone pointed refs/notes/hydrate at a blob: reading warns and finds nothing;
    adding a record is one clear error, not a crash."""
    from pipeline.errors import GitError

    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    who = pygit2.Signature("t", "t@example.com")
    commit = repo.create_commit(None, who, who, "x", repo.TreeBuilder().write(), [])
    junk = repo.create_blob(b"junk\n")
    repo.references.create(notes.REF, junk)
    told: list[str] = []
    assert notes.local(repo, told.append).lines(commit) == ()
    assert told == ["refs/notes/hydrate is not a notes commit: no record in it is read"]
    record = notes.Record("check", "dev", "a" * 40, "2026-11-30T08:00:00Z", check="smoke",
                          state="success")
    with pytest.raises(GitError, match=rf"refs/notes/hydrate points at {str(junk)[:7]}, "
                                       "which is not a commit"):
        notes.add(repo, commit, [record], who)
    assert repo.references[notes.REF].target == junk


# --- records written, read, added and published -------------------------------------------

WHO = pygit2.Signature("t", "t@example.com", 1_790_000_000, 0)


def _commit(repo: pygit2.Repository) -> pygit2.Oid:
    return repo.create_commit(None, WHO, WHO, "x", repo.TreeBuilder().write(), [])


def test_a_record_is_one_json_line_of_the_fields_it_has_and_reads_back_equal() -> None:
    record = notes.Record("check", "prod", "a" * 40, "2026-11-30T08:00:00Z", wave="canary",
                          check="smoke", state="success")
    assert record.line() == ('{"check": "smoke", "env": "prod", "kind": "check", "source": "'
                             + "a" * 40 + '", "state": "success", "time": '
                             '"2026-11-30T08:00:00Z", "wave": "canary"}')
    assert notes.Record.parse(record.line()) == record
    live = notes.Record("live", "dev", "b" * 40, "2026-11-30T08:00:00+01:00")
    assert live.line() == ('{"env": "dev", "kind": "live", "source": "' + "b" * 40
                           + '", "time": "2026-11-30T08:00:00+01:00"}')
    assert live.when == dt.datetime(2026, 11, 30, 7, tzinfo=dt.UTC)


@pytest.mark.parametrize(("line", "why"), [
    ('["kind"]', "not a JSON object"),
    ('{"kind": "check", "env": "dev", "source": "a", "time": "2026-11-30T08:00:00Z", '
     '"approver": "me"}', "unknown field 'approver'"),
    ('{"kind": "check", "env": "", "source": "a", "time": "2026-11-30T08:00:00Z"}', "no 'env'"),
    ('{"env": "dev", "source": "a", "time": "2026-11-30T08:00:00Z"}', "no 'kind'"),
    ('{"kind": "live", "env": "dev", "source": "a"}', "no 'time'"),
    ('{"kind": "live", "env": "dev", "source": "a", "time": "monday"}',
     "time 'monday' is not a time"),
])
def test_more_lines_that_are_no_record_say_why(line: str, why: str) -> None:
    assert notes.Record.parse(line) == why


def test_lines_keep_their_place_in_the_note_and_long_ones_are_shortened_in_the_warning(
        tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    commit = _commit(repo)
    long = "x" * 100
    repo.create_note(f"\n{GOOD}\n   \n{long}\n{GOOD}\n", WHO, WHO, str(commit), notes.REF)
    told: list[str] = []
    evidence = notes.local(repo, told.append)
    found = evidence.lines(commit)
    assert [line.index for line in found] == [1, 4]
    assert told == [f"refs/notes/hydrate: the note on {str(commit)[:7]}, line 4, is ignored "
                    f"(not JSON): {'x' * 77}..."]
    assert evidence.lines(commit) is found  # read once per Evidence
    assert len(told) == 1
    assert [r.check for r in evidence.records(commit)] == ["smoke", "smoke"]
    assert notes.local(repo).lines(commit) == found  # no one to warn: the same records


def test_no_notes_ref_or_no_note_on_the_commit_is_no_record(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    commit, other = _commit(repo), repo.create_commit(None, WHO, WHO, "y",
                                                      repo.TreeBuilder().write(), [])
    assert notes.local(repo).lines(commit) == ()
    repo.create_note(f"{GOOD}\n", WHO, WHO, str(other), notes.REF)
    assert notes.local(repo).lines(commit) == ()
    assert len(notes.local(repo).lines(other)) == 1


def test_add_appends_only_new_lines_after_the_notes_own(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    commit = _commit(repo)
    first = notes.Record("check", "dev", "a" * 40, "2026-11-30T08:00:00Z", check="smoke",
                         state="success")
    second = notes.Record("live", "dev", "b" * 40, "2026-11-30T09:00:00Z")
    notes.add(repo, commit, [first], WHO)
    notes.add(repo, commit, [second, first], WHO)
    assert repo.lookup_note(str(commit), notes.REF).message == f"{first.line()}\n{second.line()}\n"
    assert notes.local(repo).records(commit) == [first, second]


def test_published_records_are_on_the_remote_and_merged_locally_and_the_remote_alone_counts(
        tmp_path: Path) -> None:
    """A record published goes to the remote's notes first, then into the local ones; a
    record added only locally is not evidence for a command that reads the remote."""
    from pipeline.sinks.credentials import Credentials
    from pipeline.sinks.remote import Remote

    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    bare = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    remote = Remote(repo, bare.path, Credentials(), {"PATH": os.environ["PATH"]})
    commit = _commit(repo)
    assert notes.fetch(repo, remote) is None
    pushed = notes.Record("check", "dev", "a" * 40, "2026-11-30T08:00:00Z", check="smoke",
                          state="success")
    notes.publish(repo, remote, commit, [pushed], WHO)
    assert bare.lookup_note(str(commit), notes.REF).message == pushed.line() + "\n"
    assert notes.local(repo).records(commit) == [pushed]
    local_only = notes.Record("check", "dev", "a" * 40, "2026-11-30T08:05:00Z", check="load",
                              state="success")
    notes.add(repo, commit, [local_only], WHO)
    assert notes.of_remote(repo, remote).records(commit) == [pushed]
    assert notes.local(repo).records(commit) == [pushed, local_only]
    assert notes.judged(repo, remote).records(commit) == [pushed]
    assert notes.judged(repo, None).records(commit) == [pushed, local_only]
    assert notes.fetch(repo, remote) == bare.references[notes.REF].target
