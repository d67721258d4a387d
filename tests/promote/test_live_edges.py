"""What is live, from mutation testing (scripts/mutate): the last run of a source found
while a rollout of the next one is under way, a rollout with no step yet, and making a
source live on a remote (pushed only when asked, GitOps Promoter's note with it)."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from pipeline.promote import live, notes
from pipeline.sinks import hydrator, ledger
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote
from tests.envbranch import at, bare, commit, make_ledger, sig

A, B = "a" * 40, "b" * 40
REF = "refs/heads/env/dev"
WHO = sig("2026-11-30T00:00:00Z")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return bare(tmp_path)


def timeline(repo: pygit2.Repository) -> live.Timeline:
    head = repo[repo.references[REF].target].peel(pygit2.Commit)
    return live.Timeline(repo, head, "dev", notes.local(repo))


def test_the_last_run_of_a_source_is_found_behind_a_rollout_under_way(
        repo: pygit2.Repository) -> None:
    """A was live; B's canary wave is all the head has (mixed, pending): nothing is live
    now, and A's run ended where the rollout began."""
    first = commit(repo, REF, make_ledger("dev", {"s1": A, "s2": A}), "2026-11-30T08:00:00Z")
    step = ledger.Step("canary", ("s1",), at("2026-11-30T09:00:00Z"))
    commit(repo, REF, make_ledger("dev", {"s1": B, "s2": A}, rollout=ledger.Rollout(
        B, "staging", (step,), 2, True)), "2026-11-30T09:00:00Z", [first.id])
    line = timeline(repo)
    assert line.current() is None
    assert line.last_run(A) == live.Run(A, at("2026-11-30T08:00:00Z"),
                                        at("2026-11-30T09:00:00Z"), (-1, -1), (0, -1), first)
    assert line.last_run(B) is None


def test_a_rollout_with_no_step_yet_has_no_landing(repo: pygit2.Repository) -> None:
    commit(repo, REF, make_ledger("dev", {"s1": A}, rollout=ledger.Rollout(
        B, "staging", (), 2, True)), "2026-11-30T08:00:00Z")
    assert timeline(repo).latest_landing("canary") is None
    assert timeline(repo).landing(0) is None


@pytest.fixture
def remote(tmp_path: Path, repo: pygit2.Repository) -> tuple[Remote, pygit2.Repository]:
    there = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    return Remote(repo, there.path, Credentials(), {"PATH": "/usr/bin:/bin"}), there


def _on(repo: pygit2.Repository, ref: str, oid: pygit2.Oid) -> str | None:
    try:
        return repo.lookup_note(str(oid), ref).message
    except KeyError:
        return None


def test_making_a_source_live_with_a_remote_pushes_only_when_asked(
        repo: pygit2.Repository, remote: tuple[Remote, pygit2.Repository]) -> None:
    where, there = remote
    head = commit(repo, REF, make_ledger("dev", {"s1": A}), "2026-11-30T08:00:00Z")
    now = at("2026-11-30T12:00:00Z")
    assert live.make_live(repo, "dev", head, B, notes.local(repo), now, WHO, where)
    assert [(r.kind, r.source) for r in notes.local(repo).records(head.id)] == [("live", B)]
    assert _on(there, notes.REF, head.id) is None  # not pushed: the remote has nothing
    assert _on(there, hydrator.NOTES_REF, head.id) is None
    assert B in (_on(repo, hydrator.NOTES_REF, head.id) or "")


def test_making_a_source_live_pushed_puts_both_notes_on_the_remote(
        repo: pygit2.Repository, remote: tuple[Remote, pygit2.Repository]) -> None:
    where, there = remote
    head = commit(repo, REF, make_ledger("dev", {"s1": A}), "2026-11-30T08:00:00Z")
    now = at("2026-11-30T12:00:00Z")
    assert live.make_live(repo, "dev", head, B, notes.local(repo), now, WHO, where, push=True)
    assert notes.Record.parse((_on(there, notes.REF, head.id) or "").strip()) == \
        notes.Record("live", "dev", B, "2026-11-30T12:00:00Z")
    assert _on(there, hydrator.NOTES_REF, head.id) == hydrator.note(B).decode()


def test_a_hold_commit_is_no_point_of_the_timeline(repo: pygit2.Repository) -> None:
    """A hold (or its release) copies its parent's ledger and changes no manifest: the run
    live before it goes on through it, from its own first commit."""
    first = commit(repo, REF, make_ledger("dev", {"s1": A}), "2026-11-30T08:00:00Z")
    commit(repo, REF, make_ledger("dev", {"s1": A}, kind="hold",
                                  holds={B: ledger.Hold(B, "broke the tills")}),
           "2026-11-30T09:00:00Z", [first.id])
    assert timeline(repo).current() == live.Run(A, at("2026-11-30T08:00:00Z"), None, (-1, -1),
                                                None, first)
