"""Refs, from mutation testing (scripts/mutate): the repository's own identity for both
name and email, the whole message for a branch name git refuses, and the lock's edges
(a minute's age makes it stale; a holder whose file was taken over still lets go)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pygit2
import pytest

from pipeline.errors import GitError
from pipeline.sinks import refs

NOW = {"HYDRATE_NOW": "2026-11-30T09:00:00+01:00"}


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r"), bare=True)


def test_without_the_environment_the_repositorys_name_and_email_sign(
        repo: pygit2.Repository) -> None:
    repo.config["user.name"] = "Repo User"
    repo.config["user.email"] = "repo@example.com"
    for who in ("author", "committer"):
        found = refs.signature(repo, NOW, who)
        assert (found.name, found.email) == ("Repo User", "repo@example.com")


def test_a_branch_name_git_refuses_is_explained_in_full() -> None:
    assert refs.branch_name_problem("env..dev") == (
        "not a valid branch name (no spaces, '..', '~', '^', ':', '?', '*', '[', '\\', "
        "'@{', no '/' at either end or twice, no '.lock' or '.' at the end of a part)")


def _aged(path: Path, seconds: float) -> None:
    path.write_text("")
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_lock_a_minute_old_is_stale_at_once_and_a_younger_one_is_not(
        repo: pygit2.Repository) -> None:
    """With no time to wait: a lock 60.5 s old is taken over; one 59 s old is someone's."""
    lock = Path(repo.path) / "hydrate-refs-heads-env-dev.lock"
    _aged(lock, 60.5)
    with refs.RefLock(repo, "refs/heads/env/dev", timeout=0.0):
        assert lock.is_file()
    assert not lock.exists()
    _aged(lock, 59)
    with pytest.raises(GitError, match="locked by another hydrate process"), \
            refs.RefLock(repo, "refs/heads/env/dev", timeout=0.0):
        pass
    assert lock.is_file()  # a live holder's lock is left alone


def test_a_holder_whose_lock_was_taken_over_lets_go_quietly(repo: pygit2.Repository) -> None:
    """A holder that outlived the minute finds its file gone (another process took the
    stale lock and released it): leaving is not an error."""
    lock = Path(repo.path) / "hydrate-refs-heads-env-dev.lock"
    with refs.RefLock(repo, "refs/heads/env/dev"):
        lock.unlink()
    assert not lock.exists()
