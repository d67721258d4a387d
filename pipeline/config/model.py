"""The fleet as hydrate sees it once loaded: environments, cluster classes, clusters,
packages and overlay layers, immutable. `pipeline.config.inventory` builds it from the
repository; everything after reads it.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.config import kustomizations
from pipeline.errors import ConfigError

ENVIRONMENTS = "fleet/environments.yaml"
CLASSES = "fleet/classes"
CLUSTERS = "fleet/clusters"
BASES = "bases"
OVERLAYS = "overlays"
# The layer order (later layers win): the environment's, the class's, the site's, the
# cluster's. docs/configuration.md has it as one table; `layers_of` is where it applies.
SCOPES = ("environments", "classes", "sites", "clusters")
Scope = Literal["environments", "classes", "sites", "clusters"]
PackageType = Literal["helm", "kustomize"]


@dataclass(frozen=True)
class Window:
    """When a promotion may land: `days` (0 = Monday), minutes since midnight local time
    [`start`, `end`) in `timezone`; `end` before `start` runs past midnight."""

    days: frozenset[int]
    start: int
    end: int
    timezone: str


@dataclass(frozen=True)
class Freeze:
    """When no promotion may land, whatever the windows say: [`start`, `end`)."""

    start: dt.datetime
    end: dt.datetime
    reason: str


@dataclass(frozen=True)
class Wave:
    """One step of a rollout inside an environment: the clusters it selects (every given
    selector must match; `percent` of the environment's matching clusters, by a stable
    hash), and what the next wave waits for."""

    name: str
    clusters: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    percent: int | None = None
    soak: str | None = None
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class Promotion:
    source: str
    soak: str | None
    requires: tuple[str, ...]
    pull_request: bool
    auto: bool = False
    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    waves: tuple[Wave, ...] = ()


@dataclass(frozen=True)
class Retry:
    """What the agent does after a failed sync: Argo CD retries the same revision `limit`
    times (-1: without end), waiting `backoff`, times `factor` after each failure, at most
    `max_backoff`; Flux retries without end, every `backoff`."""

    limit: int = 5
    backoff: str = "30s"
    factor: int = 2
    max_backoff: str = "5m"


@dataclass(frozen=True)
class Oci:
    """An environment whose clusters' manifests go to an OCI registry, one artifact per
    cluster (`<repository>/<cluster>`); its branch stays the ledger."""

    host: str  # registry host[:port]
    path: str  # the repository path under which each cluster has its own ("" at the top)
    tag: str  # the moving tag the agents follow
    layer: Literal["flux", "oci"] = "flux"  # the layer's media type
    plain_http: bool = False  # allowed beyond loopback

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.path}" if self.path else self.host

    def name(self, cluster: str) -> str:
        """The registry's name of `cluster`'s repository (without the host)."""
        return f"{self.path}/{cluster}" if self.path else cluster


@dataclass(frozen=True)
class Environment:
    name: str
    branch: str
    promotion: Promotion | None
    agent: Literal["argocd", "flux"] = "argocd"
    retry: Retry = Retry()
    oci: Oci | None = None  # None: the manifests go to the branch


@dataclass(frozen=True)
class ClusterClass:
    name: str
    path: str
    description: str
    kubernetes_version: str
    capacity: Mapping[str, Any]
    packages: tuple[str, ...]
    vars: Mapping[str, Any]
    api_versions: tuple[str, ...] = ()  # APIs served beyond the defaults (Helm Capabilities, validation)


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
    api_versions: tuple[str, ...] | None = None  # None: its class's


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
    description: str | None = None  # one line, for `hydrate catalog`
    owner: str | None = None  # who to ask (a team)


@dataclass(frozen=True)
class Layer:
    """One overlay directory: overlays/<scope>/<owner>/<package>/ (owner: the environment,
    class, site or cluster it applies to)."""

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
        hint = suggest(name, self.env_names) or (
            f" (fleet/environments.yaml has {', '.join(self.env_names)})")
        raise ConfigError(f"unknown environment {name!r}{hint}")

    @property
    def env_names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.environments)

    def cluster(self, name: str) -> Cluster:
        try:
            return self.clusters[name]
        except KeyError:
            raise ConfigError(
                f"unknown cluster {name!r}{suggest(name, self.clusters)} "
                f"(clusters are the files in {CLUSTERS}/)"
            ) from None

    def packages_of(self, cluster: Cluster) -> tuple[str, ...]:
        """The cluster's package list: its class's, plus `add`, minus `remove`."""
        base = self.classes[cluster.class_name].packages
        return tuple(p for p in (*base, *cluster.add) if p not in cluster.remove)

    def api_versions(self, cluster: Cluster) -> tuple[str, ...]:
        """The extra API versions the cluster declares it serves (its own, else its
        class's), sorted; the APIs of CRDs its packages render are added at render time."""
        own = cluster.api_versions
        return tuple(sorted(set(own if own is not None else
                                self.classes[cluster.class_name].api_versions)))

    def layers_of(self, cluster: Cluster, package: str) -> tuple[Layer, ...]:
        """The overlay layers for (cluster, package), in the order they apply."""
        owners = (cluster.environment, cluster.class_name, cluster.site, cluster.name)
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


def suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
