"""Splitting a fleet into N shards, balanced by work, and the same answer everywhere.

The work of a cluster is what its renders cost that no other cluster shares: each of its
(cluster, package) inputs counts 1 / (number of clusters with the same input). Clusters
are assigned, heaviest first (ties by name), to the shard with the least work so far.
The partition depends only on the configuration, so N jobs of a CI matrix compute it
independently and agree.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from pipeline.config.model import Cluster, Inventory
from pipeline.errors import PipelineError
from pipeline.render.materialise import Materialiser

_SPEC = re.compile(r"^(\d{1,6})/(\d{1,6})$")


def parse(spec: str) -> tuple[int, int]:
    """'2/4' → (2, 4); shards are numbered from 1. ValueError if it is not i/N: a usage
    error the CLI reports as such."""
    match = _SPEC.match(spec.strip())
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ValueError(f"{spec!r}: expected i/N with 1 <= i <= N, e.g. 2/4")
    return int(match[1]), int(match[2])


def weights(inv: Inventory, clusters: Sequence[Cluster], mat: Materialiser) -> dict[str, float]:
    keys = {c.name: [mat.input(c, p).run.key for p in inv.packages_of(c)] for c in clusters}
    shared = Counter(k for ks in keys.values() for k in set(ks))
    return {name: sum(1 / shared[k] for k in ks) for name, ks in keys.items()}


def partition(work: dict[str, float], n: int) -> dict[str, int]:
    """Cluster → shard (1..n), longest-processing-time first."""
    # Shards past the number of clusters stay empty whatever n is: no need to count them.
    load = [0.0] * max(1, min(n, len(work)))
    found: dict[str, int] = {}
    for name in sorted(work, key=lambda c: (-work[c], c)):
        target = min(range(len(load)), key=lambda i: (load[i], i))
        load[target] += work[name]
        found[name] = target + 1
    return found


def select(inv: Inventory, clusters: Sequence[Cluster], mat: Materialiser,
           spec: str) -> list[Cluster]:
    """The clusters of shard `spec` ('i/N') among `clusters`."""
    try:
        index, n = parse(spec)
    except ValueError as e:
        raise PipelineError(f"--shard {e}") from None
    owner = partition(weights(inv, clusters, mat), n)
    return [c for c in clusters if owner[c.name] == index]
