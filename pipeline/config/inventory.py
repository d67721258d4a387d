"""The fleet inventory and the package catalogue, loaded and checked at the edge.

`load(tree)` reads `fleet/`, `bases/*/package.yaml` and the layout of `overlays/`, and
returns an immutable `Inventory` or raises a ConfigError naming the file, line and key.
After it, every name the inventory mentions is known to exist.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.clock import seconds
from pipeline.config import kustomizations, quantity
from pipeline.config import promotion as promotion_mod
from pipeline.config.model import (
    BASES,
    CLASSES,
    CLUSTERS,
    ENVIRONMENTS,
    OVERLAYS,
    SCOPES,
    Cluster,
    ClusterClass,
    Environment,
    Inventory,
    Layer,
    Oci,
    Package,
    PackageType,
    Retry,
    suggest,
)
from pipeline.config.schema import Document, Memo, Schemas, check_yaml, parse
from pipeline.config.source import Tree, normalize, readable
from pipeline.errors import ConfigError

# How close (difflib ratio) a cluster's site must be to an overlay site folder to be
# taken for a typo of it: `fraa` or `lyon-plnt`, but not `muc` for `mun`.
SITE_TYPO_CUTOFF = 0.8
_DIGITS = re.compile(r"[0-9]")
SOURCE_TAG = re.compile(r"^[0-9a-f]{40}$")  # the immutable tag of a source commit


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


def _load_file(tree: Tree, schemas: Schemas, kind: str, path: str) -> Document:
    text = tree.read(path)
    return _document(schemas, kind, path, text, schemas.checked(kind, path, text))


def _document(schemas: Schemas, kind: str, path: str, text: bytes, data: Any) -> Document:
    if data is None:
        raise ConfigError(f"{path}:1: the file is empty; it must be a mapping with at least "
                          f"the keys {', '.join(schemas.required(kind))}")
    assert isinstance(data, dict)
    return Document(path, text, data)


def _check_stem(doc: Document, what: str) -> None:
    name = doc.data["name"]
    stem = posixpath.basename(doc.path).removesuffix(".yaml")
    if stem != name:
        raise ConfigError(f"{doc.at('name')}: {name!r} does not match the file name; "
                          f"a {what} lives in {posixpath.dirname(doc.path)}/{name}.yaml")


def load_environments(tree: Tree, schemas: Schemas) -> tuple[tuple[Environment, ...], Document]:
    if not tree.is_file(ENVIRONMENTS):
        raise ConfigError(f"{ENVIRONMENTS}: no such file (is --repo the configuration repository?)")
    doc = _load_file(tree, schemas, "environments", ENVIRONMENTS)
    envs: list[Environment] = []
    for i, item in enumerate(doc.data["environments"]):
        name = item["name"]
        if any(e.name == name for e in envs):
            raise ConfigError(f"{doc.at('environments', i, 'name')}: {name!r} is listed twice")
        promotion = None
        if "promotion" in item:
            p = item["promotion"]
            if p["from"] not in {e.name for e in envs}:
                raise ConfigError(
                    f"{doc.at('environments', i, 'promotion', 'from')}: {p['from']!r} is not "
                    f"an environment listed before {name!r} (promotion flows down the list)"
                )
            promotion = promotion_mod.parse(doc, i, p)
        branch = item.get("branch", f"env/{name}")
        where = doc.at("environments", i, "branch") if "branch" in item else doc.at(
            "environments", i, "name")
        if ".." in branch or "//" in branch or branch.endswith(".lock"):
            raise ConfigError(f"{where}: {branch!r} is not a valid git branch name")
        if any(e.branch == branch for e in envs):
            raise ConfigError(f"{where}: {branch!r} is already the branch of another environment")
        envs.append(Environment(name, branch, promotion, item.get("agent", "argocd"),
                                _retry(doc, i, item.get("retry") or {}),
                                _oci(doc, i, name, item["oci"]) if "oci" in item else None))
    return tuple(envs), doc


def _oci(doc: Document, index: int, env: str, given: Mapping[str, Any]) -> Oci:
    repository = given["repository"].removeprefix("oci://")
    host, _, path = repository.partition("/")
    if "." not in host and ":" not in host and host != "localhost":
        raise ConfigError(f"{doc.at('environments', index, 'oci', 'repository')}: "
                          f"{given['repository']!r} does not start with a registry host (a name "
                          f"with a dot or a port, or localhost), so {host!r} would be read as a "
                          f"path on Docker Hub: write it in full, e.g. registry.example.com/{repository}")
    tag = given.get("tag", env)
    if SOURCE_TAG.match(tag):
        raise ConfigError(f"{doc.at('environments', index, 'oci', 'tag')}: {tag!r} looks like a "
                          "source commit: those tags are the immutable ones hydrate writes per "
                          "source; choose a name such as the environment's")
    return Oci(host.lower(), path, tag, given.get("layerMediaType", "flux"),
               bool(given.get("plainHTTP", False)))


def _retry(doc: Document, index: int, given: Mapping[str, Any]) -> Retry:
    default = Retry()
    retry = Retry(given.get("limit", default.limit), given.get("backoff", default.backoff),
                  given.get("factor", default.factor), given.get("maxBackoff", default.max_backoff))
    if seconds(retry.backoff) < 1:
        raise ConfigError(f"{doc.at('environments', index, 'retry', 'backoff')}: backoff "
                          f"{retry.backoff} would retry a failed sync at once, over and over; "
                          "give 1s or more")
    if seconds(retry.max_backoff) < seconds(retry.backoff):
        key = "maxBackoff" if "maxBackoff" in given else "backoff"
        raise ConfigError(f"{doc.at('environments', index, 'retry', key)}: maxBackoff "
                          f"{retry.max_backoff} is shorter than backoff {retry.backoff}; the "
                          "longest wait between retries cannot be shorter than the first")
    return retry


def load_packages(tree: Tree, schemas: Schemas) -> dict[str, Package]:
    packages: dict[str, Package] = {}
    docs: dict[str, Document] = {}
    for name in tree.listdir(BASES):
        folder = f"{BASES}/{name}"
        if not tree.is_dir(folder):
            continue
        path = f"{folder}/package.yaml"
        if not tree.is_file(path):
            ignored = tree.ignored_by(path)
            why = f"; {path} is ignored by git ({ignored}): commit it" if ignored else ""
            raise ConfigError(f"{folder}: no package.yaml (every directory in bases/ is a "
                              f"package){why}")
        doc = docs[name] = _load_file(tree, schemas, "package", path)
        if doc.data["name"] != name:
            raise ConfigError(f"{doc.at('name')}: {doc.data['name']!r} does not match its "
                              f"directory {name!r}")
        packages[name] = _package(tree, doc, folder)
    for pkg in packages.values():
        for i, dep in enumerate(pkg.depends_on):
            if dep not in packages:
                raise ConfigError(f"{docs[pkg.name].at('dependsOn', i)}: unknown package {dep!r}"
                                  f"{suggest(dep, packages)} (packages are the directories in "
                                  "bases/)")
    return packages


def _package(tree: Tree, doc: Document, folder: str) -> Package:
    data = doc.data
    kind: PackageType = data["type"]
    common = {"name": data["name"], "path": folder, "type": kind,
              "namespace": data.get("namespace"), "depends_on": tuple(data.get("dependsOn", ())),
              "allow_plaintext_secrets": bool(data.get("allowPlaintextSecrets", False)),
              # A folded (>) scalar ends in a newline: the catalog wants the line alone.
              "description": _text(data.get("description")), "owner": _text(data.get("owner"))}
    if kind == "kustomize":
        for key in ("chart", "releaseName"):
            if key in data:
                raise ConfigError(f"{doc.at(key)}: only for packages of type helm")
        kfile = next((f"{folder}/{n}" for n in kustomizations.NAMES
                      if tree.is_file(f"{folder}/{n}")), None)
        if kfile is None:
            raise ConfigError(f"{doc.at('type')}: a kustomize package needs a "
                              f"kustomization.yaml in {folder}/ (or make it type: helm)")
        for rel in tree.files(folder):
            if posixpath.basename(rel) in kustomizations.NAMES:
                kpath = f"{folder}/{rel}"
                kustomizations.check(kpath, parse(kpath, tree.read(kpath)),
                                     component=False, root=folder)
        return Package(**common)
    chart = normalize(posixpath.join(folder, data.get("chart", "chart")))
    if not readable(chart):
        raise ConfigError(f"{doc.at('chart')}: {chart} is outside the configuration folders "
                          "(fleet/, bases/, overlays/), which are all a render may read; "
                          "vendor the chart into the package (e.g. bases/<package>/chart)")
    if not tree.is_file(f"{chart}/Chart.yaml"):
        raise ConfigError(f"{doc.at('chart') if 'chart' in data else doc.at('type')}: {chart} "
                          "has no Chart.yaml (a helm package needs a local chart; see chart:)")
    return Package(**common, chart=chart, release_name=data.get("releaseName", data["name"]))


def _text(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None


def load_classes(tree: Tree, schemas: Schemas, packages: Mapping[str, Package]) -> dict[str, ClusterClass]:
    classes: dict[str, ClusterClass] = {}
    docs: list[Document] = []
    for path in _yaml_files(tree, CLASSES):
        doc = _load_file(tree, schemas, "class", path)
        docs.append(doc)
        data = doc.data
        name = data["name"]
        if name in classes:
            raise ConfigError(f"{doc.at('name')}: class {name!r} is already defined in "
                              f"{classes[name].path}")
        for i, pkg in enumerate(data["packages"]):
            if pkg not in packages:
                raise ConfigError(f"{doc.at('packages', i)}: unknown package {pkg!r}"
                                  f"{suggest(pkg, packages)} (packages are the directories in bases/)")
        _check_capacity(doc)
        classes[name] = ClusterClass(
            name, path, data.get("description", ""), str(data["kubernetesVersion"]).lstrip("v"),
            data.get("capacity", {}), tuple(data["packages"]), data.get("vars", {}),
            tuple(data.get("apiVersions", ())),
        )
    if not classes:
        raise ConfigError(f"{CLASSES}: no cluster classes defined")
    for doc in docs:
        _check_stem(doc, "class")
    return classes


def _check_capacity(doc: Document) -> None:
    """Each capacity a positive, finite amount: zero would switch its check off, and a
    negative or endless one makes every percentage meaningless."""
    for name in ("cpu", "memory", "storage"):
        given = (doc.data.get("capacity") or {}).get(name)
        if given is None:
            continue
        try:
            value = quantity.parse(given)
        except ValueError as e:
            raise ConfigError(f"{doc.at('capacity', name)}: {e}") from None
        problem = ("is not a positive amount" if value <= 0 else
                   "is too large to count" if not _finite(value) else None)
        if problem:
            example = {"cpu": '"12"', "memory": "48Gi", "storage": "2Ti"}[name]
            raise ConfigError(f"{doc.at('capacity', name)}: {given!r} {problem}; give what the "
                              f"class's clusters have in all (e.g. {example}), or leave it out to "
                              "not check it")


def _finite(value: Any) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def load_clusters(tree: Tree, schemas: Schemas, classes: Mapping[str, ClusterClass],
                  envs: tuple[Environment, ...], packages: Mapping[str, Package]) -> dict[str, Cluster]:
    env_names = [e.name for e in envs]
    site_folders = _SiteFolders.of([name for name in tree.listdir(f"{OVERLAYS}/sites")
                                    if tree.is_dir(f"{OVERLAYS}/sites/{name}")])
    clusters: dict[str, Cluster] = {}
    docs: list[Document] = []
    files = [(path, tree.read(path)) for path in _yaml_files(tree, CLUSTERS)]
    for (path, text), data in zip(files, schemas.checked_all("cluster", files), strict=True):
        doc = _document(schemas, "cluster", path, text, data)
        docs.append(doc)
        data = doc.data
        name = data["name"]
        if name in clusters:
            raise ConfigError(f"{doc.at('name')}: cluster {name!r} is already defined in "
                              f"{clusters[name].path}")
        cls = classes.get(data["class"])
        if cls is None:
            raise ConfigError(f"{doc.at('class')}: unknown class {data['class']!r}"
                              f"{suggest(data['class'], classes)} (classes are the files in "
                              f"{CLASSES}/)")
        if data["environment"] not in env_names:
            raise ConfigError(f"{doc.at('environment')}: unknown environment "
                              f"{data['environment']!r}{suggest(data['environment'], env_names)} "
                              f"(environments are listed in {ENVIRONMENTS})")
        if "site" in data:
            _check_site(doc, data["site"], site_folders)
        change = data.get("packages", {})
        add, remove = tuple(change.get("add", ())), tuple(change.get("remove", ()))
        for key, names in (("add", add), ("remove", remove)):
            for i, pkg in enumerate(names):
                where = doc.at("packages", key, i)
                if pkg not in packages:
                    raise ConfigError(f"{where}: unknown package {pkg!r}{suggest(pkg, packages)}")
                if key == "add" and pkg in cls.packages:
                    raise ConfigError(f"{where}: {pkg!r} is already in class {cls.name}'s packages")
                if key == "remove" and pkg not in cls.packages:
                    raise ConfigError(f"{where}: {pkg!r} is not in class {cls.name}'s packages, "
                                      "so there is nothing to remove")
        clusters[name] = Cluster(
            name, path, cls.name, data.get("site", name), data["environment"],
            data.get("labels", {}), {**cls.vars, **data.get("vars", {})}, add, remove,
            tuple(data["apiVersions"]) if "apiVersions" in data else None,
        )
    if not clusters:
        raise ConfigError(f"{CLUSTERS}: no clusters defined")
    for doc in docs:
        _check_stem(doc, "cluster")
    return clusters


def _shape(name: str) -> str:
    """The name without its digits: store-0042 and store-0041 are two stores, not a typo."""
    return _DIGITS.sub("", name)


@dataclass(frozen=True)
class _SiteFolders:
    """The folders of overlays/sites/, grouped by shape. Only folders whose shape is close
    to (but not the same as) a site's shape are compared with the site: with thousands
    of numbered sites, comparing every site with every folder would take seconds."""

    by_shape: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, folders: Iterable[str]) -> _SiteFolders:
        by_shape: dict[str, list[str]] = {}
        for name in sorted(folders):
            by_shape.setdefault(_shape(name), []).append(name)
        return cls({k: tuple(v) for k, v in by_shape.items()})

    def typo_of(self, site: str) -> str | None:
        """The folder `site` is a typo of, if any."""
        shape = _shape(site)
        if site in self.by_shape.get(shape, ()):
            return None
        shapes = difflib.get_close_matches(shape, [s for s in self.by_shape if s != shape],
                                           n=3, cutoff=SITE_TYPO_CUTOFF)
        candidates = [name for s in shapes for name in self.by_shape[s]]
        close = difflib.get_close_matches(site, candidates, n=1, cutoff=SITE_TYPO_CUTOFF)
        return close[0] if close else None


def _check_site(doc: Document, site: str, folders: _SiteFolders) -> None:
    """A site needs no overlay folder, but an explicit site close to a folder that exists
    is taken for a typo: it would silently miss that site's layers."""
    close = folders.typo_of(site)
    if close is not None:
        raise ConfigError(f"{doc.at('site')}: unknown site {site!r}: no overlay folder "
                          f"{OVERLAYS}/sites/{site}/ exists (did you mean {close!r}, "
                          f"whose layers are in {OVERLAYS}/sites/{close}/?)")


def load_layers(tree: Tree, classes: Mapping[str, ClusterClass], clusters: Mapping[str, Cluster],
                packages: Mapping[str, Package],
                envs: Iterable[str]) -> dict[tuple[str, str, str], Layer]:
    """Every overlay directory, checked against the inventory so a typo is an error."""
    owners: dict[str, Iterable[str]] = {
        "environments": envs, "classes": classes, "sites": {c.site for c in clusters.values()},
        "clusters": clusters,
    }
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
                raise ConfigError(_unknown_owner(folder, scope, owner, clusters,
                                                 owners[scope]))
            for pkg_name in tree.listdir(folder):
                path = f"{folder}/{pkg_name}"
                if not tree.is_dir(path):
                    continue
                pkg = packages.get(pkg_name)
                if pkg is None:
                    raise ConfigError(f"{path}: no package is named {pkg_name!r}"
                                      f"{suggest(pkg_name, packages)}; this layer would never apply")
                layer = Layer(scope, owner, pkg_name, path, tuple(tree.files(path)))  # type: ignore[arg-type]
                _check_layer(tree, layer, pkg)
                layers[(scope, owner, pkg_name)] = layer
    return layers


def _unknown_owner(folder: str, scope: str, owner: str, clusters: Mapping[str, Cluster],
                   names: Iterable[str]) -> str:
    if scope != "sites":
        what = {"classes": "class", "clusters": "cluster", "environments": "environment"}[scope]
        return (f"{folder}: no {what} is named {owner!r}{suggest(owner, names)}; "
                "this layer would never apply")
    # Sites are not declared anywhere: they are what the clusters' `site:` says, so name
    # the cluster files that may hold the typo, closest first.
    close = difflib.get_close_matches(owner, list(names), n=3)
    by_path = sorted(clusters.values(), key=lambda c: c.path)
    near = [f"{c.path} (site: {c.site})" for site in close for c in by_path if c.site == site][:3]
    hint = f"; a typo in one of these? {', '.join(near)}" if near else ""
    return (f"{folder}: no cluster has site {owner!r} (a cluster's site is its site: key, "
            f"by default its name), so this layer would never apply{hint}")


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
        need = ("a values.yaml (Helm values) or a kustomization.yaml of kind: Component"
                if pkg.type == "helm" else "a kustomization.yaml of kind: Component")
        raise ConfigError(f"{layer.path}: this layer has nothing hydrate applies, so its files "
                          f"would be ignored; a layer of the {pkg.type} package {pkg.name} must "
                          f"hold {need} (either may be a .j2 template)")
    for rel in layer.files:
        path = f"{layer.path}/{rel}"
        if posixpath.basename(rel) in kustomizations.NAMES:
            kustomizations.check(path, parse(path, tree.read(path)), component=True, root=layer.path)
        elif rel.endswith((".yaml", ".yml")) and rel != "values.yaml":
            check_yaml(path, tree.read(path))  # values.yaml is parsed when rendering


def load(tree: Tree, memo: Memo | None = None) -> Inventory:
    """The whole inventory of the configuration repository in `tree`, validated. With a
    `memo` (the render cache), files already checked are not parsed again (see Schemas)."""
    schemas = Schemas.load(memo)
    envs, envs_doc = load_environments(tree, schemas)
    packages = load_packages(tree, schemas)
    classes = load_classes(tree, schemas, packages)
    clusters = load_clusters(tree, schemas, classes, envs, packages)
    promotion_mod.check_waves(envs_doc, envs, clusters)
    layers = load_layers(tree, classes, clusters, packages, [e.name for e in envs])
    return Inventory(envs, classes, clusters, packages, layers)
