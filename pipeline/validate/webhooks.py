"""Objects an admission webhook must admit before the webhook can answer (rule
`webhook-not-ready`).

Argo CD applies a sync wave in a fixed order (kind, then name; kinds of one run side by
side) and waits for health only between waves (argo-cd `gitops-engine/pkg/sync/
sync_tasks.go`, `sync_context.go`). Every object of a package carries the package's wave.
A webhook configuration whose `failurePolicy` is `Fail` (the default) refuses every
object it intercepts while the Service it calls has no ready pods: on a fresh cluster an
object applied after the configuration, in the wave that creates the Service (or an
earlier one), fails the sync. Flux applies a package in one go and waits for health only
between dependent packages: the same objects fail there.

Only hydrate's own objects are judged (a Pod a Deployment creates later is retried by its
controller). Namespace selectors are judged against the Namespaces rendered for the
cluster; objects in other namespaces, and every object for a rule hydrate cannot read,
are taken to match: the rule flags what may fail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.render.resources import ResId, Resource

if TYPE_CHECKING:
    from pipeline.render.engine import PackageRender

CONFIGS = frozenset({("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
                     ("admissionregistration.k8s.io", "MutatingWebhookConfiguration")})
_CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")
# gitops-engine's kindOrder: these kinds first, in this order; every other kind after them.
KINDS_FIRST = (
    "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap",
    "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition",
    "ClusterRole", "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role",
    "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler",
    "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService")
_KIND_ORDER = {kind: i - len(KINDS_FIRST) for i, kind in enumerate(KINDS_FIRST)}


@dataclass(frozen=True)
class Placed:
    """A rendered object with its package and sync wave."""

    package: str
    wave: int
    resource: Resource

    @property
    def id(self) -> ResId:
        return self.resource.id

    @property
    def order(self) -> tuple[int, int, str]:
        """Where Argo CD applies it: wave, kind order, name."""
        return self.wave, _KIND_ORDER.get(self.id.kind, 0), self.id.name


@dataclass(frozen=True)
class Unready:
    """`placed` is applied while the webhook that must admit it cannot answer yet."""

    placed: Placed
    message: str


def _selects(selector: Any, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions) against `labels`; one hydrate
    cannot read selects everything."""
    if not isinstance(selector, Mapping):
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not isinstance(expr, Mapping):
            continue
        key, op, values = str(expr.get("key")), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if (op == "In" and not (present and labels[key] in values)) or \
                (op == "NotIn" and present and labels[key] in values) or \
                (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def plural(kind: str) -> str:
    """The resource name of a built-in kind (`Ingress` → `ingresses`)."""
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def _version(placed: Placed) -> str:
    return str(placed.resource.body.get("apiVersion", "")).rpartition("/")[2]


def _labels(body: Mapping[str, Any]) -> Mapping[str, str]:
    labels = (body.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, Mapping) else {}


@dataclass(frozen=True)
class _Cluster:
    """What matching needs of a cluster's render: plurals of its CRDs' kinds and the
    labels of its Namespaces."""

    plurals: Mapping[tuple[str, str], str]
    namespaces: Mapping[str, Mapping[str, str]]

    @classmethod
    def of(cls, placed: Sequence[Placed]) -> _Cluster:
        plurals: dict[tuple[str, str], str] = {}
        namespaces: dict[str, Mapping[str, str]] = {}
        for p in placed:
            if (p.id.group, p.id.kind) == _CRD:
                spec = p.resource.body.get("spec") or {}
                names = spec.get("names") or {}
                if spec.get("group") and names.get("kind") and names.get("plural"):
                    plurals[(spec["group"], names["kind"])] = names["plural"]
            elif (p.id.group, p.id.kind) == ("", "Namespace"):
                namespaces[p.id.name] = {**_labels(p.resource.body),
                                         "kubernetes.io/metadata.name": p.id.name}
        return cls(plurals, namespaces)

    def resource(self, rid: ResId) -> str:
        return self.plurals.get((rid.group, rid.kind)) or plural(rid.kind)


def _intercepts(hook: Mapping[str, Any], target: Placed, cluster: _Cluster) -> bool:
    rid = target.id
    if not _selects(hook.get("objectSelector"), _labels(target.resource.body)):
        return False
    if rid.namespace or (rid.group, rid.kind) == ("", "Namespace"):
        name = rid.namespace or rid.name
        labels = cluster.namespaces.get(name)
        if labels is not None and not _selects(hook.get("namespaceSelector"), labels):
            return False
    resource = cluster.resource(rid)
    rules = hook.get("rules")
    for rule in rules if isinstance(rules, list) else []:
        if not isinstance(rule, Mapping):
            continue
        scope = rule.get("scope", "*")
        if (scope == "Cluster" and rid.namespace) or (scope == "Namespaced" and not rid.namespace):
            continue
        if ({"CREATE", "*"} & set(rule.get("operations") or []) and
                {rid.group, "*"} & set(rule.get("apiGroups") or []) and
                {_version(target), "*"} & set(rule.get("apiVersions") or []) and
                {resource, "*", "*/*"} & set(rule.get("resources") or [])):
            return True
    return False


def unready(packages: Iterable[PackageRender]) -> list[Unready]:
    """The objects of one cluster's packages that a webhook rendered with them must admit
    before its Service can have ready pods."""
    placed = [Placed(p.name, p.wave, r) for p in packages for r in p.resources]
    configs = [p for p in placed if (p.id.group, p.id.kind) in CONFIGS]
    if not configs:
        return []
    services = {(p.id.namespace, p.id.name): p for p in placed if (p.id.group, p.id.kind) == ("", "Service")}
    cluster: _Cluster | None = None
    found: dict[ResId, Unready] = {}
    for config in configs:
        hooks = config.resource.body.get("webhooks")
        for hook in hooks if isinstance(hooks, list) else []:
            if not isinstance(hook, Mapping) or hook.get("failurePolicy", "Fail") != "Fail":
                continue
            client = hook.get("clientConfig")
            ref = client.get("service") if isinstance(client, Mapping) else None
            service = services.get((str(ref.get("namespace", "")), str(ref.get("name", "")))) \
                if isinstance(ref, Mapping) else None
            if service is None:  # a URL, or a Service the cluster already runs
                continue
            for target in placed:
                if target is config or (target.id.group, target.id.kind) in CONFIGS or \
                        target.id in found or not config.order < target.order or \
                        target.wave > service.wave or target.id.kind == config.id.kind:
                    continue
                cluster = cluster or _Cluster.of(placed)
                if _intercepts(hook, target, cluster):
                    found[target.id] = Unready(target, _message(target, config, service, hook))
    return [found[rid] for rid in sorted(found)]


def _message(target: Placed, config: Placed, service: Placed, hook: Mapping[str, Any]) -> str:
    where = f"{service.id.namespace}/{service.id.name}"
    same = "the same wave" if service.wave == target.wave else f"wave {service.wave}"
    return (f"{target.id.kind} {target.id.name} is applied in sync wave {target.wave}, after "
            f"{config.id.kind} {config.id.name} (wave {config.wave}), whose webhook "
            f"{hook.get('name')} (failurePolicy Fail) must admit it by calling Service {where}, "
            f"created in {same}: on a new cluster its pods are not ready yet and the sync "
            f"fails; move the object to a package that depends on {service.package}")
