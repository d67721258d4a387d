"""Landing, from mutation testing (scripts/mutate): the back-off's doubling and jitter,
where a build's head is read, each kind of destination (pushed, pushed by force, not
pushed, rebuilt), what the remote said, the reflog, and the note for GitOps Promoter on
every landed commit, its push and the message when it cannot be written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pygit2
import pytest

from pipeline.errors import GitError
from pipeline.sinks import hydrator, landing
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote
from tests.envbranch import commit, make_ledger

DRY = "d" * 40
BRANCH = "env/dev"


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r"), bare=True)


@pytest.fixture
def clone(tmp_path: Path) -> pygit2.Repository:
    """A working clone, as hydrate runs in: it keeps reflogs (a bare repository does not)."""
    return pygit2.init_repository(str(tmp_path / "clone"))


@pytest.fixture
def bare(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)


def remote_of(repo: pygit2.Repository, bare: pygit2.Repository) -> Remote:
    return Remote(repo, bare.path, Credentials(), {"PATH": "/usr/bin:/bin"})


def hook(bare: pygit2.Repository, name: str, script: str) -> None:
    path = Path(bare.path) / "hooks" / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def built(repo: pygit2.Repository, when: str, parents: tuple[pygit2.Oid, ...] = (),
          dry: str = DRY) -> pygit2.Oid:
    """A branch commit whose ledger says it was built from `dry` (not on any ref)."""
    return commit(repo, None, make_ledger("dev", {"store-1": dry}), when, parents).id


def note_on(repo: pygit2.Repository, oid: pygit2.Oid) -> dict[str, str] | None:
    try:
        found = repo.lookup_note(str(oid), hydrator.NOTES_REF)
    except KeyError:
        return None
    return dict(json.loads(found.message))


# --- the back-off ---------------------------------------------------------------------

@pytest.mark.parametrize(("attempt", "wait"), [(1, 0.2), (3, 0.8), (10, 2.0)])
def test_a_retry_waits_a_doubling_time_jittered_by_half_either_way(attempt: int,
                                                                   wait: float) -> None:
    """base 0.1 s doubling (2 ** attempt), capped at 2 s, times a factor drawn from
    [0.5, 1.5): many draws stay in that band and spread over it."""
    slept: list[float] = []
    for _ in range(400):
        landing.Retry(6, 0.1, 2.0).pause(attempt, slept.append)
    assert all(0.5 * wait <= s < 1.5 * wait for s in slept), (min(slept), max(slept))
    assert min(slept) < 0.6 * wait
    assert max(slept) > 1.4 * wait


# --- where a build goes on --------------------------------------------------------------

def test_a_build_goes_on_the_local_branch_or_the_remotes(repo: pygit2.Repository,
                                                         bare: pygit2.Repository) -> None:
    local = landing.Destination(BRANCH)
    assert local.ref == "refs/heads/env/dev"
    assert local.head(repo) is None
    first = built(repo, "2026-11-30T08:00:00Z")
    repo.references.create(local.ref, first)
    head = local.head(repo)
    assert head is not None
    assert head.id == first
    remote = remote_of(repo, bare)
    on_remote = landing.Destination(BRANCH, remote)
    assert on_remote.head(repo) is None  # the remote has no such branch: not the local one
    theirs = built(bare, "2026-11-30T09:00:00Z")
    bare.references.create("refs/heads/env/dev", theirs)
    fetched = on_remote.head(repo)
    assert fetched is not None
    assert fetched.id == theirs


# --- kinds of landing -----------------------------------------------------------------------

def test_a_pushed_landing_says_what_the_remote_said_and_marks_the_commit_there(
        repo: pygit2.Repository, bare: pygit2.Repository) -> None:
    hook(bare, "post-receive", "echo 'argo: sync queued'\n")
    dest = landing.Destination(BRANCH, remote_of(repo, bare), push=True)
    first = built(repo, "2026-11-30T08:00:00Z")
    assert landing.land(repo, first, dest, None, "publish") == landing.Landed(
        str(first), True, ("argo: sync queued",))
    assert bare.references["refs/heads/env/dev"].target == first
    # The note went to the remote with the branch, and into the local notes.
    assert note_on(bare, first) == {"drySha": DRY}
    assert note_on(repo, first) == {"drySha": DRY}


def test_a_rebuilt_branch_is_pushed_by_force_and_says_what_the_remote_said(
        repo: pygit2.Repository, bare: pygit2.Repository) -> None:
    """`<branch>-next` is rebuilt from scratch each time: the push replaces whatever is
    there, and is a landing like any other."""
    hook(bare, "post-receive", "echo 'pull request updated'\n")
    remote = remote_of(repo, bare)
    old = built(bare, "2026-11-30T07:00:00Z", dry="e" * 40)
    bare.references.create("refs/heads/env/prod-next", old)
    dest = landing.Destination("env/prod-next", remote, push=True, replace=True)
    new = built(repo, "2026-11-30T08:00:00Z")  # not on top of `old`
    assert landing.land(repo, new, dest, None, "promote") == landing.Landed(
        str(new), True, ("pull request updated",))
    assert bare.references["refs/heads/env/prod-next"].target == new
    assert note_on(bare, new) == {"drySha": DRY}


def test_not_pushed_the_local_branch_follows_the_build_with_the_log_message(
        clone: pygit2.Repository, bare: pygit2.Repository) -> None:
    """With a remote but no push, the local branch is set to the build whatever it was (it
    follows the remote's head, which the build went on); the note stays local."""
    dest = landing.Destination(BRANCH, remote_of(clone, bare))
    stale = built(clone, "2026-11-30T07:00:00Z", dry="e" * 40)
    clone.references.create(dest.ref, stale)
    new = built(clone, "2026-11-30T08:00:00Z")
    assert landing.land(clone, new, dest, None, "hydrate: publish dev") == \
        landing.Landed(str(new))
    assert clone.references[dest.ref].target == new
    assert next(e.message for e in clone.references[dest.ref].log()) == "hydrate: publish dev"
    assert note_on(clone, new) == {"drySha": DRY}
    assert "refs/heads/env/dev" not in bare.references
    assert note_on(bare, new) is None


def test_a_local_rebuild_replaces_the_branch_whatever_it_holds(
        repo: pygit2.Repository) -> None:
    dest = landing.Destination("env/prod-next", replace=True)
    repo.references.create(dest.ref, built(repo, "2026-11-30T07:00:00Z", dry="e" * 40))
    new = built(repo, "2026-11-30T08:00:00Z")
    assert landing.land(repo, new, dest, None, "promote prod") == landing.Landed(str(new))
    assert repo.references[dest.ref].target == new


def test_a_compare_and_swap_landing_logs_its_message(clone: pygit2.Repository) -> None:
    dest = landing.Destination(BRANCH)
    first = built(clone, "2026-11-30T08:00:00Z")
    assert landing.land(clone, first, dest, None, "hydrate: publish a") == \
        landing.Landed(str(first))
    assert next(e.message for e in clone.references[dest.ref].log()) == "hydrate: publish a"


# --- the note for GitOps Promoter ----------------------------------------------------------

def test_every_landed_commit_is_marked_as_the_hydration_of_its_source(
        repo: pygit2.Repository) -> None:
    dest = landing.Destination(BRANCH)
    first = built(repo, "2026-11-30T08:00:00Z")
    assert landing.land(repo, first, dest, None, "publish") is not None
    assert note_on(repo, first) == {"drySha": DRY}
    # A lost race lands nothing and marks nothing.
    rival = built(repo, "2026-11-30T08:10:00Z", (first,), dry="f" * 40)
    assert landing.land(repo, rival, dest, None, "lost") is None
    assert note_on(repo, rival) is None


def test_a_commit_whose_source_is_no_full_commit_id_gets_no_note(
        repo: pygit2.Repository) -> None:
    """Promoter takes only a full commit id (an older ledger may hold a short one)."""
    short = built(repo, "2026-11-30T08:00:00Z", dry="abc1234")
    assert landing.land(repo, short, landing.Destination(BRANCH), None, "publish") is not None
    assert note_on(repo, short) is None


def test_a_note_the_remote_refuses_says_the_branch_landed_and_how_to_add_it(
        repo: pygit2.Repository, bare: pygit2.Repository) -> None:
    hook(bare, "update", 'case "$1" in refs/notes/*) echo "notes are read-only" >&2; '
                         "exit 1;; esac\nexit 0\n")
    dest = landing.Destination(BRANCH, remote_of(repo, bare), push=True)
    first = built(repo, "2026-11-30T08:00:00Z")
    with pytest.raises(GitError) as caught:
        landing.land(repo, first, dest, None, "publish")
    assert bare.references["refs/heads/env/dev"].target == first  # the branch landed
    message = str(caught.value)
    assert re.fullmatch(
        rf"env/dev: {str(first)[:7]} landed, but its note for GitOps Promoter "
        r"\(refs/notes/hydrator\.metadata\) was not written: .*notes are read-only.*; add it "
        r"with git notes --ref=refs/notes/hydrator\.metadata add -f -m "
        rf"'{{\"drySha\":\"{DRY}\"}}' {first} \(and push refs/notes/hydrator\.metadata\)",
        message), message


def test_the_note_names_the_source_given_rather_than_the_ledgers(
        repo: pygit2.Repository) -> None:
    """A commit that copies an older ledger (a hold) is marked with the source live now."""
    first = built(repo, "2026-11-30T08:00:00Z")
    live_now = "e" * 40
    assert landing.land(repo, first, landing.Destination(BRANCH), None, "hold",
                        dry=live_now) is not None
    assert note_on(repo, first) == {"drySha": live_now}
