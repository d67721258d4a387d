"""The package dependency graph of a cluster.

Edges come from `dependsOn` and, implicitly, from CRDs: a package that renders a
CustomResourceDefinition comes before every package of the same cluster that renders an
object of that kind. A package's sync-wave is its depth: 0 without dependencies,
otherwise one more than its deepest dependency.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass

from pipeline.config.model import Cluster, Inventory
from pipeline.errors import GraphError

GroupKind = tuple[str, str]


@dataclass(frozen=True)
class Edge:
    """`dependent` must come after `dependency`, because of `reason`."""

    dependency: str
    dependent: str
    reason: str  # "dependsOn" or "crd <Kind>.<group>"


@dataclass(frozen=True)
class Plan:
    cluster: Cluster
    packages: tuple[str, ...]
    edges: tuple[Edge, ...]
    waves: Mapping[str, int]

    def dependencies(self, package: str) -> list[Edge]:
        return [e for e in self.edges if e.dependent == package]


def packages_for(inv: Inventory, cluster: Cluster) -> tuple[str, ...]:
    """The cluster's packages; GraphError if one depends on a package the cluster lacks."""
    names = inv.packages_of(cluster)
    listed = set(names)
    for name in names:
        for dep in inv.packages[name].depends_on:
            if dep not in listed:
                raise GraphError(
                    f"cluster {cluster.name}: package {name} depends on {dep}, which the cluster "
                    f"does not list (class {cluster.class_name}); add {dep} to "
                    f"{inv.classes[cluster.class_name].path} packages or to {cluster.path} "
                    f"packages.add, or drop the dependency from {inv.packages[name].path}/package.yaml"
                )
    return names


def plan(inv: Inventory, cluster: Cluster, packages: tuple[str, ...],
         provides: Mapping[str, Set[GroupKind]], uses: Mapping[str, Set[GroupKind]]) -> Plan:
    """The cluster's graph with CRD edges from what each package `provides` (CRDs) and
    `uses` (object kinds), checked for cycles, with waves."""
    edges: dict[tuple[str, str], Edge] = {}
    for name in packages:
        for dep in inv.packages[name].depends_on:
            edges[(dep, name)] = Edge(dep, name, "dependsOn")
    owner = {gk: name for name in packages for gk in provides.get(name, ())}
    for name in packages:
        for gk in sorted(uses.get(name, ())):
            source = owner.get(gk)
            if source is not None and source != name and (source, name) not in edges:
                kind = f"{gk[1]}.{gk[0]}" if gk[0] else gk[1]
                edges[(source, name)] = Edge(source, name, f"crd {kind}")
    import networkx as nx  # not at import time: ~0.15 s that most commands never need

    graph = nx.DiGraph()
    graph.add_nodes_from(packages)
    graph.add_edges_from(edges)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " → ".join([a for a, _ in cycle] + [cycle[0][0]])
        why = "; ".join(f"{b} needs {a}: {edges[(a, b)].reason}" for a, b in cycle)
        raise GraphError(f"cluster {cluster.name}: dependency cycle {path} ({why})")
    waves: dict[str, int] = {}
    for name in nx.topological_sort(graph):
        waves[name] = max((waves[p] + 1 for p in graph.predecessors(name)), default=0)
    ordered = tuple(sorted(edges.values(), key=lambda e: (e.dependent, e.dependency)))
    return Plan(cluster, packages, ordered, waves)
