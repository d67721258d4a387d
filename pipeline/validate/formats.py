"""A validation Report as text (compiler-style lines), JSON (docs/validation.md) and
SARIF 2.1.0 (for code scanning: rules, results on the line to fix, fingerprints)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.validate import capacity, rules
from pipeline.validate.findings import Finding, Report, Usage
from pipeline.words import counted

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SHOWN_CLUSTERS = 5
_RUNNERS_UP = 3  # worst clusters shown after the fullest, per class


def clusters_text(names: Sequence[str]) -> str:
    if len(names) <= _SHOWN_CLUSTERS:
        return ", ".join(names)
    return f"{', '.join(names[:_SHOWN_CLUSTERS - 1])} and {len(names) - _SHOWN_CLUSTERS + 1} more"


def finding_line(f: Finding) -> str:
    """`file:line: severity [rule] object: message` (what editors and CI logs link)."""
    where = f"{f.source.path}:{f.source.line}: " if f.source else ""
    what = f"{f.object}: " if f.object else ""
    field = f"{f.field}: " if f.field and not f.message.startswith(f.field) else ""
    return f"{where}{f.severity} [{f.rule}] {what}{field}{f.message}"


def text(report: Report, warnings: bool = True) -> str:
    lines: list[str] = []
    for f in report.findings:
        if f.severity == "warning" and not warnings:
            continue
        lines.append(finding_line(f))
        scope = f"package {f.package} · " if f.package else ""
        if f.clusters:
            lines.append(f"    {scope}{counted(len(f.clusters), 'cluster')}: "
                         f"{clusters_text(f.clusters)}")
        if f.related:  # the layer above set the field; the object itself comes from here
            lines.append(f"    the object: {', '.join(f'{r.path}:{r.line}' for r in f.related)}")
    if report.waived:
        if lines:
            lines.append("")
        lines.extend(waived_text(report))
    if report.usage:
        if lines:
            lines.append("")
        lines.extend(headroom(report.usage))
    errors, warns = len(report.errors), len(report.warnings)
    lines.append("")
    lines.append(f"validated {counted(report.clusters, 'cluster')} "
                 f"({counted(report.objects, 'distinct object')}"
                 f" in {report.seconds:.2f}s): {counted(errors, 'error')}, {counted(warns, 'warning')}"
                 + (f", {counted(len(report.waived), 'waived error')}" if report.waived else ""))
    return "\n".join(lines) + "\n"


def waived_text(report: Report) -> list[str]:
    """The errors the API server would reject that waivers let through, each with its waiver."""
    lines = [f"waived ({counted(len(report.waived), 'error')} the API server rejects, published "
             "because fleet/policy.yaml waives them):"]
    for w in report.waived:
        f = w.finding
        lines.append(f"  {finding_line(f)}")
        scope = f"package {f.package} · " if f.package else ""
        lines.append(f"      {scope}{counted(len(f.clusters), 'cluster')}: {clusters_text(f.clusters)}"
                     f" · waiver {w.waiver} ({w.reason})")
    return lines


def headroom(usage: Sequence[Usage]) -> list[str]:
    """Per class: the fullest cluster's requests against capacity, and the worst clusters."""
    by_class: dict[str, list[Usage]] = {}
    for u in usage:
        by_class.setdefault(u.class_name, []).append(u)
    lines = ["capacity (requests of the fullest cluster / what the class has):"]
    for name, members in sorted(by_class.items()):
        worst = max(members, key=lambda u: u.worst)
        cells = [f"{name} {used}/{have} ({capacity.percent_text(percent)})"
                 for name, used, have, percent in capacity.shares(worst)]
        shown = "; ".join(cells) if cells else "no capacity given"
        lines.append(f"  {name:<12} {counted(len(members), 'cluster'):<12} fullest {worst.cluster}: {shown}")
        runners_up = sorted((u for u in members if u is not worst), key=lambda u: (-u.worst, u.cluster))
        if cells and runners_up:
            lines.append(f"  {'':<12} {'':<12} then " + ", ".join(
                f"{u.cluster} ({capacity.percent_text(u.worst)})" for u in runners_up[:_RUNNERS_UP]))
    return lines


def as_json(report: Report) -> str:
    return json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n"


def _level(severity: str) -> str:
    return {"error": "error", "warning": "warning"}.get(severity, "none")


def _result(f: Finding) -> dict[str, Any]:
    message = f"{f.object}: {f.message}" if f.object else f.message
    if f.clusters:
        message += f" (clusters: {clusters_text(f.clusters)})"
    result: dict[str, Any] = {
        "ruleId": f.rule, "level": _level(f.severity), "message": {"text": message},
        "partialFingerprints": {"hydrateFinding/v1": f.fingerprint},
        "properties": {"package": f.package, "clusters": list(f.clusters)},
    }
    if f.source is not None:
        result["locations"] = [{"physicalLocation": {
            "artifactLocation": {"uri": f.source.path, "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": max(f.source.line, 1)}}}]
    if f.related:  # the base file the object comes from, when a layer set the field
        result["relatedLocations"] = [
            {"id": n, "message": {"text": "where the object is defined"}, "physicalLocation": {
                "artifactLocation": {"uri": r.path, "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": max(r.line, 1)}}} for n, r in enumerate(f.related, 1)]
    return result


def sarif(report: Report, version: str) -> str:
    """SARIF 2.1.0: one run, hydrate's rules, a result per finding on its source line,
    with a fingerprint that survives line moves."""
    results: list[dict[str, Any]] = []
    for f in report.findings:
        results.append(_result(f))
    for w in report.waived:  # shown as suppressed: the alert stays visible and explained
        f = w.finding
        suppressed = _result(f)
        suppressed["suppressions"] = [{"kind": "external", "status": "accepted",
                                       "justification": f"{w.reason} (waiver {w.waiver})"}]
        results.append(suppressed)
    driver = {
        "name": "hydrate", "version": version,
        "rules": [{"id": r.id, "name": r.id, "shortDescription": {"text": r.short},
                   "fullDescription": {"text": r.full}, "help": {"text": r.help},
                   "defaultConfiguration": {"level": _level(r.severity)}}
                  for r in rules.RULES.values()],
    }
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": driver}, "results": results,
                     "originalUriBaseIds": {"%SRCROOT%": {"description": {
                         "text": "the configuration repository"}}}}]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
