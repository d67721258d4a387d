"""`hydrate explain`: which layer set which value, and which Component changed which object."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context

if TYPE_CHECKING:  # the CLI imports this module at start-up: keep it light
    from pipeline.commands.explain import Explanation, LayerInfo, Query
    from pipeline.config.provenance import Source, Step
    from pipeline.render.resources import ResId

_WIDEST_VALUE = 60  # characters of a value shown in a text table


@cli.command()
@click.argument("cluster")
@click.argument("package")
@click.argument("path", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json (shape in docs/explain.md).")
@jobs_option
@click.pass_obj
def explain(ctx: Context, cluster: str, package: str, path: str | None, fmt: str, jobs: int) -> None:
    """Show which layer set which value and which Component changed which object.

    For PACKAGE on CLUSTER: the layers that apply, in order (the package, then
    overlays/environments/<env>/, overlays/classes/<class>/, overlays/sites/<site>/ and
    overlays/clusters/<cluster>/),
    and what each holds; for a Helm package every values key's final value with the file
    and line that set it (chart default, the package's values.yaml, each layer's values,
    .j2 files as rendered for the cluster; a null shows as deleted); and for each
    Component the objects it added, removed or changed (found by building the package
    with the first k Components, k = 0..n, and comparing: a few more tool runs).

    PATH narrows it to one value and its history: a values key (replicaCount,
    resources.limits.cpu; quote a name holding a dot: nodeSelector."kubernetes.io/os")
    or an object field, Kind/name:field.path or Kind/namespace/name:field.path with
    list items as containers[0].

    \b
    Examples:
      hydrate explain store-0003 pos-app
      hydrate explain store-0003 pos-app replicaCount
      hydrate explain store-0003 pos-app Deployment/pos-app:spec.template.spec.tolerations
      hydrate explain store-0001 log-shipper --format json
    """
    from pipeline.commands import explain as explain_mod

    found = explain_mod.explain(ctx, explain_mod.ExplainOptions(cluster, package, path, jobs))
    if fmt == "json":
        click.echo(json.dumps(as_json(found), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(as_text(found), nl=False)


# --- JSON (the shape is documented in docs/explain.md) -------------------------------------

def _object(rid: ResId) -> dict[str, str]:
    from pipeline.commands.explain import ref

    return {"ref": ref(rid), "group": rid.group, "kind": rid.kind, "namespace": rid.namespace,
            "name": rid.name}


def _source(s: Source) -> dict[str, Any]:
    return {"step": s.step, "path": s.file, "line": s.line, "renderedFrom": s.rendered_from}


def _layer(layer: LayerInfo) -> dict[str, Any]:
    return {"scope": layer.scope, "owner": layer.owner, "path": layer.path, "values": layer.values,
            "kustomization": layer.kustomization, "chart": layer.chart, "files": list(layer.files)}


def _query(q: Query) -> dict[str, Any]:
    from pipeline.config.provenance import format_key

    last = q.history[-1]
    return {
        "path": q.path, "kind": "value" if q.object is None else "field",
        "object": None if q.object is None else _object(q.object), "key": format_key(q.key),
        "present": last.present, "value": last.value, "setBy": q.set_by,
        "history": [{"source": _source(s.source), "change": s.change, "present": s.present,
                     "value": s.value, **({"object": None if name is None else _object(name)}
                                         if q.names else {})}
                    for s, name in zip(q.history, q.names or [None] * len(q.history), strict=True)],
        "values": [{"key": e.name, "value": e.value, "deleted": e.deleted,
                    "source": _source(e.source)} for e in q.entries],
    }


def as_json(e: Explanation) -> dict[str, Any]:
    """The report as JSON data (docs/explain.md)."""
    from pipeline.config.provenance import format_key

    c, p = e.cluster, e.package
    return {
        "cluster": {"name": c.name, "class": c.class_name, "site": c.site, "environment": c.environment},
        "package": {"name": p.name, "type": p.type, "namespace": p.namespace, "path": p.path},
        "layers": [_layer(layer) for layer in e.layers],
        "values": None if e.values is None else [
            {"key": v.name, "path": list(v.key), "value": v.value, "deleted": v.deleted,
             "source": _source(v.source)} for v in e.values],
        "components": None if e.components is None else [
            {"scope": x.layer.scope, "path": x.layer.path, "kustomization": x.layer.kustomization,
             "added": [_object(r) for r in x.added], "removed": [_object(r) for r in x.removed],
             "changed": [{"object": _object(ch.object), "fields": [format_key(f) for f in ch.fields]}
                         for ch in x.changed],
             "renamed": [{"from": _object(a), "to": _object(b)} for a, b in x.renamed]}
            for x in e.components],
        "query": None if e.query is None else _query(e.query),
        "capabilities": None if e.capabilities is None else {
            "apiVersions": list(e.capabilities.api_versions),
            "falseChecks": list(e.capabilities.false_checks)},
    }


# --- Text ------------------------------------------------------------------------------------

def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _WIDEST_VALUE else text[:_WIDEST_VALUE - 1] + "…"


def _table(rows: Sequence[tuple[str, ...]], indent: str = "  ") -> list[str]:
    """Rows with aligned columns (the last one as it is)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)] if rows else []
    return [(indent + "  ".join(f"{cell:<{w}}" for cell, w in zip(r, widths, strict=False))
             + "  " + r[-1]).rstrip() for r in rows]


def _holds(layer: LayerInfo) -> str:
    parts = [f"chart {layer.chart}"] if layer.chart else []
    if layer.values:
        parts.append(f"{layer.values} (values)")
    if layer.kustomization:
        kind = "Kustomization" if layer.scope == "package" else "Component"
        parts.append(f"{layer.kustomization} ({kind})")
    if layer.files:
        parts.append(", ".join(layer.files))
    return "; ".join(parts)


def _step_row(s: Step, name: ResId | None = None) -> tuple[str, ...]:
    from pipeline.commands.explain import ref

    value = "-" if not s.present else _show(s.value)
    where = str(s.source) + (f" (now {ref(name)})" if s.change == "renamed" and name else "")
    return (s.source.step, s.change, value, where)


def _query_text(q: Query, title: str) -> list[str]:
    from pipeline.commands.explain import ref
    from pipeline.config.provenance import format_key

    name = q.path if q.object is None else f"{ref(q.object)}:{format_key(q.key)}"
    last, by = q.history[-1], q.set_by
    final = _show(last.value) if last.present else "(deleted)" if by is not None else "(absent)"
    setter = q.history[by] if by is not None else None
    verb = "deleted by" if setter is not None and not setter.present else "set by"
    out = [f"{name} on {title}: {final}" + (f", {verb} {setter.source.step} "
                                            f"{setter.source}" if setter else "")]
    out += _table([_step_row(s, name) for s, name in
                   zip(q.history, q.names or [None] * len(q.history), strict=True)])
    if q.object is None and (len(q.entries) > 1 or (q.entries and q.entries[0].key != q.key)):
        out += ["", "values under it:", *_value_rows(q)]
    return out


def _value_rows(q: Query) -> list[str]:
    return _table([(e.name, "(deleted)" if e.deleted else _show(e.value), str(e.source))
                   for e in q.entries])


def as_text(e: Explanation) -> str:
    """The report for people: short, aligned."""
    from pipeline.commands.explain import ref
    from pipeline.config.provenance import format_key

    c, p = e.cluster, e.package
    title = f"{c.name}/{p.name}"
    if e.query is not None:
        return "\n".join(_query_text(e.query, title)) + "\n"
    out = [f"{title} ({p.type} package; class {c.class_name}, site {c.site}, "
           f"environment {c.environment})", "", "layers, in order:"]
    out += _table([(layer.scope, layer.path, _holds(layer)) for layer in e.layers])
    if e.capabilities is not None:
        given = ", ".join(e.capabilities.api_versions) or "none"
        out += ["", "capabilities (the chart reads .Capabilities.APIVersions):",
                f"  given     {given} (besides Helm's built-in APIs)"]
        out += [f"  false     {api}: what it gates is not rendered"
                for api in e.capabilities.false_checks]
    if e.values is not None:
        out += ["", "values (final value, and the file and line that set it):"]
        out += _table([(v.name, "(deleted)" if v.deleted else _show(v.value),
                        f"{'deleted by ' if v.deleted else ''}{v.source}") for v in e.values])
    if e.components:
        out += ["", "components, in order (what each changed in the build before it):"]
        for x in e.components:
            out.append(f"  {x.layer.scope} {x.layer.path}")
            rows = [("added", ref(r), "") for r in x.added]
            rows += [("removed", ref(r), "") for r in x.removed]
            rows += [("renamed", ref(a), f"→ {ref(b)}") for a, b in x.renamed]
            rows += [("changed", ref(ch.object), ", ".join(format_key(f) for f in ch.fields))
                     for ch in x.changed]
            out += _table(rows, "    ") if rows else ["    (no change)"]
    return "\n".join(out) + "\n"
