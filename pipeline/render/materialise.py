"""From (cluster, package) to the exact input of a tool run, and its key.

The key of a render is the digest of its materialised input: the files the tool will
see (after Jinja2), the merged values, the arguments and the tool's version. Clusters
whose inputs are equal get equal keys and share one tool run. Nothing is written to
disk here: files are named by their git blob id and read only when a run needs them.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import pygit2

from pipeline.config import kustomizations, values
from pipeline.config.model import Cluster, Inventory, Layer, Package
from pipeline.config.schema import check_yaml, parse
from pipeline.config.source import Tree
from pipeline.errors import ConfigError
from pipeline.render import capabilities as capabilities_mod
from pipeline.render import probes
from pipeline.render.tools import Tool, Toolset

if TYPE_CHECKING:
    from pipeline.config.templating import Templates

LAYER_DIRS = {"environments": "environment", "classes": "class", "sites": "site",
              "clusters": "cluster"}
HELM_OUTPUT = "chart-output.yaml"
CHART = "chart/"  # where a helm input's chart sits in its workspace


@dataclass(frozen=True)
class File:
    """A workspace file: its blob id, and either its bytes or where to read them."""

    oid: str
    data: bytes | None = None
    source: str | None = None


Files = Mapping[str, File]


@dataclass(frozen=True)
class Run:
    """One tool run: what to call, in a workspace holding `files`."""

    tool: Literal["helm", "kustomize"]
    args: tuple[str, ...]
    files: Files
    key: str
    probes: tuple[probes.Probe, ...] = ()  # targeted patches that must match something
    places: Mapping[str, str] = field(default_factory=dict)  # workspace dir → repository dir


@dataclass(frozen=True)
class Overlay:
    """Kustomize Components to apply over a Helm chart's output (written as HELM_OUTPUT)."""

    files: Files
    digest: str
    probes: tuple[probes.Probe, ...] = ()
    places: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ValuesLayer:
    """One values file Helm gets for a (cluster, package), as hydrate read it: the
    package's values.yaml (step "package") or a layer's (its scope's step name)."""

    step: str
    file: str  # as Helm sees it (a template's name without .j2)
    values: Mapping[str, Any]
    text: bytes
    rendered_from: str | None = None  # the .j2 template it was rendered from


@dataclass(frozen=True)
class Input:
    cluster: str
    package: str
    run: Run
    overlay: Overlay | None = None


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def files_digest(files: Files) -> list[tuple[str, str]]:
    return sorted((path, f.oid) for path, f in files.items())


def run_key(tool: Tool, args: tuple[str, ...], files: Files) -> str:
    return digest(tool.id, args, files_digest(files))


def overlay_key(tool: Tool, overlay_digest: str, chart_output: bytes) -> str:
    """Key of the Components run (`Overlay.digest`) over a chart output."""
    return digest(tool.id, "overlay", overlay_digest, str(pygit2.hash(chart_output)))


def blob(data: bytes) -> File:
    """A workspace file made in memory."""
    return File(str(pygit2.hash(data)), data=data)


def wrapper(resources: list[str], components: list[str]) -> bytes:
    """The kustomization hydrate builds: `resources` with `components` applied in order.
    """
    # originAnnotations: each object says which file (or generator) it came from, so a
    # finding can point at the line to fix; post-processing removes the annotation.
    doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
           "resources": resources, "components": components,
           "buildMetadata": ["originAnnotations"]}
    return json.dumps(doc, indent=2).encode() + b"\n"


class Materialiser:
    """Builds `Input`s; caches what is the same for every cluster (per render only)."""

    def __init__(self, tree: Tree, inventory: Inventory, tools: Toolset) -> None:
        self._tree = tree
        self._inv = inventory
        self._tools = tools
        self._templates: Templates | None = None  # made when a template is first rendered
        self._package_files: dict[str, dict[str, File]] = {}
        self._static: dict[str, File] = {}
        self._wrappers: dict[tuple[str, ...], File] = {}
        self._static_values: dict[str, ValuesLayer] = {}
        self._rendered_values: dict[tuple[str, bytes], dict[str, Any]] = {}
        self._checked_yaml: set[tuple[str, bytes]] = set()  # rendered YAML already checked
        self._chart_names: dict[str, dict[str, str]] = {}
        self._probe_sets: dict[tuple[str, tuple[tuple[str, str], ...]],
                               tuple[dict[str, File], tuple[probes.Probe, ...]]] = {}
        self._kustomizations: dict[tuple[str, str], tuple[Any, File | None, tuple[probes.Probe, ...]]] = {}
        self._identities: dict[tuple[str, str], str] = {}  # (what, name) → its identity
        self._capabilities: dict[str, capabilities_mod.Capabilities] = {}

    def _template_engine(self) -> Templates:
        """Jinja2, imported when a template is first rendered: a warm render recalls its
        inputs and renders none."""
        if self._templates is None:
            from pipeline.config.templating import Templates

            self._templates = Templates(self._tree)
        return self._templates

    def _wrapper(self, resource: str, components: list[str]) -> File:
        """The wrapper kustomization as a file (most inputs share theirs: made once)."""
        memo = (resource, *components)
        found = self._wrappers.get(memo)
        if found is None:
            found = self._wrappers[memo] = blob(wrapper([resource], components))
        return found

    def _static_file(self, path: str) -> File:
        found = self._static.get(path)
        if found is None:
            found = self._static[path] = File(self._tree.blob_id(path), source=path)
        return found

    def _values_file(self, step: str, path: str) -> ValuesLayer:
        found = self._static_values.get(path)
        if found is None:
            text = self._tree.read(path)
            found = self._static_values[path] = ValuesLayer(step, path, values_of(path, text), text)
        return found

    def values_layers(self, cluster: Cluster, pkg: Package) -> list[ValuesLayer]:
        """The values files Helm gets for `pkg` on `cluster`, in the order they apply: the
        package's values.yaml, then each layer's (`Inventory.layers_of`), a template
        rendered for the cluster. `render` merges them; `explain` traces the same list."""
        found = []
        if pkg.type == "helm" and self._tree.is_file(f"{pkg.path}/values.yaml"):
            found.append(self._values_file("package", f"{pkg.path}/values.yaml"))
        ctx: dict[str, Any] | None = None
        for layer in self._inv.layers_of(cluster, pkg.name):
            name = next((f for f in layer.files if f.removesuffix(".j2") == "values.yaml"), None)
            if name is None:
                continue
            path, step = f"{layer.path}/{name}", LAYER_DIRS[layer.scope]
            if not name.endswith(".j2"):
                found.append(self._values_file(step, path))
                continue
            ctx = ctx if ctx is not None else self.context(cluster, pkg)
            data = self._template_engine().render(path, ctx, f"cluster {cluster.name}")
            # Many clusters render a template to the same text: parse it once.
            memo = (path, data)
            parsed = self._rendered_values.get(memo)
            if parsed is None:
                parsed = self._rendered_values[memo] = values_of(path, data)
            found.append(ValuesLayer(step, f"{layer.path}/values.yaml", parsed, data, path))
        return found

    def package_files(self, pkg: Package) -> dict[str, File]:
        found = self._package_files.get(pkg.name)
        if found is None:
            if pkg.type == "helm":
                assert pkg.chart is not None
                found = {f"{CHART}{rel}": self._static_file(f"{pkg.chart}/{rel}")
                         for rel in self._tree.files(pkg.chart)}
            else:
                found = {f"package/{rel}": self._static_file(f"{pkg.path}/{rel}")
                         for rel in self._tree.files(pkg.path) if rel != "package.yaml"}
            self._package_files[pkg.name] = found
        return found

    def context(self, cluster: Cluster, pkg: Package) -> dict[str, Any]:
        """What Jinja2 templates see."""
        return {**_cluster_context(cluster),
                "package": {"name": pkg.name, "namespace": pkg.namespace or ""}}

    def _layer_files(self, layer: Layer, index: int, cluster: Cluster,
                     ctx: Mapping[str, Any]) -> dict[str, File]:
        """The layer's files in the workspace (under layers/<i>-<scope>/), its values
        aside (see `values_layers`)."""
        prefix = f"layers/{index}-{LAYER_DIRS[layer.scope]}"
        files: dict[str, File] = {}
        for rel in layer.files:
            path = f"{layer.path}/{rel}"
            out = rel.removesuffix(".j2")
            if out == "values.yaml":
                continue
            if rel.endswith(".j2"):
                data = self._template_engine().render(path, ctx, f"cluster {cluster.name}")
                if out in kustomizations.NAMES:
                    kustomizations.check(path, parse(path, data), component=True, root=layer.path)
                if out.endswith((".yaml", ".yml")) and (path, data) not in self._checked_yaml:
                    check_yaml(path, data)  # kustomize keeps one of two equal keys silently
                    self._checked_yaml.add((path, data))
                files[f"{prefix}/{out}"] = File(blob(data).oid, data=data, source=path)
            else:
                files[f"{prefix}/{out}"] = self._static_file(path)
        return files

    def input(self, cluster: Cluster, package: str, apis: tuple[str, ...] = ()) -> Input:
        """The materialised input of rendering `package` for `cluster`; `apis`: the API
        versions passed to helm (`--api-versions`) for a chart that checks them."""
        pkg = self._inv.packages[package]
        layers = self._inv.layers_of(cluster, package)
        ctx = self.context(cluster, pkg)
        layer_files: dict[str, File] = {}
        components: list[str] = []
        places: dict[str, str] = {}
        for index, layer in enumerate(layers):
            layer_files.update(self._layer_files(layer, index, cluster, ctx))
            if layer.has_component:
                components.append(f"layers/{index}-{LAYER_DIRS[layer.scope]}")
            places[f"layers/{index}-{LAYER_DIRS[layer.scope]}"] = layer.path
        if pkg.type == "kustomize":
            return self._kustomize_input(cluster, pkg, layer_files, components,
                                         {"package": pkg.path, **places})
        values_layers = [v.values for v in self.values_layers(cluster, pkg)]
        return self._helm_input(cluster, pkg, values_layers, layer_files, components, places, apis)

    def capabilities(self, pkg: Package) -> capabilities_mod.Capabilities:
        """Whether `pkg`'s chart (subcharts and library charts included) reads
        `.Capabilities.APIVersions`, and the API versions it checks by name."""
        found = self._capabilities.get(pkg.name)
        if found is None:
            files = self.package_files(pkg) if pkg.type == "helm" else {}
            found = self._capabilities[pkg.name] = capabilities_mod.scan(
                (path, self._tree.read(f.source or path)) for path, f in sorted(files.items())
                if path.startswith((f"{CHART}templates/", f"{CHART}charts/")))
        return found

    def identity(self, cluster: Cluster, package: str, apis: tuple[str, ...] = ()) -> str:
        """A digest of everything `input(cluster, package)` reads: equal identities
        materialise to equal inputs (for the same tools and hydrate). Nothing is rendered
        or parsed: the template context and the files' blob ids stand for their results.
        Keep it in step with `input`."""
        pkg = self._inv.packages[package]
        parts = [self._identity("package", pkg.name, partial(self._package_identity, pkg)),
                 self._identity("cluster", cluster.name, partial(self._cluster_identity, cluster))]
        parts += [self._identity("layer", layer.path, partial(self._layer_identity, layer))
                  for layer in self._inv.layers_of(cluster, package)]
        if apis:
            parts.append(digest("api-versions", apis))
        return hashlib.sha256(" ".join(parts).encode()).hexdigest()

    def _identity(self, what: str, name: str, make: Callable[[], str]) -> str:
        found = self._identities.get((what, name))
        if found is None:
            found = self._identities[(what, name)] = make()
        return found

    def _package_identity(self, pkg: Package) -> str:
        """The package's settings, and every file of its folder and of its chart's."""
        folders = [pkg.path]
        if pkg.chart and not pkg.chart.startswith(pkg.path + "/"):
            folders.append(pkg.chart)
        return digest(repr(pkg), [(folder, [(rel, self._static_file(f"{folder}/{rel}").oid)
                                            for rel in self._tree.files(folder)])
                                  for folder in folders])

    def _cluster_identity(self, cluster: Cluster) -> str:
        """What templates see of the cluster, and its class's Kubernetes version."""
        version = self._inv.classes[cluster.class_name].kubernetes_version
        return hashlib.sha256(json.dumps([_cluster_context(cluster), version], sort_keys=True,
                                         default=repr).encode()).hexdigest()

    def _layer_identity(self, layer: Layer) -> str:
        return digest(layer.scope, layer.path,
                      [(rel, self._static_file(f"{layer.path}/{rel}").oid) for rel in layer.files])

    def _kustomize_input(self, cluster: Cluster, pkg: Package, layer_files: dict[str, File],
                         components: list[str], places: Mapping[str, str]) -> Input:
        files = dict(self.package_files(pkg))
        if components:
            files.update(layer_files)
        files["kustomization.yaml"] = self._wrapper("package", components)
        root = "."
        files, found = self._probed(files, root)
        args = (root,)
        tool = self._tools.kustomize
        run = Run("kustomize", args, files, run_key(tool, args, files), found, places)
        return Input(cluster.name, pkg.name, run)

    def _helm_input(self, cluster: Cluster, pkg: Package, values_layers: list[Mapping[str, Any]],
                    layer_files: dict[str, File], components: list[str],
                    places: Mapping[str, str], apis: tuple[str, ...] = ()) -> Input:
        assert pkg.release_name is not None
        files = dict(self.package_files(pkg))
        files["values.json"] = blob(values.canonical(values.merge(*values_layers)))
        kube_version = self._inv.classes[cluster.class_name].kubernetes_version
        args = ("template", pkg.release_name, "./chart",
                *(("--namespace", pkg.namespace) if pkg.namespace else ()),
                "--values", "values.json", "--include-crds", "--skip-tests",
                "--kube-version", f"v{kube_version}",
                *(arg for api in apis for arg in ("--api-versions", api)))
        run = Run("helm", args, files, run_key(self._tools.helm, args, files),
                  places=self._chart_places(pkg))
        overlay = None
        if components:
            wanted = set(components)
            ofiles = {p: f for p, f in layer_files.items()
                      if "/".join(p.split("/")[:2]) in wanted}
            ofiles["kustomization.yaml"] = self._wrapper(HELM_OUTPUT, components)
            ofiles, found = self._probed(ofiles, ".")
            overlay = Overlay(ofiles, digest(files_digest(ofiles)), found,
                              {p: d for p, d in places.items() if p in wanted})
        return Input(cluster.name, pkg.name, run, overlay)

    @property
    def inventory(self) -> Inventory:
        return self._inv

    def chart_name(self, pkg: Package) -> str:
        """The `name` in the chart's Chart.yaml (Helm's messages use it)."""
        places = self._chart_places(pkg)
        return next((k.removesuffix("/templates") for k in places if k.endswith("/templates")), "")

    def _chart_places(self, pkg: Package) -> dict[str, str]:
        """Helm names templates `<chart name>/templates/...`: where they are in the repository."""
        assert pkg.chart is not None
        places = self._chart_names.get(pkg.chart)
        if places is None:
            meta = parse(f"{pkg.chart}/Chart.yaml", self._tree.read(f"{pkg.chart}/Chart.yaml"))
            name = meta.get("name") if isinstance(meta, dict) else None
            places = self._chart_names[pkg.chart] = {"chart": pkg.chart}
            if isinstance(name, str) and name:
                places.update({f"{name}/templates": f"{pkg.chart}/templates",
                               f"{name}/charts": f"{pkg.chart}/charts"})
        return places

    def _kustomization(self, path: str, f: File) -> tuple[Any, File | None, tuple[probes.Probe, ...]]:
        """A workspace kustomization parsed, and probed (see `probes.insert`): the file
        to use instead (None: keep it) and its probes. Once per path and content."""
        memo = (path, f.oid)
        found = self._kustomizations.get(memo)
        if found is None:
            where = f.source or path
            data = parse(where, f.data if f.data is not None else self._tree.read(where))
            probed = probes.insert(path, data) if isinstance(data, dict) else probes.Probed(None, ())
            new = (File(blob(probed.text).oid, data=probed.text, source=f.source)
                   if probed.text is not None else None)
            found = self._kustomizations[memo] = (data, new, probed.probes)
        return found

    def _probed(self, files: dict[str, File], root: str) -> tuple[dict[str, File], tuple[probes.Probe, ...]]:
        """`files` with probes in each kustomization a build of `root` reaches (worked out
        once per set of kustomizations: most clusters share theirs)."""
        kfiles = tuple((p, f.oid) for p, f in files.items()
                       if posixpath.basename(p) in kustomizations.NAMES)
        found = self._probe_sets.get((root, kfiles))
        if found is None:
            def kustomization_of(folder: str) -> str | None:
                return next((p for p in (posixpath.join(folder, n) if folder != "." else n
                                         for n in kustomizations.NAMES) if p in files), None)

            changed: dict[str, File] = {}
            more: list[probes.Probe] = []
            for path in probes.reachable(root, kustomization_of,
                                         lambda p: self._kustomization(p, files[p])[0]):
                _, new, probed = self._kustomization(path, files[path])
                if new is not None:
                    changed[path] = new
                    more.extend(probed)
            found = self._probe_sets[(root, kfiles)] = (changed, tuple(more))
        changed, found_probes = found
        return ({**files, **changed} if changed else files), found_probes


def _cluster_context(cluster: Cluster) -> dict[str, Any]:
    """What Jinja2 templates see of a cluster."""
    return {"cluster": {"name": cluster.name, "class": cluster.class_name, "site": cluster.site,
                        "environment": cluster.environment, "labels": dict(cluster.labels)},
            "vars": dict(cluster.vars),
            "env": cluster.environment}


def values_of(path: str, data: bytes) -> dict[str, Any]:
    parsed = parse(path, data)
    if parsed is None:
        return {}
    if not isinstance(parsed, dict):
        raise ConfigError(f"{path}:1: Helm values must be a mapping (key: value lines), "
                          f"not a {type(parsed).__name__}")
    return parsed
