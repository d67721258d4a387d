"""What is live where, and since when: the timeline of an environment branch.

A branch commit records, per cluster, the source it was rendered from (its ledger); the
source is live on the environment from that commit when every cluster carries it and no
rollout of it is pending (the first waves of a rollout may be all the branch has yet). A
publish that changed nothing records its source as live with a note on the head
(`notes.Record(kind="live")`), from that note's time. So the timeline of a branch is its
first-parent commits, oldest first, each followed by the live records on it in the order
they were written (never sorted by the writers' clocks); a commit that only records a hold
or its release is no point of its own (it copies its parent's ledger, which may name a
source older than one a note made live). A *run* is a stretch of that
timeline on which one source is live without interruption: it starts at the committer
time of its first commit (never the author time) or the time of its first note, and it
ends where another source, a mixed rollout or a rollback takes over. A check counts for a
run only if it was recorded on one of the run's commits, after the run began (later in
the timeline, and not earlier by its own clock) and before it ended.

A wave of a rollout lands when the commit carrying it reaches the branch: the oldest
commit of the unbroken first-parent stretch whose ledger has that step. In pull-request
mode that is the merge, not the `-next` commit hydrate built.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pygit2

from pipeline.clock import commit_time
from pipeline.promote import notes
from pipeline.sinks import hydrator, ledger
from pipeline.sinks.remote import Remote

HISTORY_LIMIT = 10_000  # first-parent commits walked to find when a source became live

Position = tuple[int, int]  # (commit: 0 is the head, -1 its parent…, line in its note or -1)


@dataclass(frozen=True)
class Mark:
    """One point of the timeline: a commit (`line` -1) or a live record in its note."""

    commit: pygit2.Commit
    source: str | None  # live on every cluster from here (None: mixed, or not hydrate's)
    when: dt.datetime
    at: Position


@dataclass(frozen=True)
class Run:
    """A stretch of the timeline on which `source` is live without interruption."""

    source: str
    since: dt.datetime
    until: dt.datetime | None  # when another took over (None: still live)
    start: Position
    end: Position | None  # the mark that ended it (None: still live)
    first: pygit2.Commit  # the commit it began on

    def counts(self, at: Position, record: notes.Record) -> bool:
        """Whether a record written at `at` falls inside the run: written after it began and
        before it ended. A success must also be stamped inside it (a clock that says it was
        recorded before the source landed opens nothing); a failure counts however it is
        stamped."""
        inside = self.start <= at and (self.end is None or at < self.end)
        if not inside or record.state != "success":
            return inside
        return record.when >= self.since and (self.until is None or record.when <= self.until)


@dataclass(frozen=True)
class Landing:
    """When a wave of a rollout reached the branch."""

    wave: str
    since: dt.datetime
    start: Position
    commit: pygit2.Commit


class Timeline:
    """The timeline of environment `env`'s branch whose head is `head`, read lazily from
    the head back. `evidence`: the notes it reads (local, or a remote's)."""

    def __init__(self, repo: pygit2.Repository, head: pygit2.Commit | None, env: str,
                 evidence: notes.Evidence) -> None:
        self.repo, self.head, self.env, self.evidence = repo, head, env, evidence
        self.ledger = ledger.read(repo, head)
        self._commits: list[tuple[pygit2.Commit, ledger.Ledger | None]] = []
        self._marks: list[Mark] = []  # newest first
        self._walk = self._newest_first()

    # -- walking --------------------------------------------------------------------

    def _chain(self) -> Iterator[tuple[int, pygit2.Commit, ledger.Ledger | None]]:
        commit = self.head
        for i in range(HISTORY_LIMIT):
            if commit is None:
                return
            if i == len(self._commits):
                self._commits.append((commit, ledger.read(self.repo, commit)))
            yield -i, commit, self._commits[i][1]
            commit = commit.parents[0] if commit.parents else None

    def _newest_first(self) -> Iterator[Mark]:
        for position, commit, led in self._chain():
            for line in reversed(self.evidence.lines(commit.id)):
                r = line.record
                if r.kind == "live" and r.env == self.env:
                    yield Mark(commit, r.source, r.when, (position, line.index))
            if led is not None and led.kind in ledger.LEDGER_ONLY:
                continue  # a hold changes no manifest: what was live stays live, since then
            sources = set(led.sources().values()) if led is not None else set()
            source = sources.pop() if len(sources) == 1 else None
            rollout = led.rollout if led is not None else None
            if rollout is not None and rollout.pending and rollout.source == source:
                source = None  # the first waves are all the branch has: not live on all yet
            yield Mark(commit, source, commit_time(commit), (position, -1))

    def marks(self) -> Iterator[Mark]:
        """The timeline, newest first."""
        yield from self._marks
        for mark in self._walk:
            self._marks.append(mark)
            yield mark

    def commits(self) -> Iterator[tuple[int, pygit2.Commit, ledger.Ledger | None]]:
        """The first-parent commits, newest first, with their ledgers."""
        yield from self._chain()

    # -- runs -----------------------------------------------------------------------

    def current(self) -> Run | None:
        """The run live now (None: nothing published, or a rollout under way)."""
        return self._run(None)

    def last_run(self, source: str) -> Run | None:
        """The newest run of `source` (None: it was never live here)."""
        return self._run(source)

    def _run(self, wanted: str | None) -> Run | None:
        """The newest run of `wanted`, or (None) the run the timeline ends with."""
        newer: Mark | None = None  # the mark that ended the run
        first: Mark | None = None  # the oldest mark of the run so far
        for mark in self.marks():
            if first is None:
                if wanted is None and mark.source is None:
                    return None
                if wanted is not None and mark.source != wanted:
                    newer = mark
                    continue
            elif mark.source != first.source:
                break
            first = mark
        if first is None or first.source is None:
            return None
        return Run(first.source, first.when, newer.when if newer else None, first.at,
                   newer.at if newer else None, first.commit)

    def carried(self) -> dict[str, str]:
        """Each cluster's source on the head; when the run live now began at a note (a
        publish that changed nothing), every cluster on the branch carries its source."""
        sources = self.ledger.sources() if self.ledger is not None else {}
        run = self.current()
        if run is not None and run.start[1] >= 0:
            return {name: run.source for name in sources}
        return sources

    def checks(self, run: Run, wave: str | None = None) -> list[notes.Record]:
        """The check records for the run's source recorded inside the run (for `wave`, if
        given), in the order they were written."""
        return self._checks(run.source, run.counts, wave, run.start[0])

    def _checks(self, source: str, inside: Callable[[Position, notes.Record], bool],
                wave: str | None, oldest: int) -> list[notes.Record]:
        found: list[tuple[Position, notes.Record]] = []
        for position, commit, _ in self._chain():
            if position < oldest:
                break
            for line in self.evidence.lines(commit.id):
                r = line.record
                if (r.kind == "check" and r.env == self.env and r.source == source
                        and (wave is None or r.wave == wave)
                        and inside((position, line.index), r)):
                    found.append(((position, line.index), r))
        return [r for _, r in sorted(found, key=lambda item: item[0])]

    # -- rollouts -------------------------------------------------------------------

    def landing(self, index: int) -> Landing | None:
        """When step `index` of the head's rollout reached the branch."""
        rollout = self.ledger.rollout if self.ledger is not None else None
        if rollout is None or index >= len(rollout.steps):
            return None
        step = rollout.steps[index]
        found: tuple[int, pygit2.Commit] | None = None
        for position, commit, led in self._chain():
            there = led.rollout if led is not None else None
            if (there is None or there.source != rollout.source or len(there.steps) <= index
                    or there.steps[index] != step):
                break
            found = (position, commit)
        if found is None:
            return None
        return Landing(step.wave, commit_time(found[1]), (found[0], -1), found[1])

    def wave_checks(self, landed: Landing, source: str, wave: str) -> list[notes.Record]:
        """Checks for `wave` of `source` recorded since it landed."""
        return self._checks(source, lambda at, r: at >= landed.start and (
            r.state != "success" or r.when >= landed.since), wave, landed.start[0])

    def latest_landing(self, wave: str) -> Landing | None:
        """When the newest step of the head's rollout that took `wave` landed."""
        rollout = self.ledger.rollout if self.ledger is not None else None
        if rollout is None:
            return None
        for index in range(len(rollout.steps) - 1, -1, -1):
            if rollout.steps[index].wave == wave:
                return self.landing(index)
        return None


def first_parents(head: pygit2.Commit | None) -> Iterator[pygit2.Commit]:
    commit = head
    for _ in range(HISTORY_LIMIT):
        if commit is None:
            return
        yield commit
        commit = commit.parents[0] if commit.parents else None


def cluster_sources(repo: pygit2.Repository, commit: pygit2.Commit) -> dict[str, str]:
    """Each cluster's source on `commit` (the branch's source for older metadata)."""
    led = ledger.read(repo, commit)
    return led.sources() if led is not None else {}


def make_live(repo: pygit2.Repository, env: str, head: pygit2.Commit, source: str,
              evidence: notes.Evidence, now: dt.datetime, who: pygit2.Signature,
              remote: Remote | None = None, push: bool = False) -> bool:
    """A publish or promotion that changed nothing still makes `source` live on `env`, from
    now: a live record on the head (on the remote's notes with `push`, else locally), and
    the head's note for GitOps Promoter names it (`hydrator.mark`: Promoter would wait
    for a new head forever). False if it already was live there."""
    run = Timeline(repo, head, env, evidence).current()
    made = run is None or run.source != source
    if made:
        record = notes.Record("live", env, source, notes.stamp(now))
        if remote is not None and push:
            notes.publish(repo, remote, head.id, [record], who)
        else:
            notes.add(repo, head.id, [record], who)
    hydrator.mark(repo, head.id, source, who, remote, push)
    return made
