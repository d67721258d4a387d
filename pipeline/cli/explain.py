"""`hydrate explain`: where a rendered value comes from."""

from __future__ import annotations

import json
from typing import Any

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context

_SHOWN_FIELDS = 6


@cli.command()
@click.argument("cluster")
@click.argument("package")
@click.argument("path", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@jobs_option
@click.pass_obj
def explain(ctx: Context, cluster: str, package: str, path: str | None, fmt: str, jobs: int) -> None:
    """Show where what PACKAGE renders on CLUSTER comes from.

    Lists the layers that apply, in order (the package, then overlays of the class, the
    site and the cluster); for a Helm package every values key's final value and the
    file and line that set it (chart default, package, class, site, cluster; a null that
    deletes a key is shown); and which Component changed which object (the package is
    built again with each Component added in turn, and the objects compared).

    PATH narrows it to one value and its history: a values key (`replicaCount`,
    `resources.limits.cpu`) or an object's field (`Deployment/pos-app:spec.replicas`,
    `Deployment/pos/pos-app:spec.template.spec.containers[0].image`).

    \b
    Examples:
      hydrate explain store-0003 pos-app
      hydrate explain store-0003 pos-app replicaCount
      hydrate explain store-0003 log-shipper DaemonSet/log-shipper:spec.template.spec.tolerations
    """
    from pipeline.commands import explain as explain_mod

    found = explain_mod.explain(ctx, explain_mod.ExplainOptions(cluster, package, path, jobs))
    if fmt == "json":
        click.echo(json.dumps(as_json(found), indent=2, ensure_ascii=False, default=str))
    else:
        click.echo(as_text(found), nl=False)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def as_json(e: Any) -> dict[str, Any]:
    """The JSON shape (docs/validation.md, "hydrate explain")."""
    doc: dict[str, Any] = {
        "cluster": e.cluster.name, "class": e.cluster.class_name, "site": e.cluster.site,
        "environment": e.cluster.environment, "package": e.package.name, "type": e.package.type,
        "layers": [{"scope": layer.scope, "path": layer.path, "files": list(layer.files),
                    "component": layer.component} for layer in e.layers],
        "values": None if e.values is None else {
            key: {"value": e.values.values.get(key), "deleted": key not in e.values.values,
                  "history": [_step(s) for s in steps]}
            for key, steps in e.values.history.items()},
        "steps": [{"label": s.label, "changes": [{"object": c.object, "change": c.change,
                                                   "fields": list(c.fields)} for c in s.changes]}
                  for s in e.steps],
        "path": e.path,
    }
    if e.value_history:
        doc["history"] = [_step(s) for s in e.value_history]
    if e.field_history:
        doc["history"] = [{"step": f.label, "present": f.present, "value": f.value} for f in e.field_history]
    return doc


def _step(s: Any) -> dict[str, Any]:
    return {"layer": s.layer, "path": s.path, "line": s.line, "value": s.value,
            "deleted": s.deleted, "rendered": s.rendered}


def _holds(e: Any, layer: Any) -> str:
    """What a layer brings, in a few words."""
    if layer.scope == "package":
        if e.package.type == "helm":
            extra = ", values.yaml" if "values.yaml" in layer.files else ""
            return f"chart {e.package.chart}{extra}"
        return f"kustomization.yaml and {len(layer.files) - 2} more files"
    values = [f for f in layer.files if f.removesuffix(".j2") == "values.yaml"]
    rest = [f for f in layer.files if f not in values]
    parts = values + ([f"Component ({', '.join(rest)})"] if layer.component else rest)
    return ", ".join(parts)


def as_text(e: Any) -> str:
    c = e.cluster
    out = [f"{e.package.name} ({e.package.type}) on {c.name} (class {c.class_name}, site {c.site}, "
           f"environment {c.environment})", "", "layers, in order:"]
    for layer in e.layers:
        out.append(f"  {layer.scope:<8} {layer.path}/  {_holds(e, layer)}")
    if e.value_history:
        width = max(len(s.where()) for s in e.value_history)
        out += ["", f"{e.path}:"]
        out += [f"  {s.layer:<14} {s.where():<{width}}  {'deleted (null)' if s.deleted else _show(s.value)}"
                for s in e.value_history]
        return "\n".join(out) + "\n"
    if e.field_history:
        width = max(len(f.label) for f in e.field_history)
        out += ["", f"{e.path}:"]
        before: tuple[bool, Any] = (False, None)
        for index, f in enumerate(e.field_history):
            shown = _show(f.value) if f.present else "(absent)"
            changed = index > 0 and (f.present, f.value) != before
            out.append(f"  {f.label:<{width}}  {shown}{'  ← changed here' if changed else ''}")
            before = (f.present, f.value)
        return "\n".join(out) + "\n"
    if e.values is not None:
        out += ["", "values (final value, and the file and line that set it):"]
        for key, steps in e.values.history.items():
            s = steps[-1]
            shown = "deleted (null)" if s.deleted else _show(e.values.values.get(key))
            over = f"  (over {len(steps) - 1} earlier)" if len(steps) > 1 else ""
            out.append(f"  {key} = {shown}  ← {s.layer} {s.where()}{over}")
    out += ["", "builds:"]
    for step in e.steps:
        out.append(f"  {step.label}")
        for ch in step.changes:
            fields = ", ".join(ch.fields[:_SHOWN_FIELDS]) + (" …" if len(ch.fields) > _SHOWN_FIELDS else "")
            out.append(f"    {ch.change:<8} {ch.object}{f': {fields}' if fields else ''}")
    return "\n".join(out) + "\n"
