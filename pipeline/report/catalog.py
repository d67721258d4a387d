"""`hydrate catalog`: every package, what it is, needs and provides, where it runs and
which overlay layers change it; as text, markdown or JSON (see docs/catalog.md).

Who uses a package comes from the inventory; the CRDs from a render of the whole fleet.
A `values.yaml.j2` layer's keys are those of its output for each cluster it applies to.
"""

from __future__ import annotations

import json
import textwrap
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config.model import SCOPES, Cluster, Inventory, Layer, Package, Scope
from pipeline.config.schema import parse
from pipeline.config.source import Tree
from pipeline.config.templating import Templates
from pipeline.errors import ConfigError
from pipeline.render.engine import ClusterRender
from pipeline.render.graph import GroupKind
from pipeline.render.materialise import Materialiser
from pipeline.render.resources import Resource
from pipeline.render.tools import Toolset
from pipeline.words import counted

CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
SCOPE_WORDS = {"environments": ("environment", "environments"),
               "classes": ("class", "classes"), "sites": ("site", "sites"),
               "clusters": ("cluster", "clusters")}


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    app_version: str | None


@dataclass(frozen=True)
class CrdUse:
    """The package renders objects of `kinds`, whose CRDs `package` renders."""

    package: str
    kinds: tuple[GroupKind, ...]


@dataclass(frozen=True)
class Override:
    """One overlay layer of the package, the clusters it applies to and what it sets."""

    scope: Scope
    owner: str
    path: str
    clusters: int
    values_keys: tuple[str, ...]  # dotted paths to the values it sets (helm only)
    component: bool  # has a Kustomize Component (patches)


@dataclass(frozen=True)
class Entry:
    name: str
    description: str | None
    owner: str | None
    type: str
    chart: Chart | None
    namespace: str | None
    depends_on: tuple[str, ...]
    crd_uses: tuple[CrdUse, ...]
    provides: tuple[GroupKind, ...]  # the CRDs it renders
    classes: tuple[str, ...]
    added_by: tuple[str, ...]  # clusters whose packages.add lists it
    removed_by: tuple[str, ...]
    clusters: Mapping[str, int]  # environment → clusters running it, in promotion order
    overrides: tuple[Override, ...]

    @property
    def layer_counts(self) -> dict[str, int]:
        return {s: sum(1 for o in self.overrides if o.scope == s) for s in SCOPES}

    @property
    def values_keys(self) -> tuple[str, ...]:
        return tuple(sorted({k for o in self.overrides for k in o.values_keys}))

    @property
    def add_command(self) -> str:
        return f"hydrate add {self.name} --class <class>"


@dataclass(frozen=True)
class Catalog:
    environments: tuple[str, ...]
    clusters: int
    packages: tuple[Entry, ...]


def build(tree: Tree, inv: Inventory, renders: Sequence[ClusterRender], tools: Toolset) -> Catalog:
    """The catalog of `inv`'s packages; `renders`: the whole fleet, rendered."""
    provides, uses = _crds(renders)
    applies: dict[str, list[Cluster]] = defaultdict(list)  # layer path → its clusters
    running: dict[str, list[Cluster]] = defaultdict(list)
    for cluster in inv.select():
        for name in inv.packages_of(cluster):
            running[name].append(cluster)
            for layer in inv.layers_of(cluster, name):
                applies[layer.path].append(cluster)
    layers: dict[str, list[Layer]] = defaultdict(list)
    for layer in sorted(inv.layers.values(), key=lambda la: (SCOPES.index(la.scope), la.owner)):
        layers[layer.package].append(layer)  # in the order they apply
    keys = _ValuesKeys(tree, inv, tools)
    entries = []
    for pkg in sorted(inv.packages.values(), key=lambda p: p.name):
        overrides = tuple(
            Override(la.scope, la.owner, la.path, len(applies[la.path]),
                     keys.of(la, pkg, applies[la.path]) if pkg.type == "helm" else (),
                     la.has_component)
            for la in layers[pkg.name])
        envs = [c.environment for c in running[pkg.name]]
        entries.append(Entry(
            pkg.name, pkg.description, pkg.owner, pkg.type, _chart(tree, pkg), pkg.namespace,
            pkg.depends_on,
            tuple(CrdUse(src, tuple(sorted(kinds))) for src, kinds in sorted(uses[pkg.name].items())),
            tuple(sorted(provides[pkg.name])),
            tuple(sorted(c.name for c in inv.classes.values() if pkg.name in c.packages)),
            tuple(sorted(c.name for c in inv.clusters.values() if pkg.name in c.add)),
            tuple(sorted(c.name for c in inv.clusters.values() if pkg.name in c.remove)),
            {e: envs.count(e) for e in inv.env_names}, overrides))
    return Catalog(inv.env_names, len(inv.clusters), tuple(entries))


def _crds(renders: Sequence[ClusterRender]) -> tuple[dict[str, set[GroupKind]],
                                                     dict[str, dict[str, set[GroupKind]]]]:
    """Per package, the CRDs it renders, and per package whose CRDs it uses, those kinds."""
    provides: dict[str, set[GroupKind]] = defaultdict(set)
    uses: dict[str, dict[str, set[GroupKind]]] = defaultdict(lambda: defaultdict(set))
    memo: dict[bytes, GroupKind] = {}  # most clusters render the same CRD objects
    for render in renders:
        owner: dict[GroupKind, str] = {}
        for pkg in render.packages:
            for res in pkg.resources:
                if (res.id.group, res.id.kind) == CRD:
                    gk = memo.get(res.text)
                    if gk is None:
                        gk = memo[res.text] = _defines(res)
                    owner[gk] = pkg.name
                    provides[pkg.name].add(gk)
        for pkg in render.packages:
            for gk in {(res.id.group, res.id.kind) for res in pkg.resources}:
                source = owner.get(gk)
                if source is not None and source != pkg.name:
                    uses[pkg.name][source].add(gk)
    return provides, uses


def _defines(crd: Resource) -> GroupKind:
    spec = crd.body.get("spec") or {}
    return str(spec.get("group", "")), str((spec.get("names") or {}).get("kind", ""))


def _chart(tree: Tree, pkg: Package) -> Chart | None:
    if pkg.chart is None:
        return None
    path = f"{pkg.chart}/Chart.yaml"
    meta = parse(path, tree.read(path))  # helm, which rendered the chart, read it already
    app = meta.get("appVersion")
    return Chart(str(meta.get("name", "")), str(meta.get("version", "")),
                 str(app) if app is not None else None)


class _ValuesKeys:
    """The values keys of layers: a static file read once, a template rendered per cluster
    (parsed once per distinct output)."""

    def __init__(self, tree: Tree, inv: Inventory, tools: Toolset) -> None:
        self._tree = tree
        self._templates = Templates(tree)
        self._contexts = Materialiser(tree, inv, tools)
        self._parsed: dict[tuple[str, bytes], frozenset[str]] = {}

    def of(self, layer: Layer, pkg: Package, clusters: Sequence[Cluster]) -> tuple[str, ...]:
        found: set[str] = set()
        if "values.yaml" in layer.files:
            found |= self._keys(f"{layer.path}/values.yaml",
                                self._tree.read(f"{layer.path}/values.yaml"))
        elif "values.yaml.j2" in layer.files:
            path = f"{layer.path}/values.yaml.j2"
            for cluster in clusters:
                text = self._templates.render(path, self._contexts.context(cluster, pkg),
                                              f"cluster {cluster.name}")
                found |= self._keys(path, text)
        return tuple(sorted(found))

    def _keys(self, path: str, text: bytes) -> frozenset[str]:
        keys = self._parsed.get((path, text))
        if keys is None:
            values = parse(path, text)
            if values is not None and not isinstance(values, dict):
                raise ConfigError(f"{path}:1: Helm values must be a mapping (key: value lines), "
                                  f"not a {type(values).__name__}")
            keys = self._parsed[(path, text)] = frozenset(leaves(values or {}))
        return keys


def leaves(values: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths to what a values mapping sets (a list or null is set whole); a dot in
    a key is written `\\.`, as `helm --set` takes it."""
    for key, value in values.items():
        path = prefix + str(key).replace(".", "\\.")
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{path}.")
        else:
            yield path


# --- Formats ---------------------------------------------------------------------


def _kind(gk: GroupKind) -> str:
    return f"{gk[1]}.{gk[0]}" if gk[0] else gk[1]


def _type(e: Entry) -> str:
    if e.chart is None:
        return e.type
    app = f" (app {e.chart.app_version})" if e.chart.app_version else ""
    return f"{e.type}: chart {e.chart.name} {e.chart.version}{app}"


def _depends(e: Entry) -> str:
    crd = [f"{u.package} (CRD {', '.join(_kind(k) for k in u.kinds)})" for u in e.crd_uses]
    return ", ".join([*e.depends_on, *crd]) or "-"


def _provides(e: Entry) -> str:
    return ", ".join(_kind(k) for k in e.provides) or "-"


def _classes(e: Entry) -> str:
    extra = [f"added by {', '.join(e.added_by)}"] if e.added_by else []
    extra += [f"removed by {', '.join(e.removed_by)}"] if e.removed_by else []
    return "; ".join([", ".join(e.classes) or "no class", *extra])


def _clusters(e: Entry) -> str:
    per_env = ", ".join(f"{env} {n}" for env, n in e.clusters.items())
    return f"{sum(e.clusters.values())}: {per_env}"


def _layers(e: Entry) -> str:
    counts = e.layer_counts
    if not e.overrides:
        return "none"
    parts = ", ".join(f"{counts[s]} {SCOPE_WORDS[s][counts[s] != 1]}" for s in SCOPES if counts[s])
    return f"{counted(len(e.overrides), 'layer')} ({parts})"


def to_text(cat: Catalog) -> str:
    lines = [f"{counted(len(cat.packages), 'package')}, {counted(cat.clusters, 'cluster')} "
             f"({', '.join(cat.environments)})"]
    for e in cat.packages:
        rows = [("owner", e.owner or "-"), ("type", _type(e)), ("namespace", e.namespace or "-"),
                ("depends on", _depends(e)),
                ("provides", _provides(e)),
                ("classes", _classes(e)), ("clusters", _clusters(e)), ("layers", _layers(e)),
                *([("values", ", ".join(e.values_keys))] if e.values_keys else []),
                ("add", e.add_command)]
        lines += ["", f"{e.name}  {e.description or '(no description)'}"]
        lines += [textwrap.fill(value, 100, initial_indent=f"  {label:<11} ",
                                subsequent_indent=" " * 14, break_long_words=False,
                                break_on_hyphens=False) for label, value in rows]
    return "\n".join(lines) + "\n"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def to_markdown(cat: Catalog) -> str:
    envs = " / ".join(cat.environments)
    lines = [f"{counted(len(cat.packages), 'package')}, {counted(cat.clusters, 'cluster')}.", "",
             f"| Package | Description | Owner | Type | Namespace | Depends on | Provides CRDs "
             f"| Classes | Clusters ({envs}) | Overlay layers | Add to a class |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for e in cat.packages:
        lines.append(_row([f"`{e.name}`", e.description or "-", e.owner or "-", _type(e),
                           e.namespace or "-", _depends(e), _provides(e), _classes(e),
                           " / ".join(str(n) for n in e.clusters.values()), _layers(e),
                           f"`{e.add_command}`"]))
    lines += ["", "Overlay layers, and the Helm values keys each sets:", "",
              "| Package | Layer | Clusters | Values keys | Component |", "|---|---|---|---|---|"]
    for e in cat.packages:
        for o in e.overrides:
            keys = ", ".join(f"`{k}`" for k in o.values_keys) or "-"
            lines.append(_row([f"`{e.name}`", f"`{o.path}`", str(o.clusters), keys,
                               "yes" if o.component else "-"]))
    return "\n".join(lines) + "\n"


def _gk(gk: GroupKind) -> dict[str, str]:
    return {"group": gk[0], "kind": gk[1]}


def to_json(cat: Catalog) -> str:
    doc = {"environments": list(cat.environments), "clusters": cat.clusters, "packages": [{
        "name": e.name, "description": e.description, "owner": e.owner, "type": e.type,
        "chart": None if e.chart is None else {
            "name": e.chart.name, "version": e.chart.version, "appVersion": e.chart.app_version},
        "namespace": e.namespace, "dependsOn": list(e.depends_on),
        "crdDependencies": [{"package": u.package, "kinds": [_gk(k) for k in u.kinds]}
                            for u in e.crd_uses],
        "providesCrds": [_gk(k) for k in e.provides],
        "classes": list(e.classes), "addedBy": list(e.added_by), "removedBy": list(e.removed_by),
        "clusters": dict(e.clusters), "layers": dict(e.layer_counts),
        "valuesKeys": list(e.values_keys),
        "overrides": [{"scope": o.scope, "owner": o.owner, "path": o.path, "clusters": o.clusters,
                       "valuesKeys": list(o.values_keys), "component": o.component}
                      for o in e.overrides],
        "add": e.add_command} for e in cat.packages]}
    return json.dumps(doc, indent=2) + "\n"


FORMATS = {"text": to_text, "markdown": to_markdown, "json": to_json}
