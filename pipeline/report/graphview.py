"""`hydrate graph` output: one cluster's plan, or the union over the fleet, as text,
Graphviz dot or JSON."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.render.engine import ClusterRender
from pipeline.render.graph import Edge
from pipeline.words import counted


@dataclass(frozen=True)
class Node:
    name: str
    waves: tuple[int, ...]  # the wave in each cluster (one value for a single cluster)
    clusters: int


@dataclass(frozen=True)
class GraphView:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def view(renders: Sequence[ClusterRender], title: str) -> GraphView:
    waves: dict[str, list[int]] = defaultdict(list)
    edges: set[Edge] = set()
    for r in renders:
        for name, wave in r.plan.waves.items():
            waves[name].append(wave)
        edges.update(r.plan.edges)
    nodes = tuple(Node(n, tuple(sorted(set(w))), len(w))
                  for n, w in sorted(waves.items(), key=lambda kv: (min(kv[1]), kv[0])))
    return GraphView(title, nodes, tuple(sorted(edges, key=lambda e: (e.dependent, e.dependency))))


def _waves(node: Node) -> str:
    lo, hi = node.waves[0], node.waves[-1]
    return f"wave {lo}" if lo == hi else f"waves {lo}-{hi}"


def to_text(g: GraphView) -> str:
    lines = [g.title]
    width = max((len(n.name) for n in g.nodes), default=0)
    single = all(n.clusters == 1 for n in g.nodes)
    for node in g.nodes:
        deps = [f"{e.dependency} ({e.reason})" for e in g.edges if e.dependent == node.name]
        used = "" if single else f"  {counted(node.clusters, 'cluster'):>14}"
        after = f"  after {', '.join(deps)}" if deps else ""
        lines.append(f"  {_waves(node):<9} {node.name:<{width}}{used}{after}".rstrip())
    return "\n".join(lines) + "\n"


def to_dot(g: GraphView) -> str:
    lines = [f"digraph {json.dumps(g.title)} {{", "  rankdir=LR;"]
    for node in g.nodes:
        label = json.dumps(f"{node.name}\n{_waves(node)}")
        lines.append(f"  {json.dumps(node.name)} [label={label}];")
    for e in g.edges:
        style = "" if e.reason == "dependsOn" else ", style=dashed"
        lines.append(f"  {json.dumps(e.dependency)} -> {json.dumps(e.dependent)} "
                     f"[label={json.dumps(e.reason)}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(g: GraphView) -> str:
    doc = {
        "title": g.title,
        "packages": [{"name": n.name, "waves": list(n.waves), "clusters": n.clusters}
                     for n in g.nodes],
        "edges": [{"from": e.dependency, "to": e.dependent, "reason": e.reason} for e in g.edges],
    }
    return json.dumps(doc, indent=2) + "\n"


FORMATS = {"text": to_text, "dot": to_dot, "json": to_json}
