"""An independent oracle for the authorizer: fixture RBAC and a table of expectations
derived by hand from Kubernetes' RBAC rules (docs: "Using RBAC Authorization"), not from
hydrate's output. Each row: who asks, what, where, and whether the API server allows it.

The fixture has: an aggregation chain (tenant-admin ← tenant-edit ← widgets-edit by
labels, plus the built-in edit picking up a custom resource), a RoleBinding to a
ClusterRole, a binding to a ServiceAccount of another namespace (and one with the
namespace left out), wildcards, resourceNames, non-resource URLs, a binding to a group
of service accounts, a Role of the wrong namespace and a binding to a missing role.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from pipeline.access import bootstrap
from pipeline.access.authorizer import Rbac
from pipeline.access.model import Identity, Source, Subject, binding_of, role_of

FIXTURE = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tenant-admin}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {example.com/aggregate-to-tenant-admin: "true"}
rules:
- {apiGroups: [""], resources: [nodes], verbs: [delete]}   # replaced by aggregation
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: tenant-edit
  labels: {example.com/aggregate-to-tenant-admin: "true"}
aggregationRule:
  clusterRoleSelectors:
  - matchExpressions:
    - {key: example.com/aggregate-to-tenant-edit, operator: In, values: ["true"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-edit
  labels:
    example.com/aggregate-to-tenant-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
rules:
- {apiGroups: [widgets.example.com], resources: [widgets, widgets/status], verbs: [get, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: config-reader}
rules:
- {apiGroups: [""], resources: [configmaps], resourceNames: [app-config], verbs: [get]}
- {nonResourceURLs: [/metrics, /debug/*], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: scaler}
rules:
- {apiGroups: ["*"], resources: ["*/scale"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: shop}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: team-admin, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tenant-admin}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: shop-team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builtin-edit, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: dev@example.com}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ci-reads-config, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: config-reader}
subjects:
- {kind: ServiceAccount, name: deployer, namespace: ci}
- {kind: ServiceAccount, name: local}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: metrics}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: config-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: monitoring}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: autoscaler}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scaler}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts:autoscaling"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reads-pods, namespace: other}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: carol}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reads-pods, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: dave}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: dangling}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: no-such-role}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: erin}
"""

G, U, SA = "Group", "User", "ServiceAccount"
RBAC, AUTHZ = "rbac.authorization.k8s.io", "authorization.k8s.io"

# (subject kind, name, namespace), verb, group, resource, subresource, request namespace,
# object name or URL, expected — each worked out from the RBAC rules by hand.
ORACLE: list[tuple[tuple[str, str, str], str, str, str, str, str, str, bool]] = [
    # The aggregation chain: widgets-edit → tenant-edit → tenant-admin, in shop only.
    ((G, "shop-team", ""), "update", "widgets.example.com", "widgets", "", "shop", "", True),
    ((G, "shop-team", ""), "update", "widgets.example.com", "widgets", "status", "shop", "", True),
    ((G, "shop-team", ""), "delete", "widgets.example.com", "widgets", "", "shop", "", False),
    ((G, "shop-team", ""), "get", "widgets.example.com", "widgets", "", "other", "", False),
    ((G, "shop-team", ""), "get", "widgets.example.com", "widgets", "", "", "", False),
    # tenant-admin's own rule is replaced by what it aggregates.
    ((G, "shop-team", ""), "delete", "", "nodes", "", "", "", False),
    # Built-in edit (RoleBinding to a ClusterRole): its own rules, and the custom resource
    # aggregated into it by label; none of admin's (roles) and not cluster-wide.
    ((U, "dev@example.com", ""), "delete", "", "secrets", "", "shop", "", True),
    ((U, "dev@example.com", ""), "create", "", "pods", "exec", "shop", "", True),
    ((U, "dev@example.com", ""), "update", "widgets.example.com", "widgets", "", "shop", "", True),
    ((U, "dev@example.com", ""), "create", RBAC, "rolebindings", "", "shop", "", False),
    ((U, "dev@example.com", ""), "get", "", "resourcequotas", "", "shop", "", True),  # via view
    ((U, "dev@example.com", ""), "update", "", "resourcequotas", "", "shop", "", False),
    ((U, "dev@example.com", ""), "get", "", "secrets", "", "kube-system", "", False),
    # A ServiceAccount of another namespace, bound in shop; resourceNames; the subject
    # whose namespace is left out is the binding's namespace's.
    ((SA, "deployer", "ci"), "get", "", "configmaps", "", "shop", "app-config", True),
    ((SA, "deployer", "ci"), "get", "", "configmaps", "", "shop", "other-config", False),
    ((SA, "deployer", "ci"), "list", "", "configmaps", "", "shop", "", False),
    ((SA, "deployer", "ci"), "get", "", "configmaps", "", "ci", "app-config", False),
    ((SA, "deployer", "shop"), "get", "", "configmaps", "", "shop", "app-config", False),
    ((SA, "local", "shop"), "get", "", "configmaps", "", "shop", "app-config", True),
    ((SA, "local", "ci"), "get", "", "configmaps", "", "shop", "app-config", False),
    # Non-resource URLs: only through a ClusterRoleBinding; "/debug/*" is a prefix.
    ((G, "monitoring", ""), "get", "", "", "", "", "/metrics", True),
    ((G, "monitoring", ""), "get", "", "", "", "", "/debug/pprof/heap", True),
    ((G, "monitoring", ""), "post", "", "", "", "", "/metrics", False),
    ((G, "monitoring", ""), "get", "", "", "", "", "/logs", False),
    ((SA, "deployer", "ci"), "get", "", "", "", "", "/metrics", False),  # its RoleBinding gives no URL
    # Wildcards: "*/scale" in "*" groups, every verb, everywhere; not the resource itself.
    ((SA, "hpa", "autoscaling"), "patch", "apps", "deployments", "scale", "prod", "", True),
    ((SA, "hpa", "autoscaling"), "update", "example.com", "widgets", "scale", "", "", True),
    ((SA, "hpa", "autoscaling"), "get", "apps", "deployments", "", "prod", "", False),
    ((SA, "hpa", "other"), "patch", "apps", "deployments", "scale", "prod", "", False),
    # Service accounts' and users' implicit groups: the built-in bindings count.
    ((SA, "hpa", "autoscaling"), "get", "", "", "", "", "/version", True),
    ((SA, "any", "ns"), "get", "", "", "", "", "/.well-known/openid-configuration", False),
    ((U, "dev@example.com", ""), "create", AUTHZ, "selfsubjectaccessreviews", "", "", "", True),
    ((G, "shop-team", ""), "get", "", "", "", "", "/version", False),  # a group is not authenticated users
    ((G, "system:masters", ""), "delete", "", "nodes", "", "", "", True),
    ((G, "system:masters", ""), "get", "", "", "", "", "/anything", True),
    # A Role is found in the binding's own namespace only; a missing role grants nothing.
    ((U, "carol", ""), "get", "", "pods", "", "other", "", False),
    ((U, "dave", ""), "get", "", "pods", "", "shop", "", True),
    ((U, "dave", ""), "get", "", "pods", "", "", "", False),
    ((U, "erin", ""), "get", "", "pods", "", "", "", False),
]


def _rbac() -> Rbac:
    docs: list[dict[str, Any]] = [d for d in yaml.safe_load_all(FIXTURE) if d]
    source = Source("fixture", "fixture.yaml", 1)
    roles = [role_of(d, source) for d in docs if d["kind"] in ("Role", "ClusterRole")]
    bindings = [binding_of(d, source) for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    policy = bootstrap.load(bootstrap.dataset_for("1.30"))
    return Rbac(roles, bindings, policy.roles, policy.bindings)


@pytest.mark.parametrize(("who", "verb", "group", "resource", "sub", "namespace", "name", "expected"), ORACLE)
def test_authorizer_agrees_with_the_hand_derived_table(
        who: tuple[str, str, str], verb: str, group: str, resource: str, sub: str, namespace: str,
        name: str, expected: bool) -> None:
    identity = Identity.of(Subject(*who))
    url = name if name.startswith("/") else ""
    grants = _rbac().decide(identity, verb, group, resource, sub, namespace,
                            "" if url else name, url)
    assert bool(grants) is expected, (who, verb, group, resource, sub, namespace, name, grants)


def test_a_missing_role_is_a_grant_of_nothing_with_the_role_named() -> None:
    grants = [g for g in _rbac().grants(builtin=False) if g.binding.name == "dangling"]
    assert len(grants) == 1
    assert grants[0].role is None
    assert grants[0].rules == ()


def test_rendered_builtin_name_is_reconciled_unless_autoupdate_is_false() -> None:
    policy = bootstrap.load(bootstrap.dataset_for("1.30"))
    extra = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": {"name": "view"}, "rules": [
                 {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
    binding = binding_of({"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
                          "roleRef": {"kind": "ClusterRole", "name": "view"},
                          "subjects": [{"kind": "User", "name": "v"}]}, Source("p"))
    who = Identity.of(Subject("User", "v"))
    merged = Rbac([role_of(extra, Source("p"))], [binding], policy.roles, policy.bindings)
    # Reconciled: the built-in aggregationRule comes back, and the aggregation controller
    # writes the role's rules from the roles it selects: the added rule is overwritten.
    assert merged.decide(who, "get", "", "pods")
    assert not merged.decide(who, "get", "", "secrets")
    pinned = {**extra, "metadata": {"name": "view", "annotations": {
        "rbac.authorization.kubernetes.io/autoupdate": "false"}}}
    alone = Rbac([role_of(pinned, Source("p"))], [binding], policy.roles, policy.bindings)
    assert not alone.decide(who, "get", "", "pods")
    assert alone.decide(who, "get", "", "secrets")


def test_empty_aggregation_selector_takes_every_cluster_role() -> None:
    everything = {"kind": "ClusterRole", "metadata": {"name": "all"},
                  "aggregationRule": {"clusterRoleSelectors": [{}]}}
    binding = binding_of({"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
                          "roleRef": {"kind": "ClusterRole", "name": "all"},
                          "subjects": [{"kind": "User", "name": "x"}]}, Source("p"))
    policy = bootstrap.load(bootstrap.dataset_for("1.30"))
    rbac = Rbac([role_of(everything, Source("p"))], [binding], policy.roles, policy.bindings)
    assert rbac.decide(Identity.of(Subject("User", "x")), "delete", "", "nodes")  # via cluster-admin


@pytest.mark.parametrize("body", [
    {"kind": "ClusterRole", "metadata": None, "rules": None},
    {"kind": "ClusterRole", "metadata": {"name": "x", "labels": ["not", "a", "map"]}, "rules": "nope"},
    {"kind": "ClusterRole", "metadata": {"name": "x"}, "rules": [None, {"verbs": "get"}, 3],
     "aggregationRule": {"clusterRoleSelectors": [None, {"matchExpressions": [
         {"key": "a", "operator": "Bogus"}]}]}},
    {"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "n"}, "roleRef": None,
     "subjects": [None, {"kind": "Robot", "name": "r"}, {"kind": "User"}]},
    {"kind": "ClusterRoleBinding", "metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "x"},
     "subjects": "everyone"},
])
def test_malformed_rbac_grants_nothing_and_does_not_crash(body: dict[str, Any]) -> None:
    """What the API server would reject grants nothing here (schema validation reports it)."""
    source = Source("p")
    role = role_of(body, source) if body["kind"].endswith("Role") else None
    binding = binding_of(body, source) if body["kind"].endswith("Binding") else None
    anyone = binding_of({"kind": "ClusterRoleBinding", "metadata": {"name": "z"},
                         "roleRef": {"kind": "ClusterRole", "name": "x"},
                         "subjects": [{"kind": "User", "name": "u"}]}, source)
    rbac = Rbac([role] if role else [], [b for b in (binding, anyone) if b])
    who = Identity.of(Subject("User", "u"))
    assert not rbac.decide(who, "get", "", "pods")
    assert not rbac.decide(who, "get", "", "", url="/metrics")
