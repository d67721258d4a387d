"""What is live where: the source each environment branch carries, since when, and the
state of a rollout in waves.

A branch commit carries, per cluster, the source it was rendered from
(`.hydrate/metadata.json`); a source is live on an environment when every cluster
carries it. A publish that changed nothing records its source as live with a note on
the head (`notes.Record(kind="live")`), so it becomes live from that note's time. The
time a source became live is the committer time of the oldest commit of the unbroken
run of first-parent commits (from the head back) on which it is live: never the author
time, and never inherited from an earlier source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import pygit2

from pipeline.clock import commit_time
from pipeline.promote import notes
from pipeline.sinks import ledger

HISTORY_LIMIT = 10_000  # first-parent commits walked to find when a source became live


@dataclass(frozen=True)
class Live:
    """The source live on every cluster of an environment (None: none, or a rollout
    still under way), since when, and on which branch commit it became live."""

    source: str | None
    since: dt.datetime | None
    commit: pygit2.Commit | None
    clusters: Mapping[str, str] = field(default_factory=dict)  # cluster → its source
    rollout: ledger.Rollout | None = None
    holds: Mapping[str, str] = field(default_factory=dict)


def cluster_sources(repo: pygit2.Repository, commit: pygit2.Commit) -> dict[str, str]:
    """Each cluster's source on `commit` (the branch's source for older metadata)."""
    led = ledger.read(repo, commit)
    return led.sources() if led is not None else {}


def _on(repo: pygit2.Repository, commit: pygit2.Commit,
        env: str) -> tuple[str | None, dt.datetime]:
    """The source live on `commit`, and from when on that commit."""
    marked = [r for r in notes.records(repo, commit.id) if r.kind == "live" and r.env == env]
    if marked:
        latest = max(marked, key=lambda r: r.when)
        return latest.source, latest.when
    sources = set(cluster_sources(repo, commit).values())
    return (sources.pop() if len(sources) == 1 else None), commit_time(commit)


def first_parents(head: pygit2.Commit | None) -> Iterator[pygit2.Commit]:
    commit = head
    for _ in range(HISTORY_LIMIT):
        if commit is None:
            return
        yield commit
        commit = commit.parents[0] if commit.parents else None


def live(repo: pygit2.Repository, head: pygit2.Commit | None, env: str) -> Live:
    """What is live on the branch whose head is `head`."""
    if head is None:
        return Live(None, None, None)
    led = ledger.read(repo, head)
    source, since = _on(repo, head, env)
    first = head
    if source is not None:
        for commit in first_parents(head.parents[0] if head.parents else None):
            earlier, when = _on(repo, commit, env)
            if earlier != source:
                break
            since, first = when, commit
    return Live(source, since if source is not None else None, first,
                cluster_sources(repo, head), led.rollout if led else None,
                {s: h.reason for s, h in (led.holds if led else {}).items()})


def was_live(repo: pygit2.Repository, head: pygit2.Commit | None, env: str,
             source: str) -> Live | None:
    """When `source` was (last) live on the branch, if it ever was: the run of commits
    carrying it that is nearest the head."""
    found: Live | None = None
    for commit in first_parents(head):
        carried, when = _on(repo, commit, env)
        if carried == source:
            found = Live(source, when, commit)
        elif found is not None:
            break
    return found


def checks(repo: pygit2.Repository, head: pygit2.Commit | None, env: str, source: str,
           wave: str = "") -> list[notes.Record]:
    """Every check recorded for `source` on `env` (and `wave`, if given), oldest first."""
    found: list[notes.Record] = []
    for commit in first_parents(head):
        found.extend(r for r in notes.records(repo, commit.id)
                     if r.kind == "check" and r.env == env and r.source == source
                     and (not wave or r.wave == wave))
    return sorted(found, key=lambda r: r.when)
