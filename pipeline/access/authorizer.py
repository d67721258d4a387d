"""The RBAC authorizer, as the API server runs it, over one cluster's roles and bindings.

* A RoleBinding grants its role's rules in its own namespace only: a Role of that
  namespace, or a ClusterRole (its non-resource rules do not apply there).
* A ClusterRoleBinding grants a ClusterRole's rules in every namespace, on cluster-scoped
  resources and on non-resource URLs.
* A ClusterRole with an `aggregationRule` holds the rules of every other ClusterRole whose
  labels one of its selectors matches (the controller's loop makes chains transitive).
* A rendered ClusterRole named like a built-in one keeps the built-in rules and labels as
  well, unless it is annotated `rbac.authorization.kubernetes.io/autoupdate: "false"` (the
  API server reconciles its built-in roles at start-up).
* `*` matches every verb, group, resource (and subresource) and URL; `*/scale` every
  resource's scale subresource; `pods` does not match `pods/exec`; a URL rule ending in
  `*` matches by prefix; a rule with `resourceNames` matches only requests for those names.
* A binding whose role does not exist grants nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.access.model import Binding, Identity, Role, Rule, Source, Subject


def _any(values: Sequence[str], wanted: str) -> bool:
    return "*" in values or wanted in values


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in rule.resources:
        if candidate in ("*", combined):
            return True
        if subresource and candidate == f"*/{subresource}":
            return True
    return False


def url_matches(rule: Rule, url: str) -> bool:
    return any(u in ("*", url) or (u.endswith("*") and url.startswith(u[:-1])) for u in rule.urls)


def rule_allows(rule: Rule, verb: str, group: str, resource: str, subresource: str, name: str) -> bool:
    """Whether a resource rule allows the request (the authorizer's RuleAllows)."""
    return (not rule.urls and _any(rule.verbs, verb) and _any(rule.groups, group)
            and resource_matches(rule, resource, subresource)
            and (not rule.names or name in rule.names))


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector against labels; the empty selector matches everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in selector.get("matchExpressions") or ():
        key, op = str(expr.get("key")), str(expr.get("operator"))
        values = {str(v) for v in expr.get("values") or ()}
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False  # the API server refuses such a selector: it selects nothing
    return True


def _unique(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    return tuple(dict.fromkeys(rules))


@dataclass(frozen=True)
class Grant:
    """Rules a binding gives a subject: in `namespace` ("" everywhere, cluster-wide)."""

    subject: Subject  # as the binding names it (a service account with its namespace)
    namespace: str
    rules: tuple[Rule, ...]
    binding: Binding
    role: Role | None  # None: the binding's role does not exist (it grants nothing)
    aggregated: bool = False


class Rbac:
    """One cluster's RBAC: built-in and rendered roles merged, aggregation resolved."""

    def __init__(self, roles: Iterable[Role], bindings: Iterable[Binding],
                 builtin_roles: Iterable[Role] = (), builtin_bindings: Iterable[Binding] = ()) -> None:
        merged: dict[tuple[str, str, str], Role] = {("ClusterRole", "", r.name): r for r in builtin_roles}
        for role in roles:
            key = (role.kind, role.namespace, role.name)
            known = merged.get(key)
            if known is not None and known.source.builtin and role.autoupdate:
                role = Role(role.kind, role.namespace, role.name, _unique((*role.rules, *known.rules)),
                            {**known.labels, **role.labels},
                            role.selectors if known.selectors is None else
                            (*known.selectors,
                             *(s for s in role.selectors or () if s not in known.selectors)),
                            True, role.source)
            merged[key] = role
        self.roles: Mapping[tuple[str, str, str], Role] = merged
        self.bindings: tuple[Binding, ...] = (*builtin_bindings, *bindings)
        self._effective: dict[str, tuple[Rule, ...]] = {}
        for kind, _, name in merged:
            if kind == "ClusterRole":
                self._resolve(name, set())

    def _resolve(self, name: str, visiting: set[str]) -> tuple[Rule, ...]:
        found = self._effective.get(name)
        if found is not None:
            return found
        role = self.roles[("ClusterRole", "", name)]
        if role.selectors is None or name in visiting:
            return role.rules
        visiting.add(name)
        rules: list[Rule] = []
        for (kind, _, other), candidate in sorted(self.roles.items()):
            if kind != "ClusterRole" or other == name:
                continue
            if any(selector_matches(s, candidate.labels) for s in role.selectors):
                rules.extend(self._resolve(other, visiting))
        visiting.discard(name)
        found = self._effective[name] = _unique(rules)
        return found

    def role_rules(self, kind: str, namespace: str, name: str) -> tuple[Role | None, tuple[Rule, ...], bool]:
        """The role a roleRef names (None if missing), its effective rules, and whether
        they come from aggregation."""
        role = self.roles.get((kind, namespace if kind == "Role" else "", name))
        if role is None:
            return None, (), False
        if kind == "ClusterRole":
            return role, self._effective.get(name, role.rules), role.selectors is not None
        return role, role.rules, False

    def grant_of(self, binding: Binding, subject: Subject) -> Grant | None:
        """What `binding` gives `subject` (None for a binding of a kind the API ignores)."""
        if binding.kind == "RoleBinding":
            if binding.role_kind not in ("Role", "ClusterRole"):
                return None
            role, rules, aggregated = self.role_rules(binding.role_kind, binding.namespace, binding.role_name)
            rules = tuple(r for r in rules if not r.urls)  # URLs are cluster-wide only
        elif binding.kind == "ClusterRoleBinding" and binding.role_kind == "ClusterRole":
            role, rules, aggregated = self.role_rules("ClusterRole", "", binding.role_name)
        else:
            return None
        named = Subject(subject.kind, subject.name,
                        (subject.namespace or binding.namespace) if subject.kind == "ServiceAccount" else "")
        return Grant(named, binding.namespace if binding.kind == "RoleBinding" else "", rules, binding,
                     role, aggregated)

    def grants(self, builtin: bool = True) -> Iterator[Grant]:
        """Every (binding, subject) grant; `builtin`: the built-in bindings' too."""
        for binding in self.bindings:
            if not builtin and binding.source.builtin:
                continue
            for subject in binding.subjects:
                grant = self.grant_of(binding, subject)
                if grant is not None:
                    yield grant

    def grants_to(self, who: Identity, builtin: bool = True) -> Iterator[Grant]:
        """The grants whose binding subject is `who` (by name, group or service account)."""
        for binding in self.bindings:
            if not builtin and binding.source.builtin:
                continue
            for subject in binding.subjects:
                if who.matches(subject, binding.namespace):
                    grant = self.grant_of(binding, subject)
                    if grant is not None:
                        yield grant

    def decide(self, who: Identity, verb: str, group: str, resource: str, subresource: str = "",
               namespace: str = "", name: str = "", url: str = "") -> tuple[Grant, ...]:
        """The grants that allow the request (empty: denied). A request without
        `namespace` is cluster-scoped (or across all namespaces): RoleBindings don't
        apply. `url`: a non-resource request (`resource` ignored)."""
        allowed: list[Grant] = []
        for grant in self.grants_to(who):
            if grant.namespace and grant.namespace != namespace:
                continue
            for rule in grant.rules:
                if url:
                    ok = bool(rule.urls) and _any(rule.verbs, verb) and url_matches(rule, url)
                else:
                    ok = rule_allows(rule, verb, group, resource, subresource, name)
                if ok:
                    allowed.append(grant)
                    break
        return tuple(allowed)


def _covers(owner: Rule, verb: str, group: str, resource: str, name: str, url: str) -> bool:
    """Kubernetes' escalation check for one broken-down permission: the owner's `*`
    matches anything; the asked `*` only the owner's `*`."""
    if not _any(owner.verbs, verb):
        return False
    if url:
        return bool(owner.urls) and (url in owner.urls or "*" in owner.urls
                                     or any(u.endswith("*") and url.startswith(u[:-1]) for u in owner.urls))
    if owner.urls or not _any(owner.groups, group):
        return False
    sub = resource.partition("/")[2]
    if not (resource in owner.resources or "*" in owner.resources
            or (sub and f"*/{sub}" in owner.resources)):
        return False
    return not owner.names or (bool(name) and name in owner.names)


def uncovered(rule: Rule, owner: Sequence[Rule]) -> list[tuple[str, str, str, str, str]]:
    """The (verb, group, resource, name, url) of `rule` that no rule of `owner` allows."""
    missing: list[tuple[str, str, str, str, str]] = []
    names = rule.names or ("",)
    for verb in rule.verbs:
        if rule.urls:
            missing.extend((verb, "", "", "", u) for u in rule.urls
                           if not any(_covers(o, verb, "", "", "", u) for o in owner))
            continue
        for group in rule.groups:
            for resource in rule.resources:
                for name in names:
                    if not any(_covers(o, verb, group, resource, name, "") for o in owner):
                        missing.append((verb, group, resource, name, ""))
    return missing


def label(role: Role | None, kind: str, name: str) -> str:
    return f"{kind} {name}" if role is None or not role.namespace else f"{kind} {role.namespace}/{name}"


def source_of(grant: Grant) -> Source:
    return grant.binding.source
