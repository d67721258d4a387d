"""Who writes and how local refs move: signatures at the clock's time, branch names git
accepts, the lock beside the refs, and compare-and-swap updates that refuse a ref that
moved."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from pipeline.errors import GitError
from pipeline.sinks import refs

NOW = {"HYDRATE_NOW": "2026-11-30T09:00:00+01:00"}
WHO = pygit2.Signature("t", "t@example.com", 1_790_000_000, 0)


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r"), bare=True)


def commit(repo: pygit2.Repository, text: bytes = b"x") -> pygit2.Oid:
    tree = repo.TreeBuilder()
    tree.insert("f", repo.create_blob(text), pygit2.enums.FileMode.BLOB)
    return repo.create_commit(None, WHO, WHO, "c", tree.write(), [])


# --- compare-and-swap -----------------------------------------------------------------

def test_a_ref_is_created_only_if_it_does_not_exist(repo: pygit2.Repository) -> None:
    first, other = commit(repo, b"1"), commit(repo, b"2")
    assert refs.update_ref(repo, "refs/heads/env/dev", first, None, "create")
    assert repo.references["refs/heads/env/dev"].target == first
    # Someone created it meanwhile: "create" (expected None) refuses, nothing changes.
    assert not refs.update_ref(repo, "refs/heads/env/dev", other, None, "create again")
    assert repo.references["refs/heads/env/dev"].target == first


def test_a_ref_that_moved_is_not_moved_again(repo: pygit2.Repository) -> None:
    """Read at `first`, moved to `rival` by another process: an update expecting `first`
    is refused and the rival's commit stays; one expecting `rival` goes through."""
    first, rival, mine = commit(repo, b"1"), commit(repo, b"2"), commit(repo, b"3")
    repo.references.create("refs/heads/env/dev", first)
    repo.references["refs/heads/env/dev"].set_target(rival)
    assert not refs.update_ref(repo, "refs/heads/env/dev", mine, first, "lost the race")
    assert repo.references["refs/heads/env/dev"].target == rival
    assert refs.update_ref(repo, "refs/heads/env/dev", mine, rival, "on top")
    assert repo.references["refs/heads/env/dev"].target == mine


def test_a_ref_deleted_meanwhile_is_not_recreated(repo: pygit2.Repository) -> None:
    first, mine = commit(repo, b"1"), commit(repo, b"2")
    assert not refs.update_ref(repo, "refs/heads/env/dev", mine, first, "gone")
    assert "refs/heads/env/dev" not in repo.references


def test_an_update_is_logged_and_leaves_no_lock(repo: pygit2.Repository) -> None:
    repo.config["core.logAllRefUpdates"] = "always"  # a bare repository logs none by default
    first = commit(repo)
    assert refs.update_ref(repo, "refs/heads/env/dev", first, None, "hydrate publish abc1234")
    entries = list(repo.references["refs/heads/env/dev"].log())
    assert [e.message for e in entries] == ["hydrate publish abc1234"]
    assert not list(Path(repo.path).glob("hydrate-*.lock"))


# --- the lock ----------------------------------------------------------------------------

def test_a_held_lock_makes_the_next_writer_wait_then_give_up(repo: pygit2.Repository) -> None:
    """One file per ref beside the refs; a second holder times out with one line naming
    it, and the file goes when its holder is done."""
    path = Path(repo.path) / "hydrate-refs-heads-env-dev.lock"
    with refs.RefLock(repo, "refs/heads/env/dev"):
        assert path.is_file()
        with pytest.raises(GitError) as caught, refs.RefLock(repo, "refs/heads/env/dev",
                                                             timeout=0.2):
            pass
        assert str(caught.value) == (f"{path}: locked by another hydrate process; if none is "
                                     "running, delete the file")
        with refs.RefLock(repo, "refs/heads/env/prod", timeout=0.2):  # another ref: free
            pass
    assert not path.exists()


def test_a_writer_waits_for_the_holder_and_then_updates(repo: pygit2.Repository) -> None:
    """The lock is someone else's (a file hydrate did not make here): the update waits
    until it goes, then goes through; the holder's file is never removed while fresh."""
    lock = Path(repo.path) / "hydrate-refs-heads-env-dev.lock"
    lock.write_text("")
    release = threading.Timer(0.3, lock.unlink)
    release.start()
    try:
        first = commit(repo)
        assert refs.update_ref(repo, "refs/heads/env/dev", first, None, "after waiting")
    finally:
        release.join()
    assert repo.references["refs/heads/env/dev"].target == first
    assert not lock.exists()


def test_a_stale_lock_is_taken_over(repo: pygit2.Repository) -> None:
    """A lock older than a minute (a process that died holding it) is removed and taken."""
    lock = Path(repo.path) / "hydrate-refs-heads-env-dev.lock"
    lock.write_text("")
    old = time.time() - 61
    os.utime(lock, (old, old))
    first = commit(repo)
    assert refs.update_ref(repo, "refs/heads/env/dev", first, None, "after a crash")
    assert not lock.exists()
    lock.write_text("")
    recent = time.time() - 50
    os.utime(lock, (recent, recent))
    with pytest.raises(GitError), refs.RefLock(repo, "refs/heads/env/dev", timeout=0.1):
        pass


# --- signatures and names ------------------------------------------------------------------

@pytest.fixture
def unconfigured(tmp_path: Path) -> Iterator[pygit2.Repository]:
    """A repository that sees no user.name or user.email: no global, XDG or system git
    configuration (the machine's own would leak into the test)."""
    empty = tmp_path / "no-config"
    empty.mkdir()
    levels = (pygit2.enums.ConfigLevel.GLOBAL, pygit2.enums.ConfigLevel.XDG,
              pygit2.enums.ConfigLevel.SYSTEM)
    before = {level: pygit2.settings.search_path[level] for level in levels}
    try:
        for level in levels:
            pygit2.settings.search_path[level] = str(empty)
        yield pygit2.init_repository(str(tmp_path / "unconfigured"), bare=True)
    finally:
        for level, path in before.items():
            pygit2.settings.search_path[level] = path


def test_a_signature_comes_from_the_override_the_environment_or_the_repository(
        unconfigured: pygit2.Repository) -> None:
    repo = unconfigured
    given = refs.signature(repo, NOW, "author", "Pat Doe <pat@example.com>")
    assert (given.name, given.email, given.time, given.offset) == (
        "Pat Doe", "pat@example.com", 1_796_025_600, 60)
    env = refs.signature(repo, {**NOW, "GIT_COMMITTER_NAME": "CI",
                                "GIT_COMMITTER_EMAIL": "ci@example.com",
                                "GIT_AUTHOR_NAME": "not me"}, "committer")
    assert (env.name, env.email) == ("CI", "ci@example.com")
    assert (refs.signature(repo, NOW, "author").name,
            refs.signature(repo, NOW, "author").email) == ("hydrate", "hydrate@localhost")
    repo.config["user.name"] = "Repo User"
    repo.config["user.email"] = "repo@example.com"
    mixed = refs.signature(repo, {**NOW, "GIT_AUTHOR_EMAIL": "env@example.com"}, "author")
    assert (mixed.name, mixed.email) == ("Repo User", "env@example.com")


@pytest.mark.parametrize("bad", ["Pat Doe", "<pat@example.com>", "Pat <a> <b>", ""])
def test_an_override_that_is_not_name_and_email_is_refused(unconfigured: pygit2.Repository,
                                                           bad: str) -> None:
    repo = unconfigured
    if not bad:  # empty: no override at all
        assert refs.signature(repo, NOW, "author", bad).name == "hydrate"
        return
    with pytest.raises(GitError) as caught:
        refs.signature(repo, NOW, "author", bad)
    assert str(caught.value) == f'--author {bad!r}: expected "Name <email>"'


@pytest.mark.parametrize(("name", "problem"), [
    ("env/dev", None),
    ("release-1.2", None),
    ("-x", "a branch name may not start with '-' (git would read it as an option)"),
    ("HEAD", "HEAD is not a branch name git can tell from its other refs"),
    ("@", "@ is not a branch name git can tell from its other refs"),
    ("refs/heads/x", "refs/heads/x is not a branch name git can tell from its other refs"),
    ("env..dev", "not a valid branch name"),
    ("env/dev.lock", "not a valid branch name"),
    ("env dev", "not a valid branch name"),
])
def test_branch_names_git_would_refuse(name: str, problem: str | None) -> None:
    found = refs.branch_name_problem(name)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)
