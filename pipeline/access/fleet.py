"""Access across a fleet: each cluster's RBAC analysed once per distinct content (most
clusters of a class render the same roles and bindings), and the same permission on many
clusters reported once with the list of them.

A cluster's RBAC key is the digest of the built-in dataset of its Kubernetes version and
of its rendered Roles, ClusterRoles and bindings (each package output's digest worked out
once): clusters with equal keys share one analysis, and a warm run parses no object.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.access import bootstrap
from pipeline.access.authorizer import Grant, Rbac, rule_allows, url_matches
from pipeline.access.model import (
    KINDS,
    RBAC,
    Binding,
    Identity,
    Role,
    Rule,
    Source,
    Subject,
    binding_of,
    role_of,
)
from pipeline.config.model import Inventory
from pipeline.errors import ConfigError
from pipeline.render.engine import ClusterRender, PackageRender
from pipeline.render.resources import Resource

# (origin file, kind, name, field, namespace) → (path, line) of the field in the repository,
# or None (the namespace tells apart two objects of one kind and name in one file)
Locate = Callable[[str | None, str, str, str, str], tuple[str, int] | None]


@dataclass(frozen=True)
class Row:
    """One permission: verbs on one resource (or URL) in a namespace ("" cluster-wide),
    granted to `subject` by `binding` through its role."""

    subject: Subject
    namespace: str
    group: str
    resource: str  # resource or resource/subresource; "" for a URL
    names: tuple[str, ...]
    url: str
    verbs: tuple[str, ...]
    binding: Binding
    role: str  # "ClusterRole edit", "Role pos/app"; "(missing) ClusterRole x"
    aggregated: bool

    def allows(self, verb: str, group: str, resource: str, subresource: str, url: str) -> bool:
        """Whether this permission allows the request (`url`: a non-resource one)."""
        if url or self.url:
            return bool(url and self.url) and ("*" in self.verbs or verb in self.verbs) and url_matches(
                Rule(self.verbs, urls=(self.url,)), url)
        return rule_allows(Rule(self.verbs, (self.group,), (self.resource,)), verb, group, resource,
                           subresource, "")


def rows_of(grant: Grant) -> list[Row]:
    """A grant broken down per resource (group x resource) and per URL, verbs merged."""
    role = ("(missing) " if grant.role is None else "") + (
        f"{grant.binding.role_kind} {grant.binding.namespace}/{grant.binding.role_name}"
        if grant.binding.role_kind == "Role" else f"{grant.binding.role_kind} {grant.binding.role_name}")
    verbs: dict[tuple[str, str, tuple[str, ...], str], set[str]] = {}
    for rule in grant.rules:
        if rule.urls:
            for url in rule.urls:
                verbs.setdefault(("", "", (), url), set()).update(rule.verbs)
            continue
        for group in rule.groups:
            for resource in rule.resources:
                verbs.setdefault((group, resource, tuple(sorted(rule.names)), ""), set()).update(rule.verbs)
    return [Row(grant.subject, grant.namespace, g, r, n, u, tuple(sorted(v)), grant.binding, role,
                grant.aggregated) for (g, r, n, u), v in verbs.items()]


@dataclass(frozen=True)
class ClusterAccess:
    """One distinct RBAC content: the authorizer over it and its permission rows."""

    key: str
    rbac: Rbac
    dataset: str

    def rows(self, builtin: bool) -> list[Row]:
        return [row for grant in self.rbac.grants(builtin) for row in rows_of(grant)]


def _rbac_objects(pkg: PackageRender) -> tuple[Resource, ...]:
    return tuple(r for r in pkg.resources if r.id.group == RBAC and r.id.kind in KINDS)


class Analyzer:
    """Analyses clusters' RBAC, sharing work between clusters with the same content."""

    def __init__(self, inv: Inventory, locate: Locate | None = None) -> None:
        self._inv = inv
        self._locate = locate
        self._datasets: dict[str, str] = {}
        self._package_digests: dict[int, tuple[str, tuple[Resource, ...]]] = {}
        self._analyses: dict[str, ClusterAccess] = {}
        self._keys: dict[tuple[str, str], str] = {}

    def dataset(self, class_name: str) -> str:
        found = self._datasets.get(class_name)
        if found is None:
            cls = self._inv.classes[class_name]
            try:
                found = self._datasets[class_name] = bootstrap.dataset_for(cls.kubernetes_version)
            except ValueError as e:
                raise ConfigError(f"{cls.path}: kubernetesVersion: {e}; write it as \"1.30\"") from None
        return found

    def _package(self, pkg: PackageRender) -> tuple[str, tuple[Resource, ...]]:
        memo = id(pkg.resources)
        found = self._package_digests.get(memo)
        if found is None:
            objects = _rbac_objects(pkg)
            digest = hashlib.sha256(b"\0".join(r.text for r in objects)).hexdigest() if objects else ""
            found = self._package_digests[memo] = (digest, objects)
        return found

    def key(self, render: ClusterRender) -> str:
        """The cluster's RBAC key (see the module's docstring). Clusters whose files are
        the same (`ClusterRender.key`) in one class share it without a look at a package."""
        memo = (render.cluster.class_name, render.key) if render.key else None
        found = self._keys.get(memo) if memo is not None else None
        if found is not None:
            return found
        parts = [self.dataset(render.cluster.class_name)]
        for pkg in render.packages:
            digest, _ = self._package(pkg)
            if digest:
                parts.append(f"{pkg.name}:{digest}")
        found = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        if memo is not None:
            self._keys[memo] = found
        return found

    def _source(self, package: str, res: Resource) -> Source:
        # A binding's line to fix is its roleRef (what it grants); a role's, its name.
        field = "roleRef" if res.id.kind.endswith("Binding") else "metadata.name"
        found = (self._locate(res.origin, res.id.kind, res.id.name, field, res.id.namespace)
                 if self._locate else None)
        if found is None:
            return Source(package, res.origin, 0)
        return Source(package, found[0], found[1])

    def analyse(self, render: ClusterRender) -> ClusterAccess:
        key = self.key(render)
        found = self._analyses.get(key)
        if found is not None:
            return found
        roles: list[Role] = []
        bindings: list[Binding] = []
        for pkg in render.packages:
            for res in self._package(pkg)[1]:
                source = self._source(pkg.name, res)
                if res.id.kind in ("Role", "ClusterRole"):
                    roles.append(role_of(res.body, source))
                else:
                    bindings.append(binding_of(res.body, source))
        dataset = self.dataset(render.cluster.class_name)
        policy = bootstrap.load(dataset)
        found = self._analyses[key] = ClusterAccess(key, Rbac(roles, bindings, policy.roles, policy.bindings),
                                                    dataset)
        return found


@dataclass(frozen=True)
class Query:
    """What `hydrate access` asks: everything, or filtered."""

    subject: Subject | None = None
    namespace: str | None = None
    verb: str | None = None  # --can VERB RESOURCE
    group: str = ""
    resource: str = ""
    subresource: str = ""
    url: str = ""
    builtin: bool = False  # list the built-in bindings' grants too


def parse_can(verb: str, target: str) -> tuple[str, str, str, str, str]:
    """`--can VERB RESOURCE[/SUB][.GROUP]` or `--can VERB /url` → (verb, group, resource,
    subresource, url); ValueError for an empty part."""
    if not verb or not target:
        raise ValueError("--can takes a verb and a resource, e.g. --can delete secrets")
    if target.startswith("/"):
        return verb, "", "", "", target
    head, _, sub = target.partition("/")
    resource, _, group = head.partition(".")
    if not resource:
        raise ValueError(f"--can {verb} {target}: name a resource, e.g. deployments.apps")
    return verb, group, resource, sub, ""


def matches(row: Row, query: Query, who: Identity | None) -> bool:
    if who is not None and not who.matches(row.subject, "") and not (
            row.subject.kind == "ServiceAccount" and who.matches(row.subject, row.subject.namespace)):
        return False
    if query.namespace is not None and row.namespace not in ("", query.namespace):
        return False
    return query.verb is None or row.allows(query.verb, query.group, query.resource,
                                            query.subresource, query.url)


@dataclass(frozen=True)
class Permission:
    """A row and every selected cluster where it holds."""

    row: Row
    clusters: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """`--can` with a subject: per cluster, the grants that allow it (empty: denied)."""

    allowed: Mapping[str, tuple[Grant, ...]]
    denied: tuple[str, ...]


@dataclass(frozen=True)
class AccessReport:
    clusters: tuple[str, ...]  # the selected clusters, in inventory order
    permissions: tuple[Permission, ...]
    query: Query
    answer: Answer | None = None
    datasets: Mapping[str, dict[str, Any]] | None = None  # dataset → its source


def _order(p: Permission) -> tuple[Any, ...]:
    r = p.row
    return (r.subject.kind, r.subject.namespace, r.subject.name, r.namespace != "", r.namespace,
            r.binding.label, r.group, r.resource, r.url, r.names)


def report(analyzer: Analyzer, renders: Sequence[ClusterRender], query: Query) -> AccessReport:
    """The permissions of the selected clusters that `query` asks for."""
    who = Identity.of(query.subject) if query.subject is not None else None
    where: dict[Row, list[str]] = {}
    per_key: dict[str, list[Row]] = {}
    allowed: dict[str, tuple[Grant, ...]] = {}
    denied: list[str] = []
    used: set[str] = set()
    for render in renders:
        access = analyzer.analyse(render)
        used.add(access.dataset)
        rows = per_key.get(access.key)
        if rows is None:
            # A subject's own question counts the built-in bindings (system:authenticated …).
            rows = per_key[access.key] = [r for r in access.rows(query.builtin or who is not None)
                                          if matches(r, query, who)]
        for row in rows:
            where.setdefault(row, []).append(render.cluster.name)
        if who is not None and query.verb is not None:
            grants = access.rbac.decide(who, query.verb, query.group, query.resource, query.subresource,
                                        query.namespace or "", "", query.url)
            if grants:
                allowed[render.cluster.name] = grants
            else:
                denied.append(render.cluster.name)
    permissions = sorted((Permission(row, tuple(names)) for row, names in where.items()), key=_order)
    answer = Answer(allowed, tuple(denied)) if who is not None and query.verb is not None else None
    return AccessReport(tuple(r.cluster.name for r in renders), tuple(permissions), query, answer,
                        {d: bootstrap.load(d).source for d in sorted(used)})


def subjects(permissions: Iterable[Permission]) -> dict[Subject, list[Permission]]:
    """Permissions by subject, in report order."""
    found: dict[Subject, list[Permission]] = {}
    for p in permissions:
        found.setdefault(p.row.subject, []).append(p)
    return found
