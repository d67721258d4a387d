"""Which clusters the next step of a promotion writes, recomputed from the configuration
at every step.

Without waves a step writes every cluster of the environment. With waves, a new rollout
starts with the first wave; each later step takes the first wave (in the configuration's
order) that has not run yet, together with every cluster of an earlier wave that still
lacks the source (a cluster moved into a wave that already ran, or added to the
environment since): so nothing is left behind. When every wave has run but some cluster
still lacks the source, the next step takes those clusters, as the latest wave they
belong to. A rollout is done only when every cluster the configuration puts in the
environment carries the source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pipeline.config import promotion as promotion_mod
from pipeline.config.model import Cluster, Wave
from pipeline.sinks import ledger


@dataclass(frozen=True)
class Next:
    """The next step: the wave it takes (None without waves), its index, the clusters it
    writes, and the wave whose soak and checks gate it (None: the `from` environment)."""

    index: int
    wave: Wave | None
    clusters: tuple[str, ...]
    gated_by: Wave | None


def lacking(clusters: Iterable[str], sources: Mapping[str, str], source: str) -> set[str]:
    """The clusters that do not carry `source` (on the branch, or not there at all)."""
    return {c for c in clusters if sources.get(c) != source}


def next_step(waves: Sequence[Wave], members: Sequence[Cluster], sources: Mapping[str, str],
              source: str, done: Sequence[ledger.Step] | None) -> Next | None:
    """The next step of promoting `source` into an environment whose clusters are
    `members` and carry `sources`; `done`: the steps of the rollout of `source` under
    way (None: a new rollout). None when every cluster carries it already."""
    names = sorted(c.name for c in members)
    missing = lacking(names, sources, source)
    if not waves:
        return Next(0, None, tuple(names), None) if missing else None
    assigned = promotion_mod.assign(waves, members)
    if done is None:
        return Next(0, waves[0], assigned[0].clusters, None)
    if not missing:
        return None
    ran = {s.wave for s in done}
    index = next((i for i, w in enumerate(waves) if w.name not in ran), None)
    if index is None:
        index = max(i for i, a in enumerate(assigned) if missing & set(a.clusters))
        takes = set()
    else:
        takes = set(assigned[index].clusters)
    earlier = {c for a in assigned[:index + 1] for c in a.clusters}
    chosen = takes | (missing & earlier)
    return Next(index, waves[index], tuple(sorted(chosen)),
                waves[index - 1] if index > 0 else None)


def pending_after(members: Iterable[str], sources: Mapping[str, str], source: str,
                  written: Iterable[str]) -> tuple[str, ...]:
    """The clusters still lacking `source` once `written` carry it."""
    return tuple(sorted(lacking(members, sources, source) - set(written)))
