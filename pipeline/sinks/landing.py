"""Landing: putting a built commit on a branch, the one way publish, promote and rollback
(and whatever else builds commits for a branch) do it.

The commit is built by the caller, on the head it read; how its trees were made is none
of this module's business. A landing is compare-and-swap on that head: a local branch is
moved under a lock only if it is still there, a remote's only by a push that is not
forced (the remote checks the old value and runs its hooks). A lost race is not an error:
the caller reads the new head, builds again and tries again, under one retry policy with
a jittered back-off. A remote that refuses for another reason (a hook, a protected branch)
stops the landing with the remote's own words.

Every commit that lands gets the note GitOps Promoter reads (`hydrator.mark`: the source
its ledger records, under `refs/notes/hydrator.metadata`), pushed right after the branch
when the branch was pushed, else kept with the local branch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import pygit2

from pipeline.errors import GitError
from pipeline.sinks import hydrator, ledger, refs
from pipeline.sinks.remote import Remote
from pipeline.words import counted

T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """How often a landing that lost a race is tried, and how long to wait between tries."""

    attempts: int = 6
    base: float = 0.1  # seconds before the second try, doubling each time
    cap: float = 2.0

    def pause(self, attempt: int, sleep: Callable[[float], None]) -> None:
        sleep(min(self.cap, self.base * 2 ** attempt) * (0.5 + random.random()))


RETRY = Retry()


@dataclass(frozen=True)
class Destination:
    """Where a commit lands: `branch`, locally, or on `remote` (pushed with `push`;
    without it the local branch follows the remote's head). `replace`: a branch hydrate
    rebuilds from scratch each time and nothing builds on (a promotion's `<branch>-next`);
    never an environment branch."""

    branch: str
    remote: Remote | None = None
    push: bool = False
    replace: bool = False

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    def head(self, repo: pygit2.Repository) -> pygit2.Commit | None:
        """The head a build goes on: the remote's (fetched now) or the local branch's."""
        if self.remote is not None:
            return self.remote.fetch(self.branch)
        found = repo.references.get(self.ref)
        return repo[found.target].peel(pygit2.Commit) if found is not None else None


@dataclass(frozen=True)
class Landed:
    commit: str
    pushed: bool = False
    said: tuple[str, ...] = ()  # what the remote said when it took the push (its hooks)


def land(repo: pygit2.Repository, commit: pygit2.Oid, dest: Destination,
         expected: pygit2.Oid | None, log: str, dry: str | None = None) -> Landed | None:
    """Put `commit` on `dest` if the branch is still at `expected` (None: absent). None if
    it moved meanwhile (read it again, rebuild, retry); `PushRefused` if the remote refused
    for another reason. A landed commit gets its note for GitOps Promoter (`_mark`), naming
    `dry` (default: the source its ledger records)."""
    landed = _land(repo, commit, dest, expected, log)
    if landed is not None:
        _mark(repo, commit, dest, dry)
    return landed


def _land(repo: pygit2.Repository, commit: pygit2.Oid, dest: Destination,
          expected: pygit2.Oid | None, log: str) -> Landed | None:
    if dest.remote is not None and dest.push:
        said: list[str] = []
        if dest.replace:
            dest.remote.push_ref(commit, dest.ref, said.append, force=True)
            return Landed(str(commit), True, tuple(said))
        if dest.remote.push(commit, dest.branch, said.append):
            return Landed(str(commit), True, tuple(said))
        return None
    if dest.remote is not None or dest.replace:
        # Not pushed: the local branch follows the remote's head (or is rebuilt).
        repo.create_reference_direct(dest.ref, commit, True, message=log)
        return Landed(str(commit))
    if refs.update_ref(repo, dest.ref, commit, expected, log):
        return Landed(str(commit))
    return None


def _mark(repo: pygit2.Repository, commit: pygit2.Oid, dest: Destination,
          dry: str | None) -> None:
    """The note GitOps Promoter reads on a landed commit: `dry`, else the source its ledger
    records (as its root `hydrator.metadata` does), signed as the commit is."""
    built = repo[commit].peel(pygit2.Commit)
    found = ledger.read(repo, built)
    dry = dry or (found.source.commit if found is not None else None)
    if dry is None or not hydrator.is_dry_sha(dry):
        return
    try:
        hydrator.mark(repo, commit, dry, built.committer, dest.remote, dest.push)
    except GitError as e:
        body = hydrator.note(dry).decode().strip()
        raise GitError(f"{dest.branch}: {str(commit)[:7]} landed, but its note for GitOps "
                       f"Promoter ({hydrator.NOTES_REF}) was not written: {e}; add it with "
                       f"git notes --ref={hydrator.NOTES_REF} add -f -m '{body}' {commit} "
                       f"(and push {hydrator.NOTES_REF})") from e


def retrying(attempt: Callable[[int], T | None], branch: str, writers: str, command: str,
             policy: Retry = RETRY, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `attempt(n)` until it gives a result (None: it lost a race), backing off between
    tries; GitError after the last."""
    for n in range(1, policy.attempts + 1):
        found = attempt(n)
        if found is not None:
            return found
        if n < policy.attempts:
            policy.pause(n, sleep)
    raise GitError(f"{branch}: gave up after {counted(policy.attempts, 'attempt')}: other {writers} "
                   f"kept moving the branch; run the {command} again")
