"""Git notes refs edited without losing anyone's note: notes commits read (flat and fanned
out) and written as git reads them, an edit applied on top, the union of two writers, the
local ref under its lock, merging what a remote took into the local ref, and pushing an
edit to a remote that another writer moved meanwhile. Real git throughout: the notes are
read back with `git notes`, the remote is a bare repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from pipeline.errors import GitError
from pipeline.sinks import gitnotes
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote

REF = "refs/notes/test"
WHO = pygit2.Signature("t", "t@example.com", 1_790_000_000, 0)


def commit(repo: pygit2.Repository, text: bytes = b"x") -> pygit2.Oid:
    tree = repo.TreeBuilder()
    tree.insert("f", repo.create_blob(text), pygit2.enums.FileMode.BLOB)
    return repo.create_commit(None, WHO, WHO, "c", tree.write(), [])


def git_notes(repo: pygit2.Repository, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "--git-dir", repo.path, "notes", f"--ref={REF}", *args],
                          capture_output=True, text=True, check=False,
                          env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
                               "HOME": repo.path, "GIT_AUTHOR_NAME": "g",
                               "GIT_AUTHOR_EMAIL": "g@example.com", "GIT_COMMITTER_NAME": "g",
                               "GIT_COMMITTER_EMAIL": "g@example.com"})


def appending(*new: str) -> gitnotes.Edit:
    def edit(found: list[str]) -> list[str] | None:
        added = [line for line in new if line not in found]
        return [*found, *added] if added else None
    return edit


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r"), bare=True)


# --- reading and writing notes commits -----------------------------------------------------

def test_a_notes_commit_written_here_is_read_by_git_and_back(repo: pygit2.Repository) -> None:
    a, b = commit(repo, b"a"), commit(repo, b"b")
    made = gitnotes.write(repo, {str(a): ["one", "two"], str(b): ["three"]}, [], WHO, "m")
    repo.references.create(REF, made)
    assert git_notes(repo, "show", str(a)).stdout == "one\ntwo\n"
    assert git_notes(repo, "show", str(b)).stdout == "three\n"
    assert gitnotes.lines(repo, made) == {str(a): ["one", "two"], str(b): ["three"]}
    assert repo[made].peel(pygit2.Commit).message == "m"


def test_notes_fanned_out_into_folders_are_read(repo: pygit2.Repository) -> None:
    """git moves notes into folders once there are many (ab/cdef…, then ab/cd/ef…); each
    note is read under the full id of the commit it annotates, at any depth."""
    a, b, c = commit(repo, b"a"), commit(repo, b"b"), commit(repo, b"c")

    def blob(text: str) -> pygit2.Oid:
        return repo.create_blob(text.encode())

    def tree(entries: dict[str, tuple[pygit2.Oid, int]]) -> pygit2.Oid:
        builder = repo.TreeBuilder()
        for name, (oid, mode) in entries.items():
            builder.insert(name, oid, mode)
        return builder.write()

    file, folder = pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.TREE
    one, two = str(a), str(b)
    inner = tree({two[4:]: (blob("two levels\n"), file)})
    top = tree({one[:2]: (tree({one[2:]: (blob("one level\n"), file)}), folder),
                two[:2]: (tree({two[2:4]: (inner, folder)}), folder),
                str(c): (blob("flat\n"), file)})
    notes = repo.create_commit(REF, WHO, WHO, "fanned out", top, [])
    for oid, text in ((a, "one level"), (b, "two levels"), (c, "flat")):  # as git reads it
        assert git_notes(repo, "show", str(oid)).stdout == f"{text}\n"
    assert gitnotes.lines(repo, notes) == {one: ["one level"], two: ["two levels"],
                                           str(c): ["flat"]}


def test_no_notes_and_a_notes_ref_that_is_no_commit_read_as_none(repo: pygit2.Repository) -> None:
    assert gitnotes.lines(repo, None) == {}
    assert gitnotes.target(repo, REF) is None
    blob = repo.create_blob(b"junk")
    assert gitnotes.lines(repo, blob) == {}


def test_union_keeps_every_line_of_both_theirs_first() -> None:
    theirs = {"a": ["1", "2"], "b": ["x"]}
    ours = {"a": ["2", "3", "1"], "c": ["y"]}
    assert gitnotes.union(theirs, ours) == {"a": ["1", "2", "3"], "b": ["x"], "c": ["y"]}
    assert gitnotes.union({}, {}) == {}
    assert theirs == {"a": ["1", "2"], "b": ["x"]}  # inputs left as they were


def test_an_edit_is_made_on_top_of_the_base_and_keeps_every_other_note(
        repo: pygit2.Repository) -> None:
    a, b = commit(repo, b"a"), commit(repo, b"b")
    base = gitnotes.write(repo, {str(a): ["keep"], str(b): ["old"]}, [], WHO, "base")
    made = gitnotes.edited(repo, REF, base, b, appending("new"), WHO)
    assert made is not None
    made_commit = repo[made].peel(pygit2.Commit)
    assert made_commit.parent_ids == [base]
    assert made_commit.message == f"hydrate: notes for {str(b)[:7]}"
    assert gitnotes.lines(repo, made) == {str(a): ["keep"], str(b): ["old", "new"]}
    assert gitnotes.edited(repo, REF, base, b, appending("old"), WHO) is None  # nothing to do
    first = gitnotes.edited(repo, REF, None, a, appending("first"), WHO)
    assert first is not None
    assert repo[first].peel(pygit2.Commit).parent_ids == []


def test_an_edit_on_a_notes_ref_that_is_no_commit_is_one_clear_error(
        repo: pygit2.Repository) -> None:
    a = commit(repo)
    junk = repo.create_blob(b"junk")
    with pytest.raises(GitError) as here:
        gitnotes.edited(repo, REF, junk, a, appending("x"), WHO)
    assert str(here.value) == (
        f"{REF} points at {str(junk)[:7]}, which is not a commit: git notes did not write it, "
        "so nothing can be added to it; look at it, then delete it (git update-ref -d "
        f"{REF}) or point it at the notes commit")
    with pytest.raises(GitError) as there:
        gitnotes.edited(repo, REF, junk, a, appending("x"), WHO, "ssh://host/repo")
    assert f"{REF} in ssh://host/repo points at" in str(there.value)
    assert f"(git update-ref -d {REF} in ssh://host/repo)" in str(there.value)


# --- the local ref -------------------------------------------------------------------------

def test_a_local_edit_moves_the_ref_and_an_edit_that_changes_nothing_does_not(
        repo: pygit2.Repository) -> None:
    a = commit(repo)
    gitnotes.edit_local(repo, REF, a, lambda found: None, WHO)
    assert REF not in repo.references  # nothing to write: no notes ref made
    gitnotes.edit_local(repo, REF, a, appending("one"), WHO)
    first = gitnotes.target(repo, REF)
    assert git_notes(repo, "show", str(a)).stdout == "one\n"
    gitnotes.edit_local(repo, REF, a, appending("one"), WHO)
    assert gitnotes.target(repo, REF) == first
    gitnotes.edit_local(repo, REF, a, appending("two"), WHO)
    assert git_notes(repo, "show", str(a)).stdout == "one\ntwo\n"
    second = gitnotes.target(repo, REF)
    assert second is not None
    assert repo[second].peel(pygit2.Commit).parent_ids == [first]
    assert not list(Path(repo.path).glob("hydrate-*.lock"))


def test_merging_what_a_remote_took_into_the_local_ref(repo: pygit2.Repository) -> None:
    """Theirs descends from ours: the ref moves to theirs. Ours descends from theirs: it
    stays. Diverged: a merge commit with both as parents and the union of the notes."""
    a, b = commit(repo, b"a"), commit(repo, b"b")
    base = gitnotes.write(repo, {str(a): ["1"]}, [], WHO, "base")
    repo.references.create(REF, base)
    ahead = gitnotes.write(repo, {str(a): ["1", "2"]}, [base], WHO, "ahead")
    gitnotes.merge_into_local(repo, REF, ahead, WHO, gitnotes.union)
    assert gitnotes.target(repo, REF) == ahead
    gitnotes.merge_into_local(repo, REF, base, WHO, gitnotes.union)  # behind ours
    assert gitnotes.target(repo, REF) == ahead
    gitnotes.merge_into_local(repo, REF, None, WHO, gitnotes.union)
    assert gitnotes.target(repo, REF) == ahead
    theirs = gitnotes.write(repo, {str(a): ["1", "3"], str(b): ["b"]}, [base], WHO, "theirs")
    gitnotes.merge_into_local(repo, REF, theirs, WHO, gitnotes.union)
    merged = gitnotes.target(repo, REF)
    assert merged is not None
    merge = repo[merged].peel(pygit2.Commit)
    assert merge.parent_ids == [theirs, ahead]
    assert merge.message == "hydrate: merge notes"
    assert gitnotes.lines(repo, merged) == {str(a): ["1", "3", "2"], str(b): ["b"]}


def test_with_no_local_notes_the_remotes_become_them(repo: pygit2.Repository) -> None:
    a = commit(repo)
    theirs = gitnotes.write(repo, {str(a): ["1"]}, [], WHO, "theirs")
    gitnotes.merge_into_local(repo, REF, theirs, WHO, gitnotes.union)
    assert gitnotes.target(repo, REF) == theirs


# --- a remote ------------------------------------------------------------------------------

@pytest.fixture
def remote(tmp_path: Path, repo: pygit2.Repository) -> tuple[Remote, pygit2.Repository]:
    bare = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    return Remote(repo, bare.path, Credentials(), {"PATH": os.environ["PATH"]}), bare


def _on_remote(bare: pygit2.Repository, annotated: pygit2.Oid, line: str) -> None:
    """Another writer adds `line` to the remote's note on `annotated` (as git would)."""
    top = gitnotes.target(bare, REF)
    notes = gitnotes.lines(bare, top)
    notes.setdefault(str(annotated), []).append(line)
    made = gitnotes.write(bare, notes, [top] if top else [], WHO, "other writer")
    bare.references.create(REF, made, force=True)


def test_a_remote_edit_is_pushed_then_kept_locally(repo: pygit2.Repository,
                                                   remote: tuple[Remote, pygit2.Repository]
                                                   ) -> None:
    far, bare = remote
    a = commit(repo)
    gitnotes.edit_remote(repo, far, REF, a, appending("one"), WHO, gitnotes.union)
    pushed = gitnotes.target(bare, REF)
    assert pushed is not None
    assert gitnotes.lines(bare, pushed) == {str(a): ["one"]}
    assert gitnotes.target(repo, far.notes_tracking_ref(REF)) == pushed
    assert gitnotes.target(repo, REF) == pushed
    assert gitnotes.fetch(repo, far, REF) == pushed
    gitnotes.edit_remote(repo, far, REF, a, appending("one"), WHO, gitnotes.union)
    assert gitnotes.target(bare, REF) == pushed  # nothing to add: nothing pushed


def test_a_writer_that_pushed_first_is_fetched_and_the_edit_made_again(
        repo: pygit2.Repository, remote: tuple[Remote, pygit2.Repository]) -> None:
    """Between our fetch and our push another writer adds a line on the remote: our push
    (compare-and-swap on the notes ref) is refused, we fetch again and add ours on top of
    theirs; both lines are on the remote, and locally."""
    far, bare = remote
    a = commit(repo)
    gitnotes.edit_remote(repo, far, REF, a, appending("first"), WHO, gitnotes.union)
    calls: list[list[str]] = []

    def racing(found: list[str]) -> list[str] | None:
        calls.append(list(found))
        if len(calls) == 1:
            _on_remote(bare, a, "theirs")
        return [*found, "ours"]

    gitnotes.edit_remote(repo, far, REF, a, racing, WHO, gitnotes.union)
    assert calls == [["first"], ["first", "theirs"]]
    top = gitnotes.target(bare, REF)
    assert gitnotes.lines(bare, top) == {str(a): ["first", "theirs", "ours"]}
    assert gitnotes.lines(repo, gitnotes.target(repo, REF)) == {
        str(a): ["first", "theirs", "ours"]}


def test_a_remote_that_keeps_moving_is_given_up_on_in_one_line(
        repo: pygit2.Repository, remote: tuple[Remote, pygit2.Repository]) -> None:
    far, bare = remote
    a = commit(repo)
    calls: list[int] = []

    def always_overtaken(found: list[str]) -> list[str]:
        calls.append(1)
        _on_remote(bare, a, f"theirs {len(calls)}")
        return [*found, "ours"]

    with pytest.raises(GitError) as caught:
        gitnotes.edit_remote(repo, far, REF, a, always_overtaken, WHO, gitnotes.union)
    assert str(caught.value) == (f"{far.url}: gave up pushing {REF} after 6 attempts: other "
                                 "writers kept moving it; run the command again (nothing "
                                 "recorded is lost)")
    assert len(calls) == gitnotes.ATTEMPTS
    assert "ours" not in gitnotes.lines(bare, gitnotes.target(bare, REF))[str(a)]
    assert gitnotes.target(repo, REF) is None  # nothing the remote did not take


def test_fetching_a_remote_without_notes_or_with_junk_there(
        repo: pygit2.Repository, remote: tuple[Remote, pygit2.Repository]) -> None:
    far, bare = remote
    assert gitnotes.fetch(repo, far, REF) is None
    a = commit(repo)
    gitnotes.edit_remote(repo, far, REF, a, appending("one"), WHO, gitnotes.union)
    junk = bare.create_blob(b"junk")
    bare.references.create(REF, junk, force=True)
    # Not a commit there: fetched as it is (the readers warn about it), and an edit is
    # one clear error naming the remote, with nothing pushed.
    assert gitnotes.fetch(repo, far, REF) == junk
    assert gitnotes.target(repo, far.notes_tracking_ref(REF)) == junk
    with pytest.raises(GitError, match=rf"^{REF} in {far.url} points at {str(junk)[:7]}, "
                                       "which is not a commit"):
        gitnotes.edit_remote(repo, far, REF, a, appending("two"), WHO, gitnotes.union)
    assert gitnotes.target(bare, REF) == junk
