"""The package graph as an SVG: sync-waves as columns, dependencies as arrows, laid out
here (no browser-side graph library): within a column, packages are ordered by the mean
row of what they depend on, which keeps most arrows short and uncrossed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from html import escape

from pipeline.report.graphview import GraphView
from pipeline.words import counted

COL, ROW, BOX_W, BOX_H, PAD = 190, 54, 150, 34, 24


@dataclass(frozen=True)
class Placed:
    name: str
    x: int
    y: int
    wave: int
    clusters: int


def layout(g: GraphView) -> dict[str, Placed]:
    """Each package's box: its column is its (first) wave, its row ordered by parents."""
    columns: dict[int, list[str]] = defaultdict(list)
    wave_of = {n.name: n.waves[0] for n in g.nodes}
    for n in g.nodes:
        columns[wave_of[n.name]].append(n.name)
    parents: dict[str, list[str]] = defaultdict(list)
    for e in g.edges:
        parents[e.dependent].append(e.dependency)
    row: dict[str, float] = {}
    for wave in sorted(columns):
        def key(name: str) -> tuple[float, str]:
            known = [row[p] for p in parents[name] if p in row]
            return (sum(known) / len(known) if known else 0.0, name)
        columns[wave].sort(key=key)
        for index, name in enumerate(columns[wave]):
            row[name] = index
    clusters = {n.name: n.clusters for n in g.nodes}
    return {name: Placed(name, PAD + i * COL, PAD + int(row[name]) * ROW, wave, clusters[name])
            for i, wave in enumerate(sorted(columns)) for name in columns[wave]}


def render(g: GraphView) -> str:
    """Standalone SVG markup (inline in the page; all text escaped)."""
    placed = layout(g)
    if not placed:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    width = max(p.x for p in placed.values()) + BOX_W + PAD
    height = max(p.y for p in placed.values()) + BOX_H + PAD + 18
    waves = sorted({p.wave for p in placed.values()})
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="package dependency graph">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
           'class="arrowhead"/></marker></defs>']
    for i, wave in enumerate(waves):
        out.append(f'<text class="wave" x="{PAD + i * COL}" y="{height - 8}">wave {wave}</text>')
    for e in g.edges:
        a, b = placed.get(e.dependency), placed.get(e.dependent)
        if a is None or b is None:
            continue
        x1, y1 = a.x + BOX_W, a.y + BOX_H // 2
        x2, y2 = b.x, b.y + BOX_H // 2
        mid = (x1 + x2) // 2
        cls = "edge crd" if e.reason.startswith("crd") else "edge"
        out.append(f'<path class="{cls}" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" '
                   f'marker-end="url(#arrow)"><title>{escape(e.dependent)} after '
                   f'{escape(e.dependency)}: {escape(e.reason)}</title></path>')
    for p in placed.values():
        out.append(f'<g class="node"><rect x="{p.x}" y="{p.y}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
                   f'<text x="{p.x + 10}" y="{p.y + 21}">{escape(p.name)}</text>'
                   f'<title>{escape(p.name)}: wave {p.wave}, {counted(p.clusters, "cluster")}</title></g>')
    out.append("</svg>")
    return "".join(out)
