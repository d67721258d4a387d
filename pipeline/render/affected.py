"""Which (cluster, package) renders a change touches, and why.

Changed paths between two commits point to candidate pairs (a cluster file to that
cluster, a class file to its clusters, `bases/P` to the clusters listing P, an overlay
layer to the clusters it applies to). Each candidate is then materialised on both sides:
a pair is affected when its render key differs, or when it exists on one side only. So
the answer is exact for every input the key covers (files after Jinja2, merged values,
charts, arguments, tool versions), and a pair that is not a candidate cannot have a
different key. Callers re-render whole clusters: a package's sync-wave and namespace
filling depend on the other packages of its cluster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pygit2

from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Cluster, Inventory
from pipeline.config.source import GitTree
from pipeline.render.materialise import Input, Materialiser
from pipeline.render.tools import Toolset

EVERYTHING = "fleet/environments.yaml"


@dataclass(frozen=True)
class Pair:
    environment: str
    cluster: str
    package: str
    change: str  # added | removed | changed
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Affected:
    pairs: tuple[Pair, ...]
    paths: tuple[str, ...]  # the changed paths
    candidates: int  # clusters examined
    total: int  # clusters on the head side

    @property
    def clusters(self) -> tuple[tuple[str, str], ...]:
        """(environment, cluster) of every cluster with an affected pair."""
        return tuple(dict.fromkeys((p.environment, p.cluster) for p in self.pairs))


def changed_paths(base: pygit2.Tree, head: pygit2.Tree) -> list[str]:
    """Paths added, removed or modified between two trees (renames as both paths)."""
    diff = base.diff_to_tree(head)
    found: set[str] = set()
    for delta in diff.deltas:
        for f in (delta.old_file, delta.new_file):
            if f.path:
                found.add(f.path)
    return sorted(found)


def _reasons(inv: Inventory, paths: Iterable[str]) -> dict[tuple[str, str | None], list[str]]:
    """(cluster, package or None for all) → the changed paths that reach it."""
    out: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    charts: dict[str, list[str]] = defaultdict(list)
    for pkg in inv.packages.values():
        if pkg.chart and not pkg.chart.startswith(pkg.path + "/"):
            charts[pkg.chart].append(pkg.name)
    for path in paths:
        parts = path.split("/")
        if path == EVERYTHING:
            for c in inv.clusters.values():
                out[(c.name, None)].append(path)
        elif parts[:2] == ["fleet", "classes"] and len(parts) == 3:
            name = parts[2].removesuffix(".yaml")
            for c in inv.clusters.values():
                if c.class_name == name:
                    out[(c.name, None)].append(path)
        elif parts[:2] == ["fleet", "clusters"] and len(parts) == 3:
            out[(parts[2].removesuffix(".yaml"), None)].append(path)
        elif parts[0] == "bases" and len(parts) >= 3:
            packages = [parts[1]]
            packages += [p for chart, names in charts.items()
                         if path.startswith(chart + "/") for p in names]
            for c in inv.clusters.values():
                for p in packages:
                    if p in inv.packages_of(c):
                        out[(c.name, p)].append(path)
        elif parts[0] == "overlays" and len(parts) >= 5:
            scope, owner, package = parts[1], parts[2], parts[3]
            for c in inv.clusters.values():
                hit = ((scope == "environments" and c.environment == owner)
                       or (scope == "classes" and c.class_name == owner)
                       or (scope == "sites" and c.site == owner)
                       or (scope == "clusters" and c.name == owner))
                if hit:
                    out[(c.name, package)].append(path)
    return out


def _keys(mat: Materialiser, inv: Inventory, cluster: Cluster) -> dict[str, tuple[object, ...]]:
    """Per package: its render key, and the package settings post-processing uses."""
    keys: dict[str, tuple[object, ...]] = {}
    for package in inv.packages_of(cluster):
        inp: Input = mat.input(cluster, package)
        pkg = inv.packages[package]
        # A chart that reads .Capabilities.APIVersions also gets the cluster's declared ones
        # (those of CRDs come from its other packages: a change there is a pair of its own).
        apis = inv.api_versions(cluster) if mat.capabilities(pkg).reads else ()
        keys[package] = (inp.run.key, inp.overlay.digest if inp.overlay else "", pkg.namespace,
                         pkg.depends_on, pkg.allow_plaintext_secrets, apis)
    return keys


def compute(base: GitTree, head: GitTree, tools: Toolset, *,
            envs: Sequence[str] = (), clusters: Sequence[str] = (),
            base_inventory: Inventory | None = None,
            head_inventory: Inventory | None = None) -> Affected:
    """The pairs affected by going from commit `base` to commit `head` (pass inventories
    already loaded to spare loading them again)."""
    paths = changed_paths(base.top, head.top)  # relative to the configuration folder
    inv_head = head_inventory if head_inventory is not None else inventory_mod.load(head)
    inv_base = base_inventory if base_inventory is not None else inventory_mod.load(base)
    reasons: dict[tuple[str, str | None], list[str]] = defaultdict(list)
    for inv in (inv_base, inv_head):
        for k, v in _reasons(inv, paths).items():
            reasons[k].extend(p for p in v if p not in reasons[k])
    names = sorted({c for c, _ in reasons})
    wanted = set(clusters)
    mats = (Materialiser(base, inv_base, tools), Materialiser(head, inv_head, tools))
    pairs: list[Pair] = []
    examined = 0
    for name in names:
        if wanted and name not in wanted:
            continue
        sides = [inv.clusters.get(name) for inv in (inv_base, inv_head)]
        env = (sides[1] or sides[0]).environment  # type: ignore[union-attr]
        if envs and env not in envs and (sides[0] is None or sides[0].environment not in envs):
            continue
        examined += 1
        old = _keys(mats[0], inv_base, sides[0]) if sides[0] else {}
        new = _keys(mats[1], inv_head, sides[1]) if sides[1] else {}
        moved = sides[0] is not None and sides[1] is not None and \
            sides[0].environment != sides[1].environment
        for package in sorted(set(old) | set(new)):
            change = ("added" if package not in old else "removed" if package not in new
                      else "changed" if old[package] != new[package] or moved else "")
            if change:
                why = tuple(dict.fromkeys([*reasons.get((name, None), []),
                                           *reasons.get((name, package), [])]))
                pairs.append(Pair(env, name, package, change, why or ("inputs changed",)))
    return Affected(tuple(pairs), tuple(paths), examined, len(inv_head.clusters))


def by_cluster(pairs: Iterable[Pair]) -> Mapping[str, list[Pair]]:
    found: dict[str, list[Pair]] = defaultdict(list)
    for p in pairs:
        found[p.cluster].append(p)
    return found
