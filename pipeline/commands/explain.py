"""`hydrate explain CLUSTER PACKAGE [PATH]`: which layers apply to a package on a
cluster, where each Helm value comes from, and which Component changed which object.

Values: the chart's defaults, the package's values.yaml and each layer's values file
(`.j2` rendered for the cluster), traced key by key (`pipeline.config.provenance`).
Components: kustomize's own records cannot say which patch touched what (its
transformer annotations mark objects a patch never changed), so the package is built
again with the first k Components for each k, and the objects compared step by step.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.commands.context import Context, load_inventory
from pipeline.config import provenance
from pipeline.config.model import Cluster, Inventory, Package
from pipeline.config.source import Tree
from pipeline.config.templating import Templates
from pipeline.errors import ConfigError
from pipeline.render import graph
from pipeline.render.materialise import HELM_OUTPUT, LAYER_DIRS, Materialiser, Run, blob, run_key, wrapper
from pipeline.render.postprocess import parse_output
from pipeline.render.runner import Runner
from pipeline.render.tools import Toolset, discover

_OBJECT_PATH = re.compile(r"(?P<kind>[^/:]+)/(?:(?P<ns>[^/:]+)/)?(?P<name>[^/:]+):(?P<field>.+)")
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_ABSENT = object()


@dataclass(frozen=True)
class ExplainOptions:
    cluster: str
    package: str
    path: str | None = None
    jobs: int = os.cpu_count() or 1


@dataclass(frozen=True)
class LayerInfo:
    scope: str  # package, class, site, cluster
    path: str
    files: tuple[str, ...]
    component: bool


@dataclass(frozen=True)
class Change:
    object: str  # Kind/namespace/name
    change: str  # added, removed, changed
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepInfo:
    """One build of the package: the chart or package alone, then each Component."""

    label: str  # "package" / "chart", or the Component's repository path
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class FieldStep:
    label: str
    value: Any  # _ABSENT never leaves this module: absent is None with present False
    present: bool


@dataclass(frozen=True)
class Explanation:
    cluster: Cluster
    package: Package
    layers: tuple[LayerInfo, ...]
    values: provenance.Trace | None  # Helm packages only
    steps: tuple[StepInfo, ...]
    path: str | None = None
    value_history: tuple[provenance.Step, ...] = ()  # PATH is a values key
    field_history: tuple[FieldStep, ...] = ()  # PATH is an object's field
    notes: tuple[str, ...] = field(default_factory=tuple)


def _layers(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package) -> tuple[LayerInfo, ...]:
    found = [LayerInfo("package", pkg.path, tuple(tree.files(pkg.path)), pkg.type == "kustomize")]
    for layer in inv.layers_of(cluster, pkg.name):
        found.append(LayerInfo(LAYER_DIRS[layer.scope], layer.path, layer.files, layer.has_component))
    return tuple(found)


def _values(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package,
            mat: Materialiser) -> provenance.Trace:
    sources: list[provenance.Source] = []
    assert pkg.chart is not None
    for label, path in (("chart default", f"{pkg.chart}/values.yaml"),
                        ("package", f"{pkg.path}/values.yaml")):
        if tree.is_file(path):
            sources.append(provenance.Source(label, path, tree.read(path)))
    templates = Templates(tree)
    ctx = mat.context(cluster, pkg)
    for layer in inv.layers_of(cluster, pkg.name):
        scope = LAYER_DIRS[layer.scope]
        if "values.yaml" in layer.files:
            path = f"{layer.path}/values.yaml"
            sources.append(provenance.Source(scope, path, tree.read(path)))
        elif "values.yaml.j2" in layer.files:
            path = f"{layer.path}/values.yaml.j2"
            text = templates.render(path, ctx, f"cluster {cluster.name}")
            sources.append(provenance.Source(scope, path, text, rendered=True))
    return provenance.trace(sources)


def _objects(output: bytes, where: str) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for doc in parse_output(output, where).docs:
        meta = doc["metadata"]
        ns = meta.get("namespace")
        found[f"{doc['kind']}/{ns}/{meta['name']}" if ns else f"{doc['kind']}/{meta['name']}"] = doc
    return found


def _leaves(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


Objects = dict[str, Mapping[str, Any]]


def _compare(before: Objects, after: Objects) -> tuple[Change, ...]:
    changes: list[Change] = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            changes.append(Change(name, "added"))
        elif name not in after:
            changes.append(Change(name, "removed"))
        elif before[name] != after[name]:
            old, new = dict(_leaves(before[name])), dict(_leaves(after[name]))
            fields = sorted(k for k in set(old) | set(new) if old.get(k, _ABSENT) != new.get(k, _ABSENT))
            changes.append(Change(name, "changed", tuple(fields)))
    return tuple(changes)


def _builds(inv: Inventory, cluster: Cluster, pkg: Package, mat: Materialiser, runner: Runner,
            tools: Toolset) -> list[tuple[str, dict[str, Mapping[str, Any]]]]:
    """(label, objects) of the package alone, then with each Component added in turn."""
    inp = mat.input(cluster, pkg.name)
    where = f"{cluster.name}/{pkg.name}"
    components = [(f"layers/{i}-{LAYER_DIRS[layer.scope]}", layer.path)
                  for i, layer in enumerate(inv.layers_of(cluster, pkg.name)) if layer.has_component]
    builds: list[tuple[str, dict[str, Mapping[str, Any]]]] = []
    if pkg.type == "helm":
        chart = runner.execute([(inp.run, [where])])[inp.run.key]
        builds.append(("chart", _objects(chart, where)))
        base_files = dict(inp.overlay.files) if inp.overlay else {}
        base_files[HELM_OUTPUT] = blob(chart)
        resources, places, probes = [HELM_OUTPUT], dict(inp.overlay.places) if inp.overlay else {}, \
            inp.overlay.probes if inp.overlay else ()
        first = 1
    else:
        base_files, resources = dict(inp.run.files), ["package"]
        places, probes, first = dict(inp.run.places), inp.run.probes, 0
    for k in range(first, len(components) + 1):
        chosen = [d for d, _ in components[:k]]
        files = {**base_files, "kustomization.yaml": blob(wrapper(resources, chosen))}
        wanted = tuple(p for p in probes if p.file.startswith(("package/", *(f"{d}/" for d in chosen))))
        run = Run("kustomize", (".",), files, run_key(tools.kustomize, (".",), files), wanted, places)
        output = runner.execute([(run, [where])])[run.key]
        builds.append((components[k - 1][1] if k else "package", _objects(output, where)))
    return builds


def _field(obj: Mapping[str, Any] | None, path: str) -> tuple[Any, bool]:
    value: Any = obj
    for key, index in _STEP.findall(path):
        if index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        elif key and isinstance(value, Mapping) and key in value:
            value = value[key]
        else:
            return None, False
    return value, obj is not None


def _near(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.7)
    return f" (nearest: {', '.join(close)})" if close else ""


def explain(ctx: Context, opts: ExplainOptions) -> Explanation:
    """The explanation; ConfigError naming what is unknown."""
    tree, inv = load_inventory(ctx)
    cluster = inv.cluster(opts.cluster)
    runs = graph.packages_for(inv, cluster)
    if opts.package not in runs:
        raise ConfigError(f"cluster {cluster.name} does not run package {opts.package!r}"
                          f"{_near(opts.package, runs)}; it runs: {', '.join(runs)}")
    pkg = inv.packages[opts.package]
    with tempfile.TemporaryDirectory(prefix="hydrate-explain-") as workdir:
        tools = discover(ctx.environ, Path(workdir), ctx.tools_memo())
        mat = Materialiser(tree, inv, tools)
        values = _values(tree, inv, cluster, pkg, mat) if pkg.type == "helm" else None
        runner = Runner(tree, tools, workdir=Path(workdir), jobs=opts.jobs, cache=ctx.cache())
        builds = _builds(inv, cluster, pkg, mat, runner, tools)
    steps = [StepInfo(builds[0][0])]
    steps += [StepInfo(label, _compare(builds[i][1], objs)) for i, (label, objs) in enumerate(builds[1:])]
    found = Explanation(cluster, pkg, _layers(tree, inv, cluster, pkg), values, tuple(steps), opts.path)
    if opts.path is None:
        return found
    match = _OBJECT_PATH.fullmatch(opts.path)
    if match is None:
        if values is None:
            raise ConfigError(f"{opts.path!r}: package {pkg.name} is a Kustomize package, without "
                              "Helm values; give an object field as Kind/name:field.path or "
                              "Kind/namespace/name:field.path")
        history = values.history.get(opts.path)
        if history is None:
            raise ConfigError(f"no values key {opts.path!r} for {cluster.name}/{pkg.name}"
                              f"{_near(opts.path, list(values.history))}")
        return replace(found, value_history=history)
    kind, ns, name, path = match["kind"], match["ns"], match["name"], match["field"]
    wanted = f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}"
    final = builds[-1][1]
    if not any(wanted in objs for _, objs in builds):
        # A namespaced object named without its namespace: the one with that kind and name.
        same = [o for o in final if o.split("/")[0] == kind and o.split("/")[-1] == name]
        if ns is None and len(same) == 1:
            wanted = same[0]
        else:
            raise ConfigError(f"{cluster.name}/{pkg.name} renders no {wanted}{_near(wanted, list(final))}; "
                              f"it renders: {', '.join(sorted(final))}")
    history_f = []
    for label, objs in builds:
        value, present = _field(objs.get(wanted), path)
        history_f.append(FieldStep(label, value, present))
    return replace(found, path=f"{wanted}:{path}", field_history=tuple(history_f))
