"""One try at a promotion: what it would promote, which step of a rollout that is, and
every gate with its evidence.

An `Attempt` holds what a try decides on, read once: the repository, the configuration
whose gates apply (`--main`), the target and the environment it promotes from, every
environment's branch head (a hold anywhere is a hold everywhere), the evidence (local
notes, or the remote's alone with `--remote`) and the clock. `decide` turns it into a
`Decision` or a reason there is nothing to promote. Which clusters an environment has is
read from the source being promoted (it is rendered from there); its waves, gates,
windows and freezes from the configuration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pygit2

from pipeline import clock
from pipeline.config.model import Cluster, Environment, Inventory, Promotion
from pipeline.errors import GitError, PipelineError
from pipeline.promote import gates, live, notes, waves
from pipeline.sinks import branch, ledger
from pipeline.words import counted


@dataclass(frozen=True)
class Attempt:
    repo: pygit2.Repository
    config: Inventory  # at --main: environments, promotion blocks, waves
    target: Environment
    origin: Environment
    heads: Mapping[str, pygit2.Commit | None]  # every environment's branch head, read now
    evidence: notes.Evidence
    now: dt.datetime
    inventory_at: Callable[[str], Inventory]  # the configuration of a source commit
    wanted: str | None = None  # --source
    _timelines: dict[str, live.Timeline] = field(default_factory=dict, compare=False)

    @property
    def promotion(self) -> Promotion:
        assert self.target.promotion is not None
        return self.target.promotion

    def timeline(self, env: str) -> live.Timeline:
        if env not in self._timelines:
            self._timelines[env] = live.Timeline(self.repo, self.heads.get(env), env,
                                                 self.evidence)
        return self._timelines[env]

    def members(self, env: str, source: str) -> list[Cluster]:
        """The clusters of `env` in `source`'s configuration."""
        return sorted((c for c in self.inventory_at(source).clusters.values()
                       if c.environment == env), key=lambda c: c.name)

    def holds(self, source: str) -> tuple[ledger.HeldOn, ...]:
        """The holds in force on `source`, on any environment."""
        ledgers = {env: self.timeline(env).ledger for env in self.heads}
        return ledger.holds_in_force(ledgers).get(source, ())


@dataclass(frozen=True)
class Decision:
    source: str
    step: waves.Next
    gates: tuple[gates.Gate, ...]
    carrier: str | None  # the `from` commit the source became live on (first steps)
    held: tuple[ledger.HeldOn, ...]  # holds in force on the source
    done: tuple[ledger.Step, ...] | None  # the rollout's steps so far (None: a new one)
    members: tuple[str, ...]  # the target's clusters, in the source's configuration
    carried: Mapping[str, str] = field(default_factory=dict)  # the target's cluster sources

    @property
    def blocked(self) -> bool:
        return any(not g.passed for g in self.gates)


def decide(a: Attempt) -> Decision | str:
    """What this try promotes and behind which gates; a string: nothing to promote."""
    p = a.promotion
    target = a.timeline(a.target.name)
    rollout = target.ledger.rollout if target.ledger is not None else None
    sources = target.carried()
    if p.waves and rollout is not None and a.wanted in (None, rollout.source):
        members = a.members(a.target.name, rollout.source)
        step = waves.next_step(p.waves, members, sources, rollout.source, rollout.steps)
        if step is not None:
            return _decision(a, rollout.source, step, rollout.steps, members)
    if a.wanted is not None:
        source = a.wanted
        if _origin(a).last_run(source) is None:
            raise PipelineError(f"--source {source[:12]} was never live on {a.origin.name} "
                                f"({a.origin.branch}): only a source live on every cluster of "
                                f"{a.origin.name} can be promoted to {a.target.name}")
    else:
        live_now, why = _live_on_origin(a)
        if live_now is None:
            return why
        source = live_now
    members = a.members(a.target.name, source)
    if not waves.lacking((c.name for c in members), sources, source):
        return f"nothing to promote: {source[:12]} is already live on {a.target.name}"
    done = rollout.steps if rollout is not None and rollout.source == source else None
    step = waves.next_step(p.waves, members, sources, source, done)
    assert step is not None
    return _decision(a, source, step, done, members)


def _origin(a: Attempt) -> live.Timeline:
    """The timeline of `from`, whose head must be one hydrate wrote for it."""
    origin = a.timeline(a.origin.name)
    problem = branch.foreign(a.repo, origin.head, a.origin.name) if origin.head else None
    if problem is not None:
        raise GitError(f"environment {a.origin.name}: branch {a.origin.branch} is not a "
                       f"hydrate environment branch ({problem}): nothing can be promoted "
                       "from it")
    return origin


def _live_on_origin(a: Attempt) -> tuple[str | None, str]:
    """The source live on every cluster of `from` (None, and why there is none)."""
    origin = _origin(a)
    run = origin.current()
    if run is None:
        state = ("nothing published yet" if origin.head is None
                 else "no source is live on all of its clusters (a rollout under way?)")
        return None, f"nothing to promote: {a.origin.name}: {state}"
    carried = origin.carried()
    missing = sorted(waves.lacking((c.name for c in a.members(a.origin.name, run.source)),
                                   carried, run.source))
    if missing:
        return None, (f"nothing to promote: {a.origin.name}: {counted(len(missing), 'cluster')}"
                      f" of its configuration lack {run.source[:7]} ({', '.join(missing[:10])})"
                      ": its rollout is not done")
    return run.source, ""


def _decision(a: Attempt, source: str, step: waves.Next, done: tuple[ledger.Step, ...] | None,
              members: list[Cluster]) -> Decision:
    p = a.promotion
    held = a.holds(source)
    carrier: str | None = None
    if step.gated_by is None:
        origin = a.timeline(a.origin.name)
        run = origin.last_run(source)
        carrier = str(run.first.id) if run is not None else None
        facts = _facts(a, source, a.origin.name, p.soak, p.requires,
                       run.since if run else None, run.until if run else None,
                       origin.checks(run) if run is not None else [],
                       f"hydrate verify --env {a.origin.name}", held)
    else:
        wave = step.gated_by
        target = a.timeline(a.target.name)
        landed = target.latest_landing(wave.name)
        facts = _facts(a, source, f"{a.target.name} wave {wave.name}", wave.soak,
                       wave.requires, landed.since if landed else None, None,
                       target.wave_checks(landed, source, wave.name) if landed else [],
                       f"hydrate verify --env {a.target.name} --wave {wave.name}", held)
    return Decision(source, step, gates.judge(facts), carrier, held, done,
                    tuple(c.name for c in members), a.timeline(a.target.name).carried())


def _facts(a: Attempt, source: str, where: str, soak: str | None, requires: tuple[str, ...],
           since: dt.datetime | None, until: dt.datetime | None, checks: list[notes.Record],
           record_with: str, held: tuple[ledger.HeldOn, ...]) -> gates.Facts:
    p = a.promotion
    return gates.Facts(source, where, clock.seconds(soak) if soak else 0, since, until,
                       requires, tuple(_check(r) for r in checks), record_with, a.now,
                       p.windows, p.freezes, tuple((h.env, h.hold.reason) for h in held))


def _check(record: notes.Record) -> gates.CheckRecord:
    return gates.CheckRecord(record.check, record.state, record.when, record.url,
                             record.description)
