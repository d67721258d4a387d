"""The next step of a rollout, recomputed from the configuration at every step."""

from __future__ import annotations

import datetime as dt

from pipeline.config.model import Cluster, Wave
from pipeline.promote import waves
from pipeline.sinks import ledger

S = "s" * 40
OLD = "o" * 40
T = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
CANARY, EARLY, REST = Wave("canary", clusters=("a",)), Wave("early", clusters=("b", "c")), \
    Wave("rest")


def clusters(*names: str) -> list[Cluster]:
    return [Cluster(n, f"fleet/clusters/{n}.yaml", "pop", "hh", "prod", {}, {}) for n in names]


def test_a_new_rollout_starts_with_the_first_wave() -> None:
    step = waves.next_step((CANARY, EARLY, REST), clusters("a", "b", "c", "d"), {}, S, None)
    assert step == waves.Next(0, CANARY, ("a",), None)


def test_a_cluster_moved_into_a_wave_that_ran_goes_with_the_next_step() -> None:
    """Canary ran with a; then d moved into canary: the next step (early) takes d too."""
    moved = (Wave("canary", clusters=("a", "d")), EARLY, REST)
    done = (ledger.Step("canary", ("a",), T),)
    sources = {"a": S, "b": OLD, "c": OLD, "d": OLD, "e": OLD}
    step = waves.next_step(moved, clusters("a", "b", "c", "d", "e"), sources, S, done)
    assert step == waves.Next(1, EARLY, ("b", "c", "d"), moved[0])


def test_when_every_wave_ran_the_stragglers_go_next_and_then_it_is_done() -> None:
    done = tuple(ledger.Step(w.name, (), T) for w in (CANARY, EARLY, REST))
    sources = {"a": S, "b": S, "c": S}
    # e is new to the environment; the last wave takes what is left, so e is rest's.
    step = waves.next_step((CANARY, EARLY, REST), clusters("a", "b", "c", "e"), sources, S, done)
    assert step == waves.Next(2, REST, ("e",), EARLY)
    assert waves.next_step((CANARY, EARLY, REST), clusters("a", "b", "c", "e"),
                           {**sources, "e": S}, S, done) is None


def test_without_waves_a_step_writes_every_cluster_unless_all_carry_it() -> None:
    assert waves.next_step((), clusters("a", "b"), {"a": S}, S, None) == waves.Next(
        0, None, ("a", "b"), None)
    assert waves.next_step((), clusters("a", "b"), {"a": S, "b": S}, S, None) is None
