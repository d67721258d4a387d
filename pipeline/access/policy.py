"""The tenant policy, fleet/policy.yaml `access:`: who may hold what. Judged per rendered
binding, so each violation lands on the binding's file and line; validation turns the
hits into findings (severities, waivers, SARIF) like any other rule's.

    access:
      tenants:                       # each: its subjects may act only in its namespaces,
      - name: retail-app             #   and there at most what maxRole allows
        subjects: [group:retail-app-team, "serviceaccount:pos/*"]
        namespaces: [pos, "pos-*"]
        maxRole: edit                # a ClusterRole: built-in or rendered, aggregation counted
      allow:                         # a power named here: only these subjects may hold it
        cluster-admin: [group:platform-admins]
        escalate: [group:platform-admins]
        bind: [group:platform-admins]
        impersonate: [group:platform-admins]
        secrets: [group:platform-admins]          # read Secrets cluster-wide
        pods-exec: [group:platform-admins]        # create pods/exec, anywhere

Subjects are written as `hydrate access --subject` takes them, with shell-style patterns.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.access.authorizer import Grant, Rbac, rule_allows, uncovered
from pipeline.access.fleet import Analyzer
from pipeline.access.model import RBAC
from pipeline.render.engine import ClusterRender

VERSION = "1"  # of the cached hits; bump when their shape or meaning changes
API_VERSION = f"{RBAC}/v1"

POWERS = ("cluster-admin", "escalate", "bind", "impersonate", "secrets", "pods-exec")


@dataclass(frozen=True)
class Tenant:
    name: str
    subjects: tuple[str, ...]
    namespaces: tuple[str, ...]
    max_role: str


@dataclass(frozen=True)
class AccessPolicy:
    tenants: tuple[Tenant, ...] = ()
    allow: Mapping[str, tuple[str, ...]] | None = None  # power → who may hold it

    @classmethod
    def of(cls, raw: Mapping[str, Any] | None) -> AccessPolicy | None:
        """From policy.yaml's `access:` (checked by its schema); None when there is none."""
        if not raw:
            return None
        tenants = tuple(Tenant(str(t["name"]), tuple(map(str, t["subjects"])),
                               tuple(map(str, t["namespaces"])), str(t.get("maxRole", "edit")))
                        for t in raw.get("tenants") or ())
        allow = {str(k): tuple(map(str, v or ())) for k, v in (raw.get("allow") or {}).items()}
        return cls(tenants, allow)

    @property
    def digest(self) -> str:
        tenants = [[t.name, t.subjects, t.namespaces, t.max_role] for t in self.tenants]
        return hashlib.sha256(json.dumps([*tenants, sorted((self.allow or {}).items())]).encode()).hexdigest()


@dataclass(frozen=True)
class Hit:
    """A violation by one binding: validation makes it a finding."""

    rule: str
    package: str | None
    kind: str
    namespace: str
    name: str
    message: str
    path: str | None
    line: int

    def dump(self) -> list[Any]:
        return [self.rule, self.package, self.kind, self.namespace, self.name, self.message,
                self.path, self.line]


def _listed(subject: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(subject, p) for p in patterns)


def _any_rule(grant: Grant, verb: str, group: str, resources: Sequence[str]) -> bool:
    return any(rule_allows(rule, verb, group, res, sub, "")
               for rule in grant.rules for full in resources
               for res, _, sub in [full.partition("/")])


def _impersonates(grant: Grant, kinds: Sequence[str]) -> bool:
    """impersonate on any of `kinds` (users and groups are core, uids and userextras/KEY
    are authentication.k8s.io's; a wildcard group or resource counts)."""
    return any(("*" in r.verbs or "impersonate" in r.verbs) and not r.urls
               and ("*" in r.resources
                    or any(res.split("/")[0] in kinds or res == "*/*" for res in r.resources))
               for r in grant.rules)


def powers(grant: Grant) -> list[str]:
    """The powers of `POWERS` that `grant` holds."""
    held = []
    wide = grant.namespace == ""
    if wide and any("*" in r.verbs and "*" in r.groups and "*" in r.resources for r in grant.rules):
        held.append("cluster-admin")
    for verb in ("escalate", "bind"):
        if _any_rule(grant, verb, RBAC, ("roles", "clusterroles")):
            held.append(verb)
    if (_impersonates(grant, ("users", "groups", "uids", "userextras"))
            or (wide and _impersonates(grant, ("serviceaccounts",)))):
        held.append("impersonate")
    if wide and any(_any_rule(grant, v, "", ("secrets",)) for v in ("get", "list", "watch")):
        held.append("secrets")
    if _any_rule(grant, "create", "", ("pods/exec",)):
        held.append("pods-exec")
    return held


def _beyond(missing: list[tuple[str, str, str, str, str]]) -> str:
    shown = []
    for verb, group, resource, name, url in missing[:4]:
        what = url or (f"{resource}.{group}" if group else resource) + (f" [{name}]" if name else "")
        shown.append(f"{verb} {what}")
    more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
    return ", ".join(shown) + more


def judge(policy: AccessPolicy, rbac: Rbac) -> list[tuple[str, Grant, str]]:
    """(rule, grant, message) for each violation of the cluster's rendered bindings."""
    found: list[tuple[str, Grant, str]] = []
    for grant in rbac.grants(builtin=False):
        subject = str(grant.subject)
        where = f"in namespace {grant.namespace}" if grant.namespace else "cluster-wide"
        role = f"{grant.binding.role_kind} {grant.binding.role_name}"
        for tenant in policy.tenants:
            if not _listed(subject, tenant.subjects):
                continue
            if not grant.namespace or not _listed(grant.namespace, tenant.namespaces):
                found.append(("access-tenant-scope", grant,
                              f"gives tenant {tenant.name}'s {subject} {role} {where}; the tenant may "
                              f"act only in namespaces {', '.join(tenant.namespaces)}"))
                continue
            limit_role, limit, _ = rbac.role_rules("ClusterRole", "", tenant.max_role)
            missing = [m for rule in grant.rules for m in uncovered(rule, limit)]
            if missing:
                why = ("" if limit_role is not None
                       else f" (ClusterRole {tenant.max_role} does not exist here)")
                found.append(("access-tenant-role", grant,
                              f"gives tenant {tenant.name}'s {subject} {role} {where}, beyond its maxRole "
                              f"{tenant.max_role}{why}: {_beyond(list(dict.fromkeys(missing)))}"))
        for power in powers(grant):
            allowed = (policy.allow or {}).get(power)
            if allowed is None or _listed(subject, allowed):
                continue
            found.append((f"access-{power}", grant,
                          f"gives {subject} {power} through {role} {where}; access.allow.{power} "
                          "does not list it"))
    return found


class Judge:
    """Judges clusters against the policy, once per distinct RBAC content (and, with a
    cache, once per content ever: a warm run parses no object)."""

    def __init__(self, policy: AccessPolicy, analyzer: Analyzer, cache: Any = None,
                 engine: str = "") -> None:
        self._policy, self._analyzer, self._cache, self._engine = policy, analyzer, cache, engine
        self._memo: dict[str, tuple[Hit, ...]] = {}

    def hits(self, render: ClusterRender) -> tuple[Hit, ...]:
        key = self._analyzer.key(render)
        found = self._memo.get(key)
        if found is not None:
            return found
        cache_key = hashlib.sha256(json.dumps(["access", VERSION, self._engine, self._policy.digest,
                                               key]).encode()).hexdigest()
        raw = self._cache.get(cache_key) if self._cache is not None else None
        if raw is not None:
            found = tuple(Hit(*h) for h in json.loads(raw))
        else:
            rbac = self._analyzer.analyse(render).rbac
            found = tuple(Hit(rule, g.binding.source.package, g.binding.kind, g.binding.namespace,
                              g.binding.name, message, g.binding.source.path, g.binding.source.line)
                          for rule, g, message in judge(self._policy, rbac))
            if self._cache is not None:
                self._cache.put(cache_key, json.dumps([h.dump() for h in found]).encode())
        self._memo[key] = found
        return found

