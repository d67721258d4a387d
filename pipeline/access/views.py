"""`hydrate access` reports: text for people, JSON (docs/access.md) for tools. Clusters
that share a permission are named once: a few by name, many as a count by class and
environment."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.access.fleet import AccessReport, Permission, Row, subjects
from pipeline.access.model import Binding
from pipeline.config.model import Inventory
from pipeline.words import counted

NAMED = 4  # clusters named before they are counted


def clusters_phrase(names: Sequence[str], selected: int, inv: Inventory | None) -> str:
    """"store-0001, store-0002", or "all 1,000 clusters", or "412 clusters: pop 400 (prod),
    edge 12 (dev, prod)"."""
    if len(names) <= NAMED:
        return ", ".join(names)
    lead = counted(len(names), "cluster")
    if len(names) == selected:
        lead = f"all {lead}"
    if inv is None:
        return lead
    by_class: Counter[str] = Counter()
    envs: dict[str, set[str]] = {}
    for name in names:
        c = inv.clusters.get(name)
        if c is None:
            continue
        by_class[c.class_name] += 1
        envs.setdefault(c.class_name, set()).add(c.environment)
    order = {e: i for i, e in enumerate(inv.env_names)}
    parts = [f"{cls} {n:,} ({', '.join(sorted(envs[cls], key=lambda e: order.get(e, 99)))})"
             for cls, n in sorted(by_class.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"{lead}: {'; '.join(parts)}"


def _target(group: str, resource: str, names: Sequence[str]) -> str:
    """`secrets`, `deployments.apps/scale`, `configmaps [app-config]`."""
    name, slash, sub = resource.partition("/")
    what = (f"{name}.{group}" if group else name) + (f"/{sub}" if slash else "")
    return what + (f" [{', '.join(names)}]" if names else "")


def resource_text(row: Row) -> str:
    return row.url or _target(row.group, row.resource, row.names)


def via_text(binding: Binding, role: str, aggregated: bool) -> str:
    src = binding.source
    where = "built-in" if src.builtin else (f"{src.path}:{src.line}" if src.path and src.line
                                             else src.path or f"package {src.package}")
    return f"{binding.label} ({where}) → {role}{' (aggregated)' if aggregated else ''}"


def text(report: AccessReport, inv: Inventory | None) -> str:
    lines: list[str] = []
    selected = len(report.clusters)
    if report.answer is not None:
        q = report.query
        what = q.url or _target(q.group, f"{q.resource}/{q.subresource}" if q.subresource else q.resource, ())
        scope = f" in namespace {q.namespace}" if q.namespace else " cluster-wide"
        allowed = [n for n in report.clusters if n in report.answer.allowed]
        lines.append(f"can {q.subject} {q.verb} {what}{scope}?")
        if allowed:
            lines.append(f"  yes on {clusters_phrase(allowed, selected, inv)}")
            vias: dict[str, list[str]] = {}
            for name in allowed:
                for g in report.answer.allowed[name]:
                    vias.setdefault(via_text(g.binding, _role_label(g), g.aggregated), []).append(name)
            for via, names in vias.items():
                lines.append(f"      via {via}" + (f" on {counted(len(names), 'cluster')}"
                                                      if len(vias) > 1 else ""))
        if report.answer.denied:
            lines.append(f"  no on {clusters_phrase(report.answer.denied, selected, inv)}")
        return "\n".join(lines) + "\n"
    for subject, perms in subjects(report.permissions).items():
        lines.append(str(subject))
        groups: dict[tuple[str, str, tuple[str, ...]], list[Permission]] = {}
        for p in perms:
            via = via_text(p.row.binding, p.row.role, p.row.aggregated)
            groups.setdefault((p.row.namespace, via, p.clusters), []).append(p)
        for (namespace, via, where), members in groups.items():
            lines.append(f"  {'in ' + namespace if namespace else 'cluster-wide'} · "
                         f"{clusters_phrase(where, selected, inv)}")
            lines.append(f"    via {via}")
            width = max(len(", ".join(p.row.verbs)) for p in members)
            for p in members:
                lines.append(f"      {', '.join(p.row.verbs):<{width}}  {resource_text(p.row)}")
        lines.append("")
    shown = len(subjects(report.permissions))
    lines.append(f"{counted(shown, 'subject')}, {counted(len(report.permissions), 'permission')} on "
                 f"{counted(selected, 'cluster')}"
                 + ("" if report.query.builtin or report.query.subject is not None
                    else " (built-in bindings left out: --builtin shows them)"))
    return "\n".join(lines) + "\n"


def _role_label(grant: Any) -> str:
    b = grant.binding
    missing = "(missing) " if grant.role is None else ""
    role = f"Role {b.namespace}/{b.role_name}" if b.role_kind == "Role" else f"ClusterRole {b.role_name}"
    return missing + role


def _binding_json(binding: Binding) -> dict[str, Any]:
    src = binding.source
    return {"kind": binding.kind, "namespace": binding.namespace or None, "name": binding.name,
            "package": src.package, "builtin": src.builtin,
            "source": {"path": src.path, "line": src.line} if src.path and src.line else None}


def row_json(row: Row) -> dict[str, Any]:
    resource, _, sub = row.resource.partition("/")
    return {"namespace": row.namespace or None, "apiGroup": None if row.url else row.group,
            "resource": resource or None, "subresource": sub or None,
            "resourceNames": list(row.names), "nonResourceURL": row.url or None,
            "verbs": list(row.verbs),
            "via": {"binding": _binding_json(row.binding), "role": row.role, "aggregated": row.aggregated}}


def as_dict(report: AccessReport) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "clusters": list(report.clusters),
        "subjects": [{"subject": s.as_json(),
                      "permissions": [{**row_json(p.row), "clusters": list(p.clusters)} for p in perms]}
                     for s, perms in subjects(report.permissions).items()],
        "builtin": {name: source for name, source in (report.datasets or {}).items()},
    }
    if report.answer is not None:
        doc["can"] = {
            "allowed": {name: [{"subject": g.subject.as_json(), "namespace": g.namespace or None,
                                "binding": _binding_json(g.binding), "role": _role_label(g)}
                               for g in grants] for name, grants in report.answer.allowed.items()},
            "denied": list(report.answer.denied),
        }
    return doc


def as_json(report: AccessReport) -> str:
    return json.dumps(as_dict(report), indent=2, ensure_ascii=False) + "\n"


def sources(datasets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [f"{name}: {source.get('origin') or source.get('tag')}" for name, source in datasets.items()]
