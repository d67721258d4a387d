"""Records in the notes: what a line must be to count, and the warning when it is not."""

from __future__ import annotations

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
