"""`hydrate explain CLUSTER PACKAGE [PATH]`: where what a package renders on a cluster
comes from, computed rather than guessed.

* The layers that apply, in order (`Inventory.layers_of`), and what each holds.
* For a Helm package, every values key's final value and the file and line that set it
  (`pipeline.config.provenance`: the chart's defaults, the package's values.yaml, each
  layer's values file, a `.j2` rendered for the cluster as a render renders it).
* For Components, the objects each one added, removed or changed. Kustomize's own
  records cannot tell (its transformer annotations mark objects a patch never touched),
  so the package is built with the first k Components for k = 0..n, through the same
  materialiser, runner and cache as `hydrate render`, and each build is compared with
  the one before. For a Helm package, build 0 is the chart's output read back by
  kustomize with no Component, so kustomize's own rewriting is no Component's change.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.commands.context import Context, load_inventory
from pipeline.config import kustomizations, provenance
from pipeline.config.model import Cluster, Inventory, Package, suggest
from pipeline.config.provenance import Key, Source
from pipeline.config.schema import parse
from pipeline.config.source import Tree
from pipeline.config.templating import Templates
from pipeline.errors import ConfigError
from pipeline.render import materialise as mz
from pipeline.render import postprocess
from pipeline.render.resources import ResId
from pipeline.render.runner import Runner
from pipeline.render.tools import Toolset, discover
from pipeline.words import counted

FORMS = ("a values key (replicaCount, resources.limits.cpu) or an object field "
         "(Kind/name:field.path or Kind/namespace/name:field.path, e.g. "
         "Deployment/pos-app:spec.template.spec.containers[0].image)")
_OBJECT = re.compile(r"(?P<kind>[A-Z][A-Za-z0-9]*)(?:\.(?P<group>[a-z0-9.-]+))?/(?P<rest>.+)")
_SHOWN = 12  # objects named in an error message


@dataclass(frozen=True)
class ExplainOptions:
    cluster: str
    package: str
    path: str | None = None  # a values key or Kind/[namespace/]name:field.path
    jobs: int = os.cpu_count() or 1


@dataclass(frozen=True)
class LayerInfo:
    """One layer: the package itself (scope "package"), or an overlay directory."""

    scope: str  # package, class, site, cluster
    owner: str  # the package, class, site or cluster it belongs to
    path: str
    values: str | None = None  # its values file (a name in `path`)
    kustomization: str | None = None  # the package's kustomization, or the layer's Component
    files: tuple[str, ...] = ()  # everything else (the chart's files not included)
    chart: str | None = None  # a Helm package's chart directory


@dataclass(frozen=True)
class Changed:
    object: ResId
    fields: tuple[Key, ...]  # the shortest paths that differ (provenance.changed_fields)


@dataclass(frozen=True)
class ComponentEffect:
    """What one Component did to the objects of the builds before it."""

    layer: LayerInfo
    added: tuple[ResId, ...]
    removed: tuple[ResId, ...]
    changed: tuple[Changed, ...]


@dataclass(frozen=True)
class Query:
    path: str  # as given
    key: Key  # the values key, or the object's field
    object: ResId | None  # None: a values key
    history: tuple[provenance.Step, ...]
    entries: tuple[provenance.Entry, ...] = ()  # values: the leaves at or under the key

    @property
    def set_by(self) -> int | None:
        """The step that gave the value its final state (None: no step did)."""
        return next((i for i in reversed(range(len(self.history)))
                     if self.history[i].change in ("set", "changed", "deleted")), None)


@dataclass(frozen=True)
class Explanation:
    cluster: Cluster
    package: Package
    layers: tuple[LayerInfo, ...]
    values: tuple[provenance.Entry, ...] | None  # Helm only, and without PATH
    components: tuple[ComponentEffect, ...] | None  # without PATH
    query: Query | None = None


Objects = dict[ResId, Mapping[str, Any]]


def ref(rid: ResId) -> str:
    """`Kind/namespace/name` (`Kind/name` for a cluster-scoped object), as PATH takes it."""
    return "/".join(p for p in (rid.kind, rid.namespace, rid.name) if p)


def explain(ctx: Context, opts: ExplainOptions) -> Explanation:
    """The explanation for one (cluster, package); ConfigError naming what is unknown."""
    tree, inv = load_inventory(ctx)
    cluster = inv.cluster(opts.cluster)
    pkg = _package(inv, cluster, opts.package)
    target = _parse_path(opts.path, pkg) if opts.path is not None else None
    layers = _layers(tree, inv, cluster, pkg)
    with tempfile.TemporaryDirectory(prefix="hydrate-explain-") as workdir:
        tools = discover(ctx.environ, Path(workdir), ctx.tools_memo())
        files = values_files(tree, inv, cluster, pkg, mz.Materialiser(tree, inv, tools)) \
            if pkg.type == "helm" else []
        if isinstance(target, tuple):
            return Explanation(cluster, pkg, layers, None, None, _value_query(opts.path or "", target, files))
        components = [info for info in layers[1:] if info.kustomization is not None]
        builds: list[Objects] = []
        if target is not None or components:
            runner = Runner(tree, tools, workdir=Path(workdir), jobs=opts.jobs, cache=ctx.cache(),
                            environ=ctx.environ)
            builds = _builds(tree, inv, cluster, pkg, tools, runner)
    if target is not None:
        steps = [Source("chart", pkg.chart) if pkg.chart else Source("package", pkg.path),
                 *(Source(c.scope, c.path) for c in components)]
        return Explanation(cluster, pkg, layers, None, None, _field_query(target, steps, builds))
    values = tuple(provenance.entries(provenance.fold(files))) if pkg.type == "helm" else None
    effects = tuple(_effect(info, before, after)
                    for info, before, after in zip(components, builds[:-1], builds[1:], strict=True))
    return Explanation(cluster, pkg, layers, values, effects)


def _package(inv: Inventory, cluster: Cluster, name: str) -> Package:
    runs = inv.packages_of(cluster)
    if name in runs:
        return inv.packages[name]
    if name not in inv.packages:
        raise ConfigError(f"unknown package {name!r}{suggest(name, inv.packages)} (packages are "
                          f"the directories in bases/); cluster {cluster.name} runs: {', '.join(runs)}")
    raise ConfigError(f"cluster {cluster.name} does not run package {name!r} (class "
                      f"{cluster.class_name}); it runs: {', '.join(runs)}")


@dataclass(frozen=True)
class _ObjectPath:
    """An object field PATH: a kind, and the ways to read the rest (a name may hold a
    colon: each (namespace, name, field) split is tried against the objects, in order)."""

    text: str
    kind: str
    group: str | None
    splits: tuple[tuple[str | None, str, Key], ...]


def _parse_path(text: str, pkg: Package) -> Key | _ObjectPath:
    m = _OBJECT.fullmatch(text)
    if m is None:
        key = provenance.parse_key(text, indexes=False)
        if key is None:
            raise ConfigError(f"malformed PATH {text!r}: give {FORMS}; quote a name holding a "
                              'dot, e.g. nodeSelector."kubernetes.io/os"')
        if pkg.type != "helm":
            raise ConfigError(f"PATH {text!r} is a values key, but {pkg.name} is a kustomize "
                              "package (no Helm values); give an object field, Kind/name:field.path "
                              "or Kind/namespace/name:field.path")
        return key
    splits = []
    for colon in (i for i, ch in enumerate(m["rest"]) if ch == ":"):
        obj, key = m["rest"][:colon], provenance.parse_key(m["rest"][colon + 1:])
        parts = obj.split("/")
        if key is not None and len(parts) <= 2 and all(parts):
            splits.append((parts[0] if len(parts) == 2 else None, parts[-1], key))
    if not splits:
        raise ConfigError(f"malformed PATH {text!r}: an object field is Kind/name:field.path or "
                          "Kind/namespace/name:field.path, e.g. Deployment/pos-app:spec.replicas "
                          "(list items as containers[0])")
    return _ObjectPath(text, m["kind"], m["group"], tuple(splits))


def _layers(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package) -> tuple[LayerInfo, ...]:
    own = [f for f in tree.files(pkg.path) if f != "package.yaml"]
    if pkg.type == "helm":
        assert pkg.chart is not None
        inside = pkg.chart.removeprefix(f"{pkg.path}/") + "/"
        values = "values.yaml" if "values.yaml" in own else None
        rest = tuple(f for f in own if f != values and not f.startswith(inside))
        found = [LayerInfo("package", pkg.name, pkg.path, values, None, rest, pkg.chart)]
    else:
        own_k = next(n for n in kustomizations.NAMES if n in own)
        found = [LayerInfo("package", pkg.name, pkg.path, None, own_k,
                           tuple(f for f in own if f != own_k))]
    for layer in inv.layers_of(cluster, pkg.name):
        values = next((f for f in layer.files if f.removesuffix(".j2") == "values.yaml"), None)
        kfile = next((f for f in layer.files if f.removesuffix(".j2") in kustomizations.NAMES), None)
        found.append(LayerInfo(mz.LAYER_DIRS[layer.scope], layer.owner, layer.path, values, kfile,
                               tuple(f for f in layer.files if f not in (values, kfile))))
    return tuple(found)


# --- Values -------------------------------------------------------------------------------

def _values_file(step: str, file: str, text: bytes,
                 rendered_from: str | None = None) -> provenance.ValuesFile:
    """A values file read as `Materialiser` reads it (the same parser, the same errors)."""
    where = rendered_from or file
    data = parse(where, text)
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{where}:1: Helm values must be a mapping (key: value lines), "
                          f"not a {type(data).__name__}")
    return provenance.ValuesFile(step, file, data or {}, provenance.key_lines(text), rendered_from)


def values_files(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package,
                  mat: mz.Materialiser) -> list[provenance.ValuesFile]:
    """The values files in the order Helm applies them: chart defaults, the package's
    values.yaml, then each layer's (a template rendered for the cluster)."""
    assert pkg.chart is not None
    found = [_values_file(step, path, tree.read(path))
             for step, path in (("chart", f"{pkg.chart}/values.yaml"), ("package", f"{pkg.path}/values.yaml"))
             if tree.is_file(path)]
    templates = Templates(tree)
    for layer in inv.layers_of(cluster, pkg.name):
        name = next((f for f in layer.files if f.removesuffix(".j2") == "values.yaml"), None)
        if name is None:
            continue
        path, step = f"{layer.path}/{name}", mz.LAYER_DIRS[layer.scope]
        if name.endswith(".j2"):
            text = templates.render(path, mat.context(cluster, pkg), f"cluster {cluster.name}")
            found.append(_values_file(step, f"{layer.path}/values.yaml", text, rendered_from=path))
        else:
            found.append(_values_file(step, path, tree.read(path)))
    return found


def _value_query(text: str, key: Key, files: Sequence[provenance.ValuesFile]) -> Query:
    known = provenance.plain(provenance.fold(files))
    key = provenance.resolve(known, key)
    history = provenance.history(files, key)
    if all(s.change == "absent" for s in history):
        raise ConfigError(f"no values key {text!r}{provenance.near(known, key)}")
    entries = tuple(e for e in provenance.entries(provenance.fold(files)) if e.key[:len(key)] == key)
    return Query(text, key, None, history, entries)


# --- Builds with the first k Components ------------------------------------------------------

def _inputs(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package, tools: Toolset) -> list[mz.Input]:
    """The package's input with only the first k Components, for k = 0..n: later layers
    keep their values and files but lose their kustomization."""
    layers = inv.layers_of(cluster, pkg.name)
    with_component = [layer for layer in layers if layer.has_component]
    inputs = []
    for k in range(len(with_component) + 1):
        variant = dict(inv.layers)
        for layer in with_component[k:]:
            files = tuple(f for f in layer.files if f.removesuffix(".j2") not in kustomizations.NAMES)
            variant[(layer.scope, layer.owner, layer.package)] = replace(layer, files=files)
        inputs.append(mz.Materialiser(tree, replace(inv, layers=variant), tools).input(cluster, pkg.name))
    return inputs


def _builds(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package, tools: Toolset,
            runner: Runner) -> list[Objects]:
    """The package's objects built with the first k Components, k = 0..n."""
    where = f"{cluster.name}/{pkg.name}"
    inputs = _inputs(tree, inv, cluster, pkg, tools)
    runs: list[mz.Run] = [inp.run for inp in inputs]
    if pkg.type == "helm":
        chart = runner.execute([(inputs[0].run, [where])])[inputs[0].run.key]
        if len(inputs) == 1:
            return [_objects(chart, pkg, where)]
        identity = {"kustomization.yaml": mz.blob(mz.wrapper([mz.HELM_OUTPUT], []))}
        overlays = [mz.Overlay(identity, mz.digest(mz.files_digest(identity))),
                    *(inp.overlay for inp in inputs[1:] if inp.overlay is not None)]
        named = mz.blob(postprocess.name_hooks(chart, where))
        runs = [mz.Run("kustomize", (".",), {**o.files, mz.HELM_OUTPUT: named},
                    mz.overlay_key(tools.kustomize, o.digest, chart), o.probes, o.places) for o in overlays]
    distinct = {run.key: run for run in runs}
    outputs = runner.execute([(run, [where]) for run in distinct.values()])
    return [_objects(outputs[run.key], pkg, where) for run in runs]


def _objects(output: bytes, pkg: Package, where: str) -> Objects:
    """A build's objects as a render writes them, without hydrate's own annotations (the
    package and the sync-wave, which come from the whole cluster's graph)."""
    parsed = postprocess.parse_output(output, where)
    found: Objects = {}
    for res in postprocess.finish(parsed, package=pkg.name, namespace=pkg.namespace, wave=0,
                                  scopes=parsed.crds, where=where):
        body = dict(res.body)
        meta = dict(body["metadata"])
        ours = (postprocess.PACKAGE_ANNOTATION, postprocess.WAVE_ANNOTATION)
        annotations = {k: v for k, v in meta.pop("annotations", {}).items() if k not in ours}
        body["metadata"] = {**meta, "annotations": annotations} if annotations else meta
        found[res.id] = body
    return found


def _effect(info: LayerInfo, before: Objects, after: Objects) -> ComponentEffect:
    both = sorted(set(before) & set(after))
    return ComponentEffect(
        info, tuple(sorted(set(after) - set(before))), tuple(sorted(set(before) - set(after))),
        tuple(Changed(rid, tuple(provenance.changed_fields(before[rid], after[rid])))
              for rid in both if before[rid] != after[rid]))


def _find(target: _ObjectPath, known: Sequence[ResId]) -> tuple[ResId, Key]:
    """The one object PATH names, and the field."""
    for namespace, name, key in target.splits:
        found = [rid for rid in known if rid.kind == target.kind and rid.name == name
                 and target.group in (None, rid.group) and namespace in (None, rid.namespace)]
        if len(found) > 1:
            raise ConfigError(f"{target.text!r} matches {counted(len(found), 'object')} ("
                              f"{', '.join(map(ref, found))}); name one as Kind/namespace/name:field")
        if found:
            return found[0], key
    refs = [ref(rid) for rid in known]
    wanted = target.text[:target.text.rindex(":")]
    shown = ", ".join(refs[:_SHOWN]) + (f" and {len(refs) - _SHOWN} more" if len(refs) > _SHOWN else "")
    raise ConfigError(f"no object {wanted}{suggest(wanted, refs)}: the package renders {shown}")


def _field_query(target: _ObjectPath, steps: Sequence[Source], builds: Sequence[Objects]) -> Query:
    rid, key = _find(target, sorted({rid for objs in builds for rid in objs}))
    history: list[provenance.Step] = []
    before: tuple[bool, Any] = (False, None)
    for source, objs in zip(steps, builds, strict=True):
        now = provenance.get(objs[rid], key) if rid in objs else (False, None)
        change = ("unchanged" if now == before else "changed") if before[0] and now[0] else \
            "set" if now[0] else "deleted" if before[0] else "absent"
        history.append(provenance.Step(source, now[0], now[1], change))
        before = now
    if all(s.change == "absent" for s in history):
        last = next(objs[rid] for objs in reversed(builds) if rid in objs)
        raise ConfigError(f"{ref(rid)} has no field {provenance.format_key(key)!r}"
                          f"{provenance.near(last, key)}")
    return Query(target.text, key, rid, tuple(history))
