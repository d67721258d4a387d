"""RBAC objects as values: rules, roles, bindings and subjects, read from rendered
objects (or from the built-in policy's data), and who a subject is to the authorizer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

RBAC = "rbac.authorization.k8s.io"
KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
SUBJECT_KINDS = {"user": "User", "group": "Group", "serviceaccount": "ServiceAccount"}
AUTHENTICATED = "system:authenticated"


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class Rule:
    """One PolicyRule. Empty `names`: any name; `urls` set: a non-resource rule."""

    verbs: tuple[str, ...]
    groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()

    @classmethod
    def of(cls, raw: Any) -> Rule:
        raw = raw if isinstance(raw, Mapping) else {}
        return cls(_strings(raw.get("verbs")), _strings(raw.get("apiGroups")),
                   _strings(raw.get("resources")), _strings(raw.get("resourceNames")),
                   _strings(raw.get("nonResourceURLs")))


@dataclass(frozen=True)
class Source:
    """Where an RBAC object comes from: a package's rendered object (its repository file,
    when known) or Kubernetes' built-in policy (`package` None)."""

    package: str | None
    path: str | None = None
    line: int = 0

    @property
    def builtin(self) -> bool:
        return self.package is None


BUILTIN = Source(None)


@dataclass(frozen=True)
class Role:
    kind: str  # Role | ClusterRole
    namespace: str  # "" for a ClusterRole
    name: str
    rules: tuple[Rule, ...]
    labels: Mapping[str, str]
    selectors: tuple[Mapping[str, Any], ...] | None  # aggregationRule.clusterRoleSelectors
    autoupdate: bool  # the built-in role of the same name is merged in (API server reconcile)
    source: Source


@dataclass(frozen=True)
class Subject:
    kind: str  # User | Group | ServiceAccount
    name: str
    namespace: str = ""  # ServiceAccount only

    def __str__(self) -> str:
        key = {v: k for k, v in SUBJECT_KINDS.items()}[self.kind]
        return (f"{key}:{self.namespace}/{self.name}" if self.kind == "ServiceAccount"
                else f"{key}:{self.name}")

    def as_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "name": self.name, "namespace": self.namespace or None}


@dataclass(frozen=True)
class Binding:
    kind: str  # RoleBinding | ClusterRoleBinding
    namespace: str
    name: str
    role_kind: str
    role_name: str
    subjects: tuple[Subject, ...]
    source: Source

    @property
    def label(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def role_of(body: Mapping[str, Any], source: Source) -> Role:
    meta = _map(body.get("metadata"))
    labels, annotations = _map(meta.get("labels")), _map(meta.get("annotations"))
    aggregation = body.get("aggregationRule")
    selectors = None
    if isinstance(aggregation, Mapping):
        found = aggregation.get("clusterRoleSelectors")
        selectors = tuple(_map(s) for s in found) if isinstance(found, list) else ()
    rules = body.get("rules")
    return Role(str(body.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                tuple(Rule.of(r) for r in rules) if isinstance(rules, list) else (),
                {str(k): str(v) for k, v in labels.items()}, selectors,
                str(annotations.get("rbac.authorization.kubernetes.io/autoupdate", "true")) != "false",
                source)


def binding_of(body: Mapping[str, Any], source: Source) -> Binding:
    meta, ref = _map(body.get("metadata")), _map(body.get("roleRef"))
    subjects = []
    for s in body.get("subjects") or ():
        if isinstance(s, Mapping) and s.get("kind") in SUBJECT_KINDS.values():
            subjects.append(Subject(str(s["kind"]), str(s.get("name") or ""),
                                    str(s.get("namespace") or "") if s["kind"] == "ServiceAccount" else ""))
    return Binding(str(body.get("kind", "")), str(meta.get("namespace") or ""), str(meta.get("name") or ""),
                   str(ref.get("kind") or ""), str(ref.get("name") or ""), tuple(subjects), source)


def builtin(data: Mapping[str, Any]) -> tuple[tuple[Role, ...], tuple[Binding, ...]]:
    """The roles and bindings of a dataset of `pipeline/access/bootstrap/`."""
    roles = tuple(role_of({"kind": "ClusterRole", "metadata": {"name": r["name"], "labels": r.get("labels")},
                           "rules": r.get("rules"),
                           **({"aggregationRule": {"clusterRoleSelectors": r["aggregationRule"]}}
                              if "aggregationRule" in r else {})}, BUILTIN)
                  for r in data["clusterRoles"])
    bindings = tuple(binding_of({"kind": "ClusterRoleBinding", "metadata": {"name": b["name"]},
                                 "roleRef": b["roleRef"], "subjects": b.get("subjects")}, BUILTIN)
                     for b in data["clusterRoleBindings"])
    return roles, bindings


@dataclass(frozen=True)
class Identity:
    """Who asks, as the authenticator hands it to the authorizer: a user name and groups."""

    user: str | None
    groups: frozenset[str]
    subject: Subject

    @classmethod
    def of(cls, subject: Subject) -> Identity:
        """A user is also system:authenticated; a service account is the user
        system:serviceaccount:NS:NAME in groups system:serviceaccounts,
        system:serviceaccounts:NS and system:authenticated; a group is just that group."""
        if subject.kind == "Group":
            return cls(None, frozenset({subject.name}), subject)
        if subject.kind == "ServiceAccount":
            return cls(f"system:serviceaccount:{subject.namespace}:{subject.name}",
                       frozenset({"system:serviceaccounts", f"system:serviceaccounts:{subject.namespace}",
                                  AUTHENTICATED}), subject)
        return cls(subject.name, frozenset({AUTHENTICATED}), subject)

    def matches(self, s: Subject, binding_namespace: str) -> bool:
        """Whether binding subject `s` (of a binding in `binding_namespace`) is this identity."""
        if s.kind == "Group":
            return s.name in self.groups
        if s.kind == "User":
            return self.user is not None and s.name == self.user
        namespace = s.namespace or binding_namespace  # the binding's namespace by default
        return (bool(namespace) and self.user is not None
                and self.user == f"system:serviceaccount:{namespace}:{s.name}")


def parse_subject(text: str) -> Subject:
    """`user:NAME`, `group:NAME` or `serviceaccount:NS/NAME` (ValueError otherwise: the
    CLI's usage error)."""
    kind, sep, name = text.partition(":")
    found = SUBJECT_KINDS.get(kind.lower())
    if not sep or found is None or not name:
        raise ValueError(f"{text!r}: write KIND:NAME with KIND user, group or "
                         "serviceaccount (serviceaccount:NAMESPACE/NAME)")
    if found == "ServiceAccount":
        namespace, slash, sa = name.partition("/")
        if not slash or not namespace or not sa:
            raise ValueError(f"{text!r}: a service account is serviceaccount:NAMESPACE/NAME")
        return Subject(found, sa, namespace)
    return Subject(found, name)


def subjects_of(bindings: Iterable[Binding]) -> set[Subject]:
    """Every subject the bindings name, service accounts with their namespace filled in."""
    return {Subject(s.kind, s.name, s.namespace or b.namespace) for b in bindings for s in b.subjects}
