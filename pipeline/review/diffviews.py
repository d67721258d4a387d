"""`hydrate diff` reports: JSON (the full, stable result), text and GitHub markdown.

The markdown fits one GitHub comment (65,536 characters): it degrades from full diffs
to truncated diffs to a list of changed objects to the summary alone, and says what it
cut and where the full report is. It starts with a hidden marker, so a workflow can
find and update its one comment.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.access import changes as access_changes
from pipeline.access.views import resource_text, via_text
from pipeline.review.diff import DiffResult, Group, ObjectChange, Revision, RiskEntry, TableRow, Variant
from pipeline.review.risks import HIGH, Risk
from pipeline.validate import findings
from pipeline.validate.formats import finding_line
from pipeline.words import counted

MARKER = "<!-- hydrate-diff -->"
COMMENT_LIMIT = 65_536
TRUNCATED_LINES = 25
NAMES_SHOWN = 30
RISKS_SHOWN = 25
SYMBOL = {"added": "+", "changed": "~", "removed": "-"}

# --- JSON --------------------------------------------------------------------------------


def _object(o: ObjectChange) -> dict[str, Any]:
    return {"package": o.package, "change": o.change, "apiVersion": o.api_version, "kind": o.kind,
            "namespace": o.namespace, "name": o.name, "oldName": o.old_name, "paths": list(o.paths),
            "diff": o.diff, "risks": [{"rule": r.rule, "level": r.level, "message": r.message}
                                      for r in o.risks]}


def _all_objects(result: DiffResult) -> list[ObjectChange]:
    """Every object change of every cluster."""
    return [o for g in result.groups for v in g.variants for o in v.objects for _ in v.clusters]


def _revision(r: Revision) -> dict[str, Any]:
    """A side: `commit` is a full sha, or null when it is several env branches, each with
    its own head in `branches` (null: the branch does not exist)."""
    return {"rev": r.rev, "commit": r.commit or None, "subject": r.subject,
            "branches": [{"environment": e, "branch": b, "commit": c or None}
                         for e, b, c in r.branches]}


def _revision_of(d: dict[str, Any]) -> Revision:
    return Revision(d["rev"], d["commit"] or "", d["subject"],
                    tuple((b["environment"], b["branch"], b["commit"] or "")
                          for b in d.get("branches", [])))


def to_dict(result: DiffResult) -> dict[str, Any]:
    objects = _all_objects(result)
    return {
        "schemaVersion": 1,
        "base": _revision(result.base),
        "head": _revision(result.head),
        "error": result.error,
        "summary": {
            "clustersChanged": result.clusters_changed,
            "clustersUnchanged": result.unchanged,
            "groups": len(result.groups),
            "objectsAdded": sum(o.change == "added" for o in objects),
            "objectsChanged": sum(o.change == "changed" for o in objects),
            "objectsRemoved": sum(o.change == "removed" for o in objects),
        },
        "table": [{"environment": t.environment, "class": t.cls, "changed": t.changed,
                   "unchanged": t.unchanged, "added": t.added, "removed": t.removed,
                   "objectsAdded": t.objects_added, "objectsChanged": t.objects_changed,
                   "objectsRemoved": t.objects_removed} for t in result.table],
        "risks": [{"rule": r.rule, "level": r.level, "message": r.message, "package": r.package,
                   "object": r.object, "clusters": list(r.clusters)} for r in result.risks],
        "groups": [{"id": g.id, "status": g.status, "varying": list(g.varying),
                    "variants": [{"clusters": [{"environment": e, "cluster": c, "class": k}
                                               for e, c, k in v.clusters],
                                  "objects": [_object(o) for o in v.objects]}
                                 for v in g.variants]} for g in result.groups],
        "stats": dict(result.stats),
        "findings": {"added": [f.as_json() for f in result.findings_added],
                     "removed": [f.as_json() for f in result.findings_removed]},
        "access": {"gained": access_changes.as_json(result.access_gained),
                   "lost": access_changes.as_json(result.access_lost)},
    }


def from_dict(doc: dict[str, Any]) -> DiffResult:
    """The DiffResult a `to_dict` document describes."""
    def obj(o: dict[str, Any]) -> ObjectChange:
        return ObjectChange(o["package"], o["change"], o["apiVersion"], o["kind"], o["namespace"],
                            o["name"], o["oldName"], tuple(o["paths"]), o["diff"],
                            tuple(Risk(r["rule"], r["level"], r["message"]) for r in o["risks"]))

    return DiffResult(
        _revision_of(doc["base"]), _revision_of(doc["head"]),
        tuple(Group(g["id"], g["status"], tuple(
            Variant(tuple((c["environment"], c["cluster"], c["class"]) for c in v["clusters"]),
                    tuple(obj(o) for o in v["objects"])) for v in g["variants"]),
            tuple(g["varying"])) for g in doc["groups"]),
        tuple(TableRow(t["environment"], t["class"], t["changed"], t["unchanged"], t["added"],
                       t["removed"], t["objectsAdded"], t["objectsChanged"], t["objectsRemoved"])
              for t in doc["table"]),
        tuple(RiskEntry(r["rule"], r["level"], r["message"], r["package"], r["object"],
                        tuple(r["clusters"])) for r in doc["risks"]),
        sum(t["unchanged"] for t in doc["table"]), doc["error"], dict(doc.get("stats", {})),
        tuple(findings.from_json(f) for f in doc.get("findings", {}).get("added", [])),
        tuple(findings.from_json(f) for f in doc.get("findings", {}).get("removed", [])),
        access_changes.from_json(doc.get("access", {}).get("gained", [])),
        access_changes.from_json(doc.get("access", {}).get("lost", [])))


def to_json(result: DiffResult) -> str:
    return json.dumps(to_dict(result), indent=2) + "\n"


# --- shared wording ----------------------------------------------------------------------


def _names(names: Sequence[str], shown: int = NAMES_SHOWN) -> str:
    text = ", ".join(names[:shown])
    return text + (f", … and {len(names) - shown} more" if len(names) > shown else "")


def _classes(g: Group) -> str:
    classes = sorted({k for _, _, k in g.clusters})
    return f"class {classes[0]}" if len(classes) == 1 else f"classes {', '.join(classes)}"


def group_title(g: Group) -> str:
    envs = ", ".join(dict.fromkeys(e for e, _, _ in g.clusters))
    if g.status in ("added", "removed"):
        head = f"cluster{'s' if len(g.clusters) > 1 else ''} {g.status}"
        return f"{head}: {_names([c for _, c, _ in g.clusters], 5)} ({_classes(g)}, {envs})"
    if len(g.clusters) == 1:
        _, name, cls = g.clusters[0]
        return f"{name} (class {cls}, {envs})"
    same = "same change" if len(g.variants) == 1 else "similar change"
    return f"{same} on {counted(len(g.clusters), 'cluster')} of {_classes(g)} ({envs})"


def varying_note(g: Group) -> str:
    """What differs between the clusters of a group, and whose diff is shown."""
    if len(g.variants) < 2:
        return ""
    shown = ", ".join(g.varying[:6]) + (f", … {len(g.varying) - 6} more" if len(g.varying) > 6
                                         else "")
    first = g.variants[0].clusters[0][1]
    return (f"{counted(len(g.variants), 'variant')}; values differ per cluster in {shown}. "
            f"Diffs shown are {first}'s.")


def counts(objects: Sequence[ObjectChange]) -> str:
    return " ".join(f"{SYMBOL[k]}{sum(o.change == k for o in objects)}"
                    for k in ("added", "changed", "removed"))


def object_title(o: ObjectChange) -> str:
    was = f" (was {o.old_name})" if o.old_name else ""
    fields = ""
    if o.paths:
        fields = ": " + ", ".join(o.paths[:4]) + (f", … {len(o.paths) - 4} more"
                                                  if len(o.paths) > 4 else "")
    return f"{SYMBOL[o.change]} {o.label}{was} [{o.package}]{fields}"


def _rev(r: Revision) -> str:
    """A side for a header: each name in full, with its commit shortened."""
    if r.branches:
        return ", ".join(f"{b} ({c[:7] if c else 'not published'})" for _, b, c in r.branches)
    return f"{r.rev} ({r.commit[:7]})" if r.commit else r.rev


def headline(result: DiffResult) -> str:
    if result.error:
        return f"render failed: {result.error.splitlines()[0]}"
    if not result.changed:
        return f"no rendered changes ({counted(result.unchanged, 'cluster')} unchanged)"
    objects = _all_objects(result)
    groups = len(result.groups)
    return (f"{counted(result.clusters_changed, 'cluster')} changed "
            f"in {counted(groups, 'group')}, {result.unchanged} unchanged; "
            f"objects {counts(objects)}")


# --- text --------------------------------------------------------------------------------

Style = Callable[[str, str], str]


def to_text(result: DiffResult, style: Style = lambda text, _: text) -> str:
    out = [style(f"hydrate diff {_rev(result.base)} → {_rev(result.head)}", "bold"),
           headline(result), ""]
    if result.error:
        return "\n".join([*out, style(result.error, "red"), ""])
    for line, gain in _access_lines(result):
        out.append(style(line, "red" if gain else "green"))
    if result.access_gained or result.access_lost:
        out.append("")
    for r in result.risks:
        colour = "red" if r.level == HIGH else "yellow"
        package = f" [{r.package}]" if r.package else ""  # a removed cluster's has none
        where = f"{r.object}{package}" if r.object else ""
        out.append(style(f"! {r.level:<7} {r.rule}: {where} {r.message} "
                         f"({counted(len(r.clusters), 'cluster')}: {_names(r.clusters, 8)})", colour))
    if result.risks:
        out.append("")
    for f in result.findings_added:
        out.append(style(f"+ {finding_line(f)} ({counted(len(f.clusters), 'cluster')}: "
                         f"{_names(f.clusters, 8)})", "red" if f.severity == "error" else "yellow"))
    for f in result.findings_removed:
        out.append(style(f"✓ fixed: {finding_line(f)}", "green"))
    if result.findings_changed:
        out.append("")
    for g in result.groups:
        out.append(style(f"== {group_title(g)}", "bold"))
        if len(g.clusters) > 1 and g.status == "changed":
            out.append(f"   clusters: {_names([c for _, c, _ in g.clusters], 200)}")
        if varying_note(g):
            out.append(f"   {varying_note(g)}")
        for o in g.objects:
            out.append(style(f"  {object_title(o)}", "cyan"))
            for line in o.diff.splitlines():
                colour = ("green" if line.startswith("+") and not line.startswith("+++") else
                          "red" if line.startswith("-") and not line.startswith("---") else "")
                out.append("    " + (style(line, colour) if colour else line))
        out.append("")
    return "\n".join(out)


# --- markdown ----------------------------------------------------------------------------


def _md_header(result: DiffResult) -> list[str]:
    return [MARKER, f"### hydrate: rendered diff `{_rev(result.base)}` → `{_rev(result.head)}`", ""]


def _md_risks(risks: Sequence[RiskEntry]) -> list[str]:
    if not risks:
        return []
    lines = ["#### ⚠️ Risks", ""]
    for r in risks[:RISKS_SHOWN]:
        icon = "🔴" if r.level == HIGH else "🟠"
        package = f" ({r.package})" if r.package else ""  # a removed cluster's has none
        where = f"`{r.object}`{package}: " if r.object else ""
        lines.append(f"- {icon} **{r.rule}** {where}{r.message} — "
                     f"{counted(len(r.clusters), 'cluster')}: {_names(r.clusters, 8)}")
    if len(risks) > RISKS_SHOWN:
        lines.append(f"- … and {counted(len(risks) - RISKS_SHOWN, 'more risk')} in the full report")
    return [*lines, ""]


def _access_lines(result: DiffResult, code: str = "") -> list[tuple[str, bool]]:
    """One line per access change: gains first (they are what a reviewer must see)."""
    lines = []
    for changes, word, gain in ((result.access_gained, "gains", True), (result.access_lost, "loses", False)):
        for c in changes[:RISKS_SHOWN]:
            row = c.row
            where = f"in {code}{row.namespace}{code}" if row.namespace else "cluster-wide"
            lines.append((f"{'+' if gain else '-'} {code}{row.subject}{code} {word} "
                          f"{code}{', '.join(row.verbs)}{code} on {code}{resource_text(row)}{code} {where}"
                          f" — {counted(len(c.clusters), 'cluster')}: {_names(c.clusters, 8)}"
                          f" · via {via_text(row.binding, row.role, row.aggregated)}", gain))
        if len(changes) > RISKS_SHOWN:
            more = len(changes) - RISKS_SHOWN
            lines.append((f"{'+' if gain else '-'} … and {more} more in the full report",
                          gain))
    return lines


def _md_access(result: DiffResult) -> list[str]:
    """What the change does to who can do what: the first thing a reviewer reads."""
    if not (result.access_gained or result.access_lost):
        return []
    subjects = {str(c.row.subject) for c in result.access_gained}
    losing = {str(c.row.subject) for c in result.access_lost}
    lines = [f"#### 🔐 Access: {counted(len(subjects), 'subject')} gaining, "
             f"{counted(len(losing), 'subject')} losing", ""]
    for line, gain in _access_lines(result, "`"):
        lines.append(f"- {'🔺' if gain else '🔻'} {line[2:]}")
    return [*lines, ""]


def _md_findings(result: DiffResult) -> list[str]:
    """What validation says about the change: new findings first, then fixed ones."""
    if not result.findings_changed:
        return []
    added, fixed = result.findings_added, result.findings_removed
    lines = [f"#### 🔎 Validation: {counted(len(added), 'new finding')}, {len(fixed)} fixed", ""]
    for f in added[:RISKS_SHOWN]:
        icon = "🔴" if f.severity == "error" else "🟠"
        where = f" at `{f.source.path}:{f.source.line}`" if f.source else ""
        what = f"`{f.object}` " if f.object else ""
        clusters = f" — {counted(len(f.clusters), 'cluster')}: {_names(f.clusters, 8)}" if f.clusters else ""
        lines.append(f"- {icon} **{f.rule}** {what}{f.message}{where}{clusters}")
    if len(added) > RISKS_SHOWN:
        lines.append(f"- … and {counted(len(added) - RISKS_SHOWN, 'more new finding')} in the full report")
    for f in fixed[:RISKS_SHOWN]:
        what = f"`{f.object}` " if f.object else ""
        lines.append(f"- ✅ fixed: **{f.rule}** {what}{f.message}")
    return [*lines, ""]


def _md_table(rows: Sequence[TableRow]) -> list[str]:
    lines = ["| environment | class | clusters changed | unchanged | added | removed | "
             "objects + | ~ | − |", "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for t in rows:
        lines.append(f"| {t.environment} | {t.cls} | {t.changed} | {t.unchanged} | {t.added} | "
                     f"{t.removed} | {t.objects_added} | {t.objects_changed} | {t.objects_removed} |")
    return [*lines, ""]


def _fence(diff: str, max_lines: int | None) -> list[str]:
    lines = diff.splitlines()
    cut = max_lines is not None and len(lines) > max_lines
    shown = lines[:max_lines] if cut else lines
    body = "\n".join(shown).replace("```", "`\u200b``")
    note = [f"_… {counted(len(lines) - len(shown), 'more line')} in the full report_"] if cut else []
    return ["```diff", body, "```", *note]


def _md_group(g: Group, level: str) -> list[str]:
    title = group_title(g).replace("<", "&lt;")
    lines = ["<details>", f"<summary><b>{title}</b> · {counts(g.objects)}</summary>", ""]
    if len(g.clusters) > 1:
        lines += [f"Clusters: {_names([c for _, c, _ in g.clusters], 100)}", ""]
    if varying_note(g):
        lines += [f"_{varying_note(g)}_", ""]
    for o in g.objects:
        label = object_title(o).replace("<", "&lt;")
        if level == "list":
            lines.append(f"- `{label}`")
            continue
        lines += ["<details>", f"<summary><code>{label}</code></summary>", "",
                  *_fence(o.diff, TRUNCATED_LINES if level == "truncated" else None), "",
                  "</details>"]
    return [*lines, "", "</details>", ""]


def to_markdown(result: DiffResult, *, limit: int = COMMENT_LIMIT,
                report: str = "the JSON report (`--format json`)") -> str:
    """One GitHub comment, at most `limit` characters."""
    head = _md_header(result)
    if result.error:
        text = "\n".join([*head, "#### ❌ hydrate could not render this change", "",
                          "```text", result.error.replace("```", "`\u200b``"), "```", ""])
        return text if len(text) <= limit else text[: limit - 20] + "\n```\n(cut)\n"
    if not result.changed:
        return "\n".join([*head, f"✅ **No rendered changes** ({counted(result.unchanged, 'cluster')} "
                                 "unchanged).", "", *_md_findings(result)])
    top = [*head, f"**{headline(result)}**", "", *_md_access(result), *_md_findings(result),
           *_md_risks(result.risks),
           *_md_table(result.table)]
    notes = {
        "full": "",
        "truncated": f"✂️ Diffs longer than {TRUNCATED_LINES} lines were cut to fit a comment.",
        "list": "✂️ Diffs were left out to fit a comment; changed objects are listed.",
        "summary": "✂️ Only the summary fits a comment; every change is in the full report.",
    }
    for level in ("full", "truncated", "list", "summary"):
        body: list[str] = []
        if level != "summary":
            for g in result.groups:
                body += _md_group(g, level)
        note = [notes[level] + f" Full report: {report}.", ""] if level != "full" else []
        text = "\n".join([*top, *note, *body])
        if len(text) <= limit:
            return text
    # Even the summary is too long (a huge table): keep what fits, and say so.
    tail = f"\n\n✂️ Cut to fit a comment. Full report: {report}.\n"
    return "\n".join(top)[: limit - len(tail)] + tail
