"""What a change does to access: per subject, the permissions it gains and loses on each
cluster rendered on both sides, judged on effective access (a permission that moves from
one binding to another is neither gained nor lost), the same change on many clusters once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.access.fleet import Analyzer, ClusterAccess, Row
from pipeline.access.model import Subject
from pipeline.render.engine import ClusterRender

Atom = tuple[Subject, str, str, str, tuple[str, ...], str, str]  # ..., verb


@dataclass(frozen=True)
class AccessChange:
    """Verbs one subject gains (or loses) on one resource in one namespace, the binding
    that causes it (the head's for a gain, the base's for a loss) and where."""

    row: Row  # verbs: the verbs gained or lost
    clusters: tuple[str, ...]


def _atoms(access: ClusterAccess) -> dict[Atom, Row]:
    found: dict[Atom, Row] = {}
    for row in access.rows(builtin=True):
        for verb in row.verbs:
            atom = (row.subject, row.namespace, row.group, row.resource, row.names, row.url, verb)
            found.setdefault(atom, row)
    return found


def _only(a: Mapping[Atom, Row], b: Mapping[Atom, Row]) -> tuple[Row, ...]:
    """Rows of `a`'s atoms missing from `b`, verbs merged per row."""
    verbs: dict[Row, list[str]] = {}
    for atom, row in a.items():
        if atom not in b:
            verbs.setdefault(row, []).append(atom[-1])
    return tuple(Row(r.subject, r.namespace, r.group, r.resource, r.names, r.url, tuple(sorted(v)), r.binding,
                     r.role, r.aggregated) for r, v in verbs.items())


def compare(base: Sequence[ClusterRender], head: Sequence[ClusterRender], base_analyzer: Analyzer,
            head_analyzer: Analyzer) -> tuple[tuple[AccessChange, ...], tuple[AccessChange, ...]]:
    """(gained, lost) over the clusters rendered on both sides."""
    before = {r.cluster.name: r for r in base}
    memo: dict[tuple[str, str], tuple[tuple[Row, ...], tuple[Row, ...]]] = {}
    gained: dict[Row, list[str]] = {}
    lost: dict[Row, list[str]] = {}
    for render in head:
        old = before.get(render.cluster.name)
        if old is None:
            continue
        a, b = base_analyzer.analyse(old), head_analyzer.analyse(render)
        if a.key == b.key:
            continue
        found = memo.get((a.key, b.key))
        if found is None:
            atoms_a, atoms_b = _atoms(a), _atoms(b)
            found = memo[(a.key, b.key)] = (_only(atoms_b, atoms_a), _only(atoms_a, atoms_b))
        for row in found[0]:
            gained.setdefault(row, []).append(render.cluster.name)
        for row in found[1]:
            lost.setdefault(row, []).append(render.cluster.name)
    return _merged(gained), _merged(lost)


def _merged(found: Mapping[Row, list[str]]) -> tuple[AccessChange, ...]:
    changes = [AccessChange(row, tuple(names)) for row, names in found.items()]
    return tuple(sorted(changes, key=lambda c: (-len(c.clusters), str(c.row.subject), c.row.namespace,
                                                c.row.group, c.row.resource, c.row.url)))


def as_json(changes: Iterable[AccessChange]) -> list[dict[str, Any]]:
    from pipeline.access.views import row_json

    return [{"subject": c.row.subject.as_json(), **row_json(c.row), "clusters": list(c.clusters)}
            for c in changes]


def from_json(items: Iterable[Mapping[str, Any]]) -> tuple[AccessChange, ...]:
    """The changes `as_json` wrote (enough to print them again)."""
    from pipeline.access.model import Binding, Source

    found = []
    for d in items:
        s, via = d["subject"], d["via"]
        b = via["binding"]
        src = b.get("source") or {}
        binding = Binding(b["kind"], b.get("namespace") or "", b["name"], "", "", (),
                          Source(b.get("package"), src.get("path"), src.get("line") or 0))
        resource = (d.get("resource") or "") + (f"/{d['subresource']}" if d.get("subresource") else "")
        row = Row(Subject(s["kind"], s["name"], s.get("namespace") or ""), d.get("namespace") or "",
                  d.get("apiGroup") or "", resource, tuple(d.get("resourceNames") or ()),
                  d.get("nonResourceURL") or "", tuple(d["verbs"]), binding, via["role"], via["aggregated"])
        found.append(AccessChange(row, tuple(d["clusters"])))
    return tuple(found)
