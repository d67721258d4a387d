"""The package dependency graph of a cluster.

Edges come from `dependsOn` and, implicitly, from CRDs: a package that renders a
CustomResourceDefinition comes before every package of the same cluster that renders an
object of that kind. A package's sync-wave is its depth: 0 without dependencies,
otherwise one more than its deepest dependency.

Only the CRD objects must come first, not the whole package: when CRD edges close a
cycle (cert-manager's ServiceMonitor needs kube-prometheus-stack's CRD, whose webhook
certificates need cert-manager's), the CRDs of a package on the cycle get a place of
their own (`Plan.crd_waves`: a wave before every package that uses them) and its CRD
edges point from there, as many packages as it takes. A cycle that no such split
breaks (one of `dependsOn` edges, or through a package's own objects) is an error that
names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from pipeline.config.model import Cluster, Inventory
from pipeline.errors import GraphError

GroupKind = tuple[str, str]
CRDS_ONLY = " (its CRDs only)"  # a CRD edge from a package whose CRDs have their own wave


@dataclass(frozen=True)
class Edge:
    """`dependent` must come after `dependency`, because of `reason`."""

    dependency: str
    dependent: str
    reason: str  # "dependsOn" or "crd <Kind>.<group>", + CRDS_ONLY when from the CRDs' wave

    @property
    def crds_only(self) -> bool:
        """`dependent` needs only the CRD objects of `dependency` (see `Plan.crd_waves`)."""
        return self.reason.endswith(CRDS_ONLY)


@dataclass(frozen=True)
class Plan:
    cluster: Cluster
    packages: tuple[str, ...]
    edges: tuple[Edge, ...]
    waves: Mapping[str, int]
    crd_waves: Mapping[str, int] = field(default_factory=dict)  # package → its CRDs' wave

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

    split: set[str] = set()  # packages whose CRDs have their own node
    while True:
        graph = nx.DiGraph()
        graph.add_nodes_from(packages)
        for (a, b), edge in edges.items():
            graph.add_edge(_crds(a) if a in split and edge.reason.startswith("crd ") else a, b)
        for name in split:
            graph.add_edge(_crds(name), name)
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            break
        crd_edges = [a for a, b in cycle if isinstance(a, str) and (a, b) in edges
                     and edges[(a, b)].reason.startswith("crd ") and a not in split]
        if not crd_edges:
            names = [_name(a) for a, _ in cycle]
            path = " → ".join([*names, names[0]])
            why = "; ".join(_why(edges, a, b) for a, b in cycle)
            raise GraphError(f"cluster {cluster.name}: dependency cycle {path} ({why})")
        split.add(crd_edges[0])
    depth: dict[object, int] = {}
    for node in nx.topological_sort(graph):
        depth[node] = max((depth[p] + 1 for p in graph.predecessors(node)), default=0)
    waves = {name: depth[name] for name in packages}
    crd_waves = {name: depth[_crds(name)] for name in sorted(split)}
    for key, edge in edges.items():
        if edge.dependency in split and edge.reason.startswith("crd "):
            edges[key] = Edge(edge.dependency, edge.dependent, edge.reason + CRDS_ONLY)
    ordered = tuple(sorted(edges.values(), key=lambda e: (e.dependent, e.dependency)))
    return Plan(cluster, packages, ordered, waves, crd_waves)


def _crds(package: str) -> tuple[str, str]:
    """The node of a package's CRD objects."""
    return ("crds", package)


def _name(node: object) -> str:
    return f"{node[1]} (its CRDs)" if isinstance(node, tuple) else str(node)


def _why(edges: Mapping[tuple[str, str], Edge], a: object, b: object) -> str:
    if isinstance(a, tuple):
        return f"{b}'s CRDs come before it"
    edge = edges.get((str(a), str(b)))
    return f"{b} needs {a}: {edge.reason if edge else 'its CRDs'}"
