"""The fleet inventory and the package catalogue, loaded and checked at the edge.

`load(tree)` reads `fleet/`, `bases/*/package.yaml` and the layout of `overlays/`, and
returns an immutable `Inventory` or raises a ConfigError naming the file, line and key.
After it, every name the inventory mentions is known to exist.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline import kustomizations
from pipeline.errors import ConfigError
from pipeline.schema import Schemas, parse
from pipeline.source import Tree, normalize

ENVIRONMENTS = "fleet/environments.yaml"
CLASSES = "fleet/classes"
CLUSTERS = "fleet/clusters"
BASES = "bases"
OVERLAYS = "overlays"
SCOPES = ("classes", "sites", "clusters")  # layer order: later layers win
Scope = Literal["classes", "sites", "clusters"]
PackageType = Literal["helm", "kustomize"]


@dataclass(frozen=True)
class Promotion:
    source: str
    soak: str | None
    requires: tuple[str, ...]
    pull_request: bool


@dataclass(frozen=True)
class Environment:
    name: str
    branch: str
    promotion: Promotion | None
    agent: Literal["argocd", "flux"] = "argocd"


@dataclass(frozen=True)
class ClusterClass:
    name: str
    path: str
    description: str
    kubernetes_version: str
    capacity: Mapping[str, Any]
    packages: tuple[str, ...]
    vars: Mapping[str, Any]


@dataclass(frozen=True)
class Cluster:
    name: str
    path: str
    class_name: str
    site: str
    environment: str
    labels: Mapping[str, str]
    vars: Mapping[str, Any]
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class Package:
    name: str
    path: str  # the package directory
    type: PackageType
    namespace: str | None
    depends_on: tuple[str, ...]
    chart: str | None = None  # helm: chart directory, relative to the repository
    release_name: str | None = None
    allow_plaintext_secrets: bool = False


@dataclass(frozen=True)
class Layer:
    """One overlay directory: overlays/<scope>/<owner>/<package>/."""

    scope: Scope
    owner: str
    package: str
    path: str
    files: tuple[str, ...]  # relative to `path`, sorted, as stored (with .j2 suffixes)

    @property
    def outputs(self) -> tuple[str, ...]:
        """File names after Jinja2 (the `.j2` suffix dropped)."""
        return tuple(f.removesuffix(".j2") for f in self.files)

    @property
    def has_values(self) -> bool:
        return "values.yaml" in self.outputs

    @property
    def has_component(self) -> bool:
        return any(name in self.outputs for name in kustomizations.NAMES)


@dataclass(frozen=True)
class Inventory:
    environments: tuple[Environment, ...]
    classes: Mapping[str, ClusterClass]
    clusters: Mapping[str, Cluster]
    packages: Mapping[str, Package]
    layers: Mapping[tuple[str, str, str], Layer] = field(default_factory=dict)

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise ConfigError(f"unknown environment {name!r}{_suggest(name, self.env_names)}")

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.environments)

    def cluster(self, name: str) -> Cluster:
        try:
            return self.clusters[name]
        except KeyError:
            raise ConfigError(
                f"unknown cluster {name!r}{_suggest(name, self.clusters)} "
                f"(clusters are the files in {CLUSTERS}/)"
            ) from None

    def packages_of(self, cluster: Cluster) -> tuple[str, ...]:
        """The cluster's package list: its class's, plus `add`, minus `remove`."""
        base = self.classes[cluster.class_name].packages
        return tuple(p for p in (*base, *cluster.add) if p not in cluster.remove)

    def layers_of(self, cluster: Cluster, package: str) -> tuple[Layer, ...]:
        """The overlay layers for (cluster, package), in the order they apply."""
        owners = (cluster.class_name, cluster.site, cluster.name)
        found = (self.layers.get((scope, owner, package))
                 for scope, owner in zip(SCOPES, owners, strict=True))
        return tuple(layer for layer in found if layer is not None)

    def select(self, envs: Iterable[str] = (), clusters: Iterable[str] = ()) -> tuple[Cluster, ...]:
        """Clusters in the given environments and/or with the given names, sorted by
        environment order then name; all clusters when both are empty."""
        env_filter = {self.environment(e).name for e in envs}
        names = {self.cluster(c).name for c in clusters}
        order = {e: i for i, e in enumerate(self.env_names)}
        chosen = [
            c for c in self.clusters.values()
            if (not env_filter or c.environment in env_filter) and (not names or c.name in names)
        ]
        if not chosen and (env_filter or names):
            raise ConfigError(
                f"no cluster matches --env {', '.join(sorted(env_filter)) or '*'} "
                f"--cluster {', '.join(sorted(names)) or '*'}"
            )
        return tuple(sorted(chosen, key=lambda c: (order[c.environment], c.name)))


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _yaml_files(tree: Tree, folder: str) -> list[str]:
    paths = []
    for name in tree.listdir(folder):
        path = f"{folder}/{name}"
        if name.endswith(".yml"):
            raise ConfigError(f"{path}: use the .yaml extension (rename to {name[:-4]}.yaml)")
        if name.endswith(".yaml"):
            if not tree.is_file(path):
                raise ConfigError(f"{path}: expected a file")
            paths.append(path)
    return paths


def _load_file(tree: Tree, schemas: Schemas, kind: str, path: str) -> dict[str, Any]:
    text = tree.read(path)
    data = parse(path, text)
    if data is None:
        raise ConfigError(f"{path}: file is empty")
    schemas.check(kind, path, text, data)
    assert isinstance(data, dict)
    return data


def _check_stem(path: str, name: str, what: str) -> None:
    stem = posixpath.basename(path).removesuffix(".yaml")
    if stem != name:
        raise ConfigError(f"{path}: name: {name!r} does not match the file name; "
                          f"a {what} lives in {posixpath.dirname(path)}/{name}.yaml")


def load_environments(tree: Tree, schemas: Schemas) -> tuple[Environment, ...]:
    if not tree.is_file(ENVIRONMENTS):
        raise ConfigError(f"{ENVIRONMENTS}: no such file (is --repo the configuration repository?)")
    data = _load_file(tree, schemas, "environments", ENVIRONMENTS)
    envs: list[Environment] = []
    for item in data["environments"]:
        name = item["name"]
        if any(e.name == name for e in envs):
            raise ConfigError(f"{ENVIRONMENTS}: environments: {name!r} is listed twice")
        promotion = None
        if "promotion" in item:
            p = item["promotion"]
            if p["from"] not in {e.name for e in envs}:
                raise ConfigError(
                    f"{ENVIRONMENTS}: environments.{name}.promotion.from: {p['from']!r} is not "
                    "an environment listed before it (promotion flows down the list)"
                )
            promotion = Promotion(p["from"], p.get("soak"), tuple(p.get("requires", ())),
                                  bool(p.get("pullRequest", False)))
        branch = item.get("branch", f"env/{name}")
        if ".." in branch or "//" in branch or branch.endswith(".lock"):
            raise ConfigError(f"{ENVIRONMENTS}: environments.{name}.branch: {branch!r} is not a "
                              "valid git branch name")
        if any(e.branch == branch for e in envs):
            raise ConfigError(f"{ENVIRONMENTS}: environments.{name}.branch: {branch!r} is already "
                              "the branch of another environment")
        envs.append(Environment(name, branch, promotion, item.get("agent", "argocd")))
    return tuple(envs)


def load_packages(tree: Tree, schemas: Schemas) -> dict[str, Package]:
    packages: dict[str, Package] = {}
    for name in tree.listdir(BASES):
        folder = f"{BASES}/{name}"
        if not tree.is_dir(folder):
            continue
        path = f"{folder}/package.yaml"
        if not tree.is_file(path):
            raise ConfigError(f"{folder}: no package.yaml (every directory in bases/ is a package)")
        data = _load_file(tree, schemas, "package", path)
        if data["name"] != name:
            raise ConfigError(f"{path}: name: {data['name']!r} does not match its directory {name!r}")
        packages[name] = _package(tree, path, folder, data)
    for pkg in packages.values():
        for dep in pkg.depends_on:
            if dep not in packages:
                raise ConfigError(f"{pkg.path}/package.yaml: dependsOn: unknown package {dep!r}"
                                  f"{_suggest(dep, packages)}")
    return packages


def _package(tree: Tree, path: str, folder: str, data: dict[str, Any]) -> Package:
    kind: PackageType = data["type"]
    common = {"name": data["name"], "path": folder, "type": kind,
              "namespace": data.get("namespace"), "depends_on": tuple(data.get("dependsOn", ())),
              "allow_plaintext_secrets": bool(data.get("allowPlaintextSecrets", False))}
    if kind == "kustomize":
        for key in ("chart", "releaseName"):
            if key in data:
                raise ConfigError(f"{path}: {key}: only for packages of type helm")
        kfile = next((f"{folder}/{n}" for n in kustomizations.NAMES
                      if tree.is_file(f"{folder}/{n}")), None)
        if kfile is None:
            raise ConfigError(f"{folder}: a kustomize package needs a kustomization.yaml")
        for rel in tree.files(folder):
            if posixpath.basename(rel) in kustomizations.NAMES:
                kpath = f"{folder}/{rel}"
                kustomizations.check(kpath, parse(kpath, tree.read(kpath)),
                                     component=False, root=folder)
        return Package(**common)
    chart = normalize(posixpath.join(folder, data.get("chart", "chart")))
    if not tree.is_file(f"{chart}/Chart.yaml"):
        raise ConfigError(f"{path}: chart: {chart} has no Chart.yaml (expected a local chart)")
    return Package(**common, chart=chart, release_name=data.get("releaseName", data["name"]))


def load_classes(tree: Tree, schemas: Schemas, packages: Mapping[str, Package]) -> dict[str, ClusterClass]:
    classes: dict[str, ClusterClass] = {}
    for path in _yaml_files(tree, CLASSES):
        data = _load_file(tree, schemas, "class", path)
        name = data["name"]
        if name in classes:
            raise ConfigError(f"{path}: class {name!r} is already defined in {classes[name].path}")
        for i, pkg in enumerate(data["packages"]):
            if pkg not in packages:
                raise ConfigError(f"{path}: packages[{i}]: unknown package {pkg!r}"
                                  f"{_suggest(pkg, packages)} (packages are the directories in bases/)")
        classes[name] = ClusterClass(
            name, path, data.get("description", ""), str(data["kubernetesVersion"]).lstrip("v"),
            data.get("capacity", {}), tuple(data["packages"]), data.get("vars", {}),
        )
    if not classes:
        raise ConfigError(f"{CLASSES}: no cluster classes defined")
    for cls in classes.values():
        _check_stem(cls.path, cls.name, "class")
    return classes


def load_clusters(tree: Tree, schemas: Schemas, classes: Mapping[str, ClusterClass],
                  envs: tuple[Environment, ...], packages: Mapping[str, Package]) -> dict[str, Cluster]:
    env_names = [e.name for e in envs]
    clusters: dict[str, Cluster] = {}
    for path in _yaml_files(tree, CLUSTERS):
        data = _load_file(tree, schemas, "cluster", path)
        name = data["name"]
        if name in clusters:
            raise ConfigError(f"{path}: cluster {name!r} is already defined in {clusters[name].path}")
        cls = classes.get(data["class"])
        if cls is None:
            raise ConfigError(f"{path}: class: unknown class {data['class']!r}"
                              f"{_suggest(data['class'], classes)}")
        if data["environment"] not in env_names:
            raise ConfigError(f"{path}: environment: unknown environment {data['environment']!r}"
                              f"{_suggest(data['environment'], env_names)} "
                              f"(environments are listed in {ENVIRONMENTS})")
        change = data.get("packages", {})
        add, remove = tuple(change.get("add", ())), tuple(change.get("remove", ()))
        for key, names in (("add", add), ("remove", remove)):
            for i, pkg in enumerate(names):
                if pkg not in packages:
                    raise ConfigError(f"{path}: packages.{key}[{i}]: unknown package {pkg!r}"
                                      f"{_suggest(pkg, packages)}")
                if key == "add" and pkg in cls.packages:
                    raise ConfigError(f"{path}: packages.add[{i}]: {pkg!r} is already in class "
                                      f"{cls.name}'s packages")
                if key == "remove" and pkg not in cls.packages:
                    raise ConfigError(f"{path}: packages.remove[{i}]: {pkg!r} is not in class "
                                      f"{cls.name}'s packages, so there is nothing to remove")
        clusters[name] = Cluster(
            name, path, cls.name, data.get("site", name), data["environment"],
            data.get("labels", {}), {**cls.vars, **data.get("vars", {})}, add, remove,
        )
    if not clusters:
        raise ConfigError(f"{CLUSTERS}: no clusters defined")
    for cluster in clusters.values():
        _check_stem(cluster.path, cluster.name, "cluster")
    return clusters


def load_layers(tree: Tree, classes: Mapping[str, ClusterClass], clusters: Mapping[str, Cluster],
                packages: Mapping[str, Package]) -> dict[tuple[str, str, str], Layer]:
    """Every overlay directory, checked against the inventory so a typo is an error."""
    owners: dict[str, Iterable[str]] = {
        "classes": classes, "sites": {c.site for c in clusters.values()}, "clusters": clusters,
    }
    what = {"classes": "class", "sites": "site (of any cluster)", "clusters": "cluster"}
    for name in tree.listdir(OVERLAYS):
        if name not in SCOPES and tree.is_dir(f"{OVERLAYS}/{name}"):
            raise ConfigError(f"{OVERLAYS}/{name}: unknown layer folder "
                              f"(expected one of: {', '.join(SCOPES)})")
    layers: dict[tuple[str, str, str], Layer] = {}
    for scope in SCOPES:
        for owner in tree.listdir(f"{OVERLAYS}/{scope}"):
            folder = f"{OVERLAYS}/{scope}/{owner}"
            if not tree.is_dir(folder):
                continue
            if owner not in owners[scope]:
                raise ConfigError(f"{folder}: no {what[scope]} is named {owner!r}"
                                  f"{_suggest(owner, owners[scope])}; this layer would never apply")
            for pkg_name in tree.listdir(folder):
                path = f"{folder}/{pkg_name}"
                if not tree.is_dir(path):
                    continue
                pkg = packages.get(pkg_name)
                if pkg is None:
                    raise ConfigError(f"{path}: no package is named {pkg_name!r}"
                                      f"{_suggest(pkg_name, packages)}; this layer would never apply")
                layer = Layer(scope, owner, pkg_name, path, tuple(tree.files(path)))  # type: ignore[arg-type]
                _check_layer(tree, layer, pkg)
                layers[(scope, owner, pkg_name)] = layer
    return layers


def _check_layer(tree: Tree, layer: Layer, pkg: Package) -> None:
    outputs = layer.outputs
    dupes = {o for o in outputs if outputs.count(o) > 1}
    if dupes:
        name = sorted(dupes)[0]
        raise ConfigError(f"{layer.path}: both {name} and {name}.j2 exist; keep one")
    if pkg.type == "kustomize" and layer.has_values:
        raise ConfigError(f"{layer.path}/values.yaml: values only apply to helm packages; "
                          f"{pkg.name} is a kustomize package (use a Component with patches)")
    if not layer.has_values and not layer.has_component:
        need = "values.yaml or a kustomization.yaml" if pkg.type == "helm" else "a kustomization.yaml"
        raise ConfigError(f"{layer.path}: holds neither {need} (kind: Component); "
                          "its files would be ignored")
    for rel in layer.files:
        if posixpath.basename(rel) in kustomizations.NAMES:
            path = f"{layer.path}/{rel}"
            kustomizations.check(path, parse(path, tree.read(path)), component=True, root=layer.path)


def load(tree: Tree) -> Inventory:
    """The whole inventory of the configuration repository in `tree`, validated."""
    schemas = Schemas.load()
    envs = load_environments(tree, schemas)
    packages = load_packages(tree, schemas)
    classes = load_classes(tree, schemas, packages)
    clusters = load_clusters(tree, schemas, classes, envs, packages)
    layers = load_layers(tree, classes, clusters, packages)
    return Inventory(envs, classes, clusters, packages, layers)
