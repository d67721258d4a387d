"""What a promotion step writes into the branch's ledger and its commit's trailers: where
it came from, the wave, each gate with its verdict and evidence, a bypass and its reason,
the rollout so far, and the holds a forced landing lifts (a forced landing is the person's
word that the source is fine: it lifts every hold on it, wherever it was put)."""

from __future__ import annotations

import datetime as dt

from pipeline.config.model import Environment
from pipeline.promote import waves
from pipeline.promote.attempt import Decision
from pipeline.sinks import branch, ledger


def released(held: tuple[ledger.HeldOn, ...], reason: str) -> list[tuple[str, str]]:
    """One trailer per hold lifted: `<source> on <env>: <reason>`."""
    return [(ledger.RELEASED, f"{h.hold.source} on {h.env}: {reason}") for h in held]


def step(decision: Decision, target: Environment, origin: Environment, now: dt.datetime,
         before: ledger.Ledger | None, force: bool, reason: str | None,
         run_url: str | None) -> branch.Step:
    """The record of promoting `decision` to `target` (`before`: the branch head's ledger)."""
    p = target.promotion
    assert p is not None
    nxt = decision.step
    trailers: list[tuple[str, str]] = []
    if nxt.gated_by is None:
        trailers.append((ledger.PROMOTED_FROM, f"{origin.name} {decision.carrier or '-'}"))
    if nxt.wave is not None:
        trailers.append((ledger.WAVE, f"{nxt.wave.name} ({nxt.index + 1} of {len(p.waves)})"))
    trailers += [(ledger.GATE, f"{g.name} {'passed' if g.passed else 'bypassed'} {g.evidence}")
                 for g in decision.gates]
    why = " ".join((reason or "").split())
    if force:
        trailers.append((ledger.BYPASS_REASON, why))
    holds: dict[str, ledger.Hold] | None = None
    lifted: tuple[ledger.Release, ...] | None = None
    if force and decision.held:
        holds, lifted = ledger.lifting(target.name, before, decision.held, why)
        trailers += released(decision.held, why)
    if run_url:
        trailers.append((ledger.RUN, run_url))
    rollout: ledger.Rollout | None = None
    if p.waves and nxt.wave is not None:
        steps = (*(decision.done or ()), ledger.Step(nxt.wave.name, nxt.clusters, now))
        left = waves.pending_after(decision.members, decision.carried, decision.source,
                                   nxt.clusters)
        rollout = ledger.Rollout(decision.source, origin.name, steps, len(p.waves), bool(left))
    wave_words = (f", wave {nxt.wave.name} ({nxt.index + 1} of {len(p.waves)})"
                  if nxt.wave is not None else "")
    return branch.Step("forced" if force else "promote",
                       f"Promotion of {decision.source[:12]} from {origin.name} to "
                       f"{target.name}{wave_words}", tuple(trailers), rollout, holds, lifted)
