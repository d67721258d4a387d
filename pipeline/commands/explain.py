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
from functools import partial
from pathlib import Path
from typing import Any

from pipeline.commands.context import Context, load_inventory
from pipeline.config import kustomizations, provenance
from pipeline.config.model import Cluster, Inventory, Package, suggest
from pipeline.config.provenance import Key, Source
from pipeline.config.source import Tree
from pipeline.errors import ConfigError
from pipeline.render import materialise as mz
from pipeline.render import postprocess
from pipeline.render.resources import ResId, Resource
from pipeline.render.runner import Runner
from pipeline.render.tools import Toolset
from pipeline.validate import sources
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
    changed: tuple[Changed, ...]  # by the name after the Component
    renamed: tuple[tuple[ResId, ResId], ...] = ()  # (before, after): namePrefix, nameSuffix...


@dataclass(frozen=True)
class Query:
    path: str  # as given
    key: Key  # the values key, or the object's field
    object: ResId | None  # None: a values key
    history: tuple[provenance.Step, ...]
    entries: tuple[provenance.Entry, ...] = ()  # values: the leaves at or under the key
    names: tuple[ResId | None, ...] = ()  # fields: the object's identity after each step

    @property
    def set_by(self) -> int | None:
        """The step that gave the value its final state (None: no step did)."""
        return next((i for i in reversed(range(len(self.history)))
                     if self.history[i].change in ("set", "changed", "deleted", "restored")), None)


@dataclass(frozen=True)
class Explanation:
    cluster: Cluster
    package: Package
    layers: tuple[LayerInfo, ...]
    values: tuple[provenance.Entry, ...] | None  # Helm only, and without PATH
    components: tuple[ComponentEffect, ...] | None  # without PATH
    query: Query | None = None
    capabilities: Capabilities | None = None  # a chart that reads .Capabilities.APIVersions


@dataclass(frozen=True)
class Capabilities:
    """What the chart was given as `.Capabilities.APIVersions` beyond Helm's built-in
    ones, and the checks (by name) that this left false."""

    api_versions: tuple[str, ...]
    false_checks: tuple[str, ...]


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
        tools = ctx.tools()
        caps = _capabilities(ctx, tree, inv, cluster, pkg, tools, Path(workdir), opts.jobs)
        files = values_files(tree, inv, cluster, pkg, mz.Materialiser(tree, inv, tools)) \
            if pkg.type == "helm" else []
        if isinstance(target, tuple):
            return Explanation(cluster, pkg, layers, None, None, _value_query(opts.path or "", target, files))
        components = [info for info in layers[1:] if info.kustomization is not None]
        builds: list[Objects] = []
        origins: dict[ResId, str | None] = {}
        if target is not None or components:
            runner = Runner(tree, tools, workdir=Path(workdir), jobs=opts.jobs, cache=ctx.cache(),
                            environ=ctx.environ)
            builds, origins = _builds(tree, inv, cluster, pkg, tools, runner,
                                      caps.api_versions if caps else ())
    if target is not None:
        steps = [Source("chart", pkg.chart) if pkg.chart else Source("package", pkg.path),
                 *(Source(c.scope, c.path) for c in components)]
        lines = sources.Lines(partial(_read, tree))
        return Explanation(cluster, pkg, layers, None, None,
                           _field_query(target, steps, builds, origins, lines), caps)
    values = tuple(provenance.entries(provenance.fold(files))) if pkg.type == "helm" else None
    effects = tuple(_effect(info, before, after)
                    for info, before, after in zip(components, builds[:-1], builds[1:], strict=True))
    return Explanation(cluster, pkg, layers, values, effects, capabilities=caps)


def _capabilities(ctx: Context, tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package,
                  tools: Toolset, workdir: Path, jobs: int) -> Capabilities | None:
    """For a chart that reads `.Capabilities.APIVersions`: what a render gives it (the
    cluster rendered through the engine and its cache, which settles them)."""
    if pkg.type != "helm" or not mz.Materialiser(tree, inv, tools).capabilities(pkg).reads:
        return None
    from pipeline.render import engine

    fleet = engine.render(tree, inv, [cluster], tools, jobs=jobs, workdir=workdir / "render",
                          environ=ctx.environ, cache=ctx.cache())
    pair = (cluster.name, pkg.name)
    return Capabilities(fleet.api_versions.get(pair, ()), tuple(fleet.false_checks.get(pair, ())))


def _read(tree: Tree, path: str) -> bytes | None:
    """A repository file for `sources.Lines` (None: none there, or none hydrate may read)."""
    try:
        return tree.read(path) if tree.is_file(path) else None
    except ConfigError:
        return None


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

def values_files(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package,
                 mat: mz.Materialiser) -> list[provenance.ValuesFile]:
    """The values files in the order Helm applies them: the chart's defaults, then the
    ones a render passes (`Materialiser.values_layers`: the same list, read the same way)."""
    assert pkg.chart is not None
    found = []
    chart_values = f"{pkg.chart}/values.yaml"
    if tree.is_file(chart_values):
        text = tree.read(chart_values)
        found.append(provenance.ValuesFile("chart", chart_values, mz.values_of(chart_values, text),
                                           provenance.key_lines(text)))
    found += [provenance.ValuesFile(v.step, v.file, v.values, provenance.key_lines(v.text),
                                    v.rendered_from) for v in mat.values_layers(cluster, pkg)]
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

def _inputs(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package, tools: Toolset,
            apis: tuple[str, ...] = ()) -> list[mz.Input]:
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
        inputs.append(mz.Materialiser(tree, replace(inv, layers=variant), tools).input(
            cluster, pkg.name, apis))
    return inputs


def _builds(tree: Tree, inv: Inventory, cluster: Cluster, pkg: Package, tools: Toolset,
            runner: Runner, apis: tuple[str, ...] = ()) -> tuple[list[Objects], dict[ResId, str | None]]:
    """The package's objects built with the first k Components, k = 0..n; and the
    repository file each object of build 0 came from (a chart's template, a base's file)."""
    where = f"{cluster.name}/{pkg.name}"
    inputs = _inputs(tree, inv, cluster, pkg, tools, apis)
    runs: list[mz.Run] = [inp.run for inp in inputs]
    first = inputs[0].run
    if pkg.type == "helm":
        chart = runner.execute([(first, [where])])[first.key]
        origins = _origins(chart, pkg, where, first.places)
        if len(inputs) == 1:
            return [_objects(chart, pkg, where)], origins
        identity = {"kustomization.yaml": mz.blob(mz.wrapper([mz.HELM_OUTPUT], []))}
        overlays = [mz.Overlay(identity, mz.digest(mz.files_digest(identity))),
                    *(inp.overlay for inp in inputs[1:] if inp.overlay is not None)]
        named = mz.blob(postprocess.name_hooks(chart, where))
        runs = [mz.Run("kustomize", (".",), {**o.files, mz.HELM_OUTPUT: named},
                    mz.overlay_key(tools.kustomize, o.digest, chart), o.probes, o.places) for o in overlays]
    distinct = {run.key: run for run in runs}
    outputs = runner.execute([(run, [where]) for run in distinct.values()])
    if pkg.type != "helm":
        origins = _origins(outputs[first.key], pkg, where, first.places)
    return [_objects(outputs[run.key], pkg, where) for run in runs], origins


def _finished(output: bytes, pkg: Package, where: str,
              places: Mapping[str, str] | None = None) -> tuple[Resource, ...]:
    parsed = postprocess.parse_output(output, where)
    origins = tuple(postprocess.place(o, places) for o in parsed.origins) if places else ()
    return postprocess.finish(parsed, package=pkg.name, namespace=pkg.namespace, wave=0,
                              scopes=parsed.crds, where=where, origins=origins)


def _origins(output: bytes, pkg: Package, where: str,
             places: Mapping[str, str]) -> dict[ResId, str | None]:
    return {res.id: res.origin for res in _finished(output, pkg, where, places)}


def _objects(output: bytes, pkg: Package, where: str) -> Objects:
    """A build's objects as a render writes them, without hydrate's own annotations (the
    package and the sync-wave, which come from the whole cluster's graph)."""
    found: Objects = {}
    for res in _finished(output, pkg, where):
        body = dict(res.body)
        meta = dict(body["metadata"])
        ours = (postprocess.PACKAGE_ANNOTATION, postprocess.WAVE_ANNOTATION)
        annotations = {k: v for k, v in meta.pop("annotations", {}).items() if k not in ours}
        body["metadata"] = {**meta, "annotations": annotations} if annotations else meta
        found[res.id] = body
    return found


def renames(before: Objects, after: Objects) -> dict[ResId, ResId]:
    """Objects a build renamed (new identity → old): gone from `before`'s names and new in
    `after`'s, of the same group and kind, the old name inside the new one (namePrefix,
    nameSuffix) or, failing that, the only one of its kind on both sides."""
    gone = [rid for rid in before if rid not in after]
    new = [rid for rid in after if rid not in before]
    found: dict[ResId, ResId] = {}
    for rid in sorted(new, key=lambda r: -len(r.name)):
        same = [old for old in gone if (old.group, old.kind) == (rid.group, rid.kind)
                and old not in found.values()]
        inside = [old for old in same if old.name in rid.name]
        pick = max(inside, key=lambda r: (r.namespace == rid.namespace, len(r.name)), default=None)
        if pick is None and len(same) == 1 and sum(
                (r.group, r.kind) == (rid.group, rid.kind) for r in new) == 1:
            pick = same[0]
        if pick is not None:
            found[rid] = pick
    return found


def _effect(info: LayerInfo, before: Objects, after: Objects) -> ComponentEffect:
    moved = renames(before, after)
    old = set(moved.values())
    both = sorted((rid, moved.get(rid, rid)) for rid in after if rid in before or rid in moved)
    return ComponentEffect(
        info, tuple(sorted(set(after) - set(before) - set(moved))),
        tuple(sorted(set(before) - set(after) - old)),
        tuple(Changed(rid, tuple(provenance.changed_fields(_unnamed(before[was]), _unnamed(after[rid]))))
              for rid, was in both if _unnamed(before[was]) != _unnamed(after[rid])),
        tuple(sorted((was, rid) for rid, was in moved.items())))


def _unnamed(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`body` without its name and namespace (a rename is reported as one)."""
    meta = {k: v for k, v in body["metadata"].items() if k not in ("name", "namespace")}
    return {**body, "metadata": meta}


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


def _lineage(builds: Sequence[Objects], rid: ResId) -> list[ResId | None]:
    """The object `rid` of the last build as it was named in each build (None: not there
    yet), following renames back."""
    names: list[ResId | None] = [rid]
    for before, after in zip(reversed(builds[:-1]), reversed(builds[1:]), strict=True):
        now = names[0]
        names.insert(0, None if now is None else now if now in before
                     else renames(before, after).get(now))
    return names


def _field_query(target: _ObjectPath, steps: Sequence[Source], builds: Sequence[Objects],
                 origins: Mapping[ResId, str | None], lines: sources.Lines) -> Query:
    rid, key = _find(target, sorted({rid for objs in builds for rid in objs}))
    if rid not in builds[-1]:  # named as an earlier build named it
        later = [r for r in builds[-1] if _lineage(builds, r)[0] == rid]
        rid = later[0] if later else rid
    names = _lineage(builds, rid) if rid in builds[-1] else [
        r if r in objs else None for r, objs in zip([rid] * len(builds), builds, strict=True)]
    history: list[provenance.Step] = []
    before: tuple[bool, Any] = (False, None)
    for index, (source, objs, name) in enumerate(zip(steps, builds, names, strict=True)):
        now = provenance.get(objs[name], key) if name is not None else (False, None)
        renamed = index > 0 and name is not None and names[index - 1] not in (None, name)
        change = ("changed" if now != before else "renamed" if renamed else "unchanged") \
            if before[0] and now[0] else "set" if now[0] else "deleted" if before[0] else "absent"
        if index == 0 and now[0] and name is not None:
            found = lines.find(origins.get(name), name.kind, name.name, provenance.format_key(key))
            if found is not None:
                source = Source(source.step, found.path, found.line)
        history.append(provenance.Step(source, now[0], now[1], change))
        before = now
    if all(s.change == "absent" for s in history):
        last = next(objs[rid] for objs in reversed(builds) if rid in objs)
        raise ConfigError(f"{ref(rid)} has no field {provenance.format_key(key)!r}"
                          f"{provenance.near(last, key)}")
    return Query(target.text, key, rid, tuple(history), names=tuple(names))
