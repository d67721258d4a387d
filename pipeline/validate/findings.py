"""What validation says: findings, each once for all the clusters that share it.

A `Finding` names the rule, its severity, the package and object, the clusters and the
repository file and line that produced the object (docs/validation.md has the JSON).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

Severity = Literal["error", "warning", "off"]
ORDER = {"error": 0, "warning": 1, "off": 2}


class ObjectRef(NamedTuple):
    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    def as_json(self) -> dict[str, str | None]:
        return {"apiVersion": self.api_version, "kind": self.kind,
                "namespace": self.namespace or None, "name": self.name}


class Source(NamedTuple):
    path: str
    line: int


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    package: str | None
    object: ObjectRef | None
    source: Source | None
    clusters: tuple[str, ...]
    field: str = ""  # the field path inside the object ("" for the object as a whole)
    # Where else it shows: the object's base file and line when `source` is the overlay
    # layer (a patch, a values file) that set the field.
    related: tuple[Source, ...] = ()

    @property
    def identity(self) -> tuple[Any, ...]:
        """What makes two findings the same finding (the clusters aside)."""
        return (self.rule, self.severity, self.message, self.package, self.object, self.source,
                self.field, self.related)

    @property
    def fingerprint(self) -> str:
        """Stable across runs and line moves: rule, package, object, field and message."""
        text = "\0".join([self.rule, self.package or "", str(self.object or ""), self.field,
                          self.message])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "severity": self.severity, "message": self.message,
            "package": self.package,
            "object": self.object.as_json() if self.object else None,
            "field": self.field or None,
            "clusters": list(self.clusters),
            "source": {"path": self.source.path, "line": self.source.line} if self.source else None,
            "related": [{"path": r.path, "line": r.line} for r in self.related],
        }


def from_json(d: Mapping[str, Any]) -> Finding:
    """The Finding `Finding.as_json` wrote."""
    o, src = d.get("object"), d.get("source")
    return Finding(d["rule"], d["severity"], d["message"], d.get("package"),
                   ObjectRef(o["apiVersion"], o["kind"], o.get("namespace") or "", o["name"]) if o else None,
                   Source(src["path"], src["line"]) if src else None,
                   tuple(d.get("clusters") or ()), d.get("field") or "",
                   tuple(Source(r["path"], r["line"]) for r in d.get("related") or ()))


def changes(base: Iterable[Finding],
            head: Iterable[Finding]) -> tuple[tuple[Finding, ...], tuple[Finding, ...]]:
    """Findings `head` has that `base` had not (per cluster), and the reverse. Judged by
    fingerprint, so a finding whose line moved is neither new nor fixed."""
    def pairs(findings: Iterable[Finding]) -> dict[tuple[str, str], Finding]:
        return {(f.fingerprint, c): f for f in findings for c in (f.clusters or ("",))}

    old, new = pairs(base), pairs(head)

    def only(a: dict[tuple[str, str], Finding], b: dict[tuple[str, str], Finding]) -> tuple[Finding, ...]:
        return merge(replace(f, clusters=(c,) if c else ()) for (fp, c), f in a.items() if (fp, c) not in b)

    return only(new, old), only(old, new)


def merge(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """One finding per identity with the union of its clusters; errors first, then by
    rule, source and object."""
    grouped: dict[tuple[Any, ...], tuple[Finding, set[str]]] = {}
    for f in findings:
        found = grouped.get(f.identity)
        if found is None:
            grouped[f.identity] = (f, set(f.clusters))
        else:
            found[1].update(f.clusters)
    merged = [replace(f, clusters=tuple(sorted(clusters))) for f, clusters in grouped.values()]
    return tuple(sorted(merged, key=_order))


def _order(f: Finding) -> tuple[Any, ...]:
    return (ORDER[f.severity], f.rule, f.source or ("", 0), f.package or "",
            str(f.object or ""), f.field, f.message)


@dataclass(frozen=True)
class Usage:
    """One cluster's requests against its class's capacity (None: capacity not given)."""

    cluster: str
    class_name: str
    requested: Mapping[str, float]  # cpu (cores), memory (bytes), pods, storage (bytes)
    capacity: Mapping[str, float]

    def percent(self, resource: str) -> float | None:
        have = self.capacity.get(resource)
        return None if not have else 100.0 * self.requested.get(resource, 0.0) / have

    @property
    def worst(self) -> float:
        return max((p for r in ("cpu", "memory", "pods", "storage") if (p := self.percent(r)) is not None),
                   default=0.0)


@dataclass(frozen=True)
class Waived:
    """A finding of a rule the API server enforces (the object cannot be applied) that a
    waiver accepted: published anyway, so every report counts it."""

    finding: Finding
    waiver: str  # file:line of the waiver
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {**self.finding.as_json(), "waiver": self.waiver, "reason": self.reason}


@dataclass(frozen=True)
class Report:
    findings: tuple[Finding, ...]
    usage: tuple[Usage, ...] = ()
    clusters: int = 0
    objects: int = 0  # objects checked (each distinct output once)
    seconds: float = 0.0
    cached: int = 0  # distinct outputs whose findings came from the cache
    outputs: int = 0  # distinct outputs checked (each once per schema version and CRDs)
    waived: tuple[Waived, ...] = ()  # errors the API server enforces, accepted by a waiver

    @property
    def everything(self) -> tuple[Finding, ...]:
        """The findings and, marked as such, the waived errors: what a diff compares, so a
        change that waives an error the API server enforces shows it."""
        return (*self.findings, *(replace(w.finding, message=f"{w.finding.message} (waived by "
                                                             f"{w.waiver}: {w.reason})")
                                  for w in self.waived))

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    def summary(self) -> dict[str, Any]:
        return {"errors": len(self.errors), "warnings": len(self.warnings),
                "clusters": self.clusters, "objects": self.objects,
                "rules": dict(sorted(_count(self.findings).items())),
                "waived": dict(sorted(_count(w.finding for w in self.waived).items()))}

    def as_json(self) -> dict[str, Any]:
        return {"findings": [f.as_json() for f in self.findings], "summary": self.summary(),
                "waived": [w.as_json() for w in self.waived],
                "capacity": [{"cluster": u.cluster, "class": u.class_name,
                              "requested": dict(u.requested), "capacity": dict(u.capacity)}
                             for u in self.usage]}


def _count(findings: Iterable[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.rule] = counts.get(f.rule, 0) + 1
    return counts
