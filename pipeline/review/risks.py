"""Risk flags for a rendered change: what a reviewer must not miss."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HIGH = "high"
WARNING = "warning"

_WORKLOADS = {("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
              ("apps", "ReplicaSet")}
_GONE_IS_DATA_LOSS = {("", "Namespace"): "namespace-removed",
                      ("", "PersistentVolumeClaim"): "pvc-removed",
                      ("apiextensions.k8s.io", "CustomResourceDefinition"): "crd-removed",
                      ("", "PersistentVolume"): "pv-removed"}
_IMMUTABLE: dict[tuple[str, str], tuple[str, ...]] = {
    **{wk: ("spec.selector",) for wk in _WORKLOADS},
    ("apps", "StatefulSet"): ("spec.selector", "spec.serviceName", "spec.volumeClaimTemplates"),
    ("", "Service"): ("spec.clusterIP", "spec.clusterIPs"),
    ("batch", "Job"): ("spec.template", "spec.selector", "spec.completionMode"),
    ("", "PersistentVolumeClaim"): ("spec.storageClassName", "spec.volumeName",
                                    "spec.accessModes"),
}
_RBAC = {("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "ClusterRole")}
_BINDINGS = {("rbac.authorization.k8s.io", "RoleBinding"),
             ("rbac.authorization.k8s.io", "ClusterRoleBinding")}


@dataclass(frozen=True)
class Risk:
    rule: str
    level: str
    message: str


def _gk(body: Mapping[str, Any]) -> tuple[str, str]:
    return str(body.get("apiVersion", "")).rpartition("/")[0], str(body.get("kind", ""))


def images(body: Mapping[str, Any]) -> set[str]:
    """Every container image of a workload-like object (any depth of pod template)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in ("containers", "initContainers", "ephemeralContainers") and \
                        isinstance(value, list):
                    found.update(str(c["image"]) for c in value
                                 if isinstance(c, Mapping) and "image" in c)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body.get("spec"))
    return found


def floating(image: str) -> bool:
    """`:latest`, or neither a tag nor a digest."""
    if "@sha256:" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.endswith(":latest")


def _wildcards(body: Mapping[str, Any]) -> set[str]:
    found = set()
    for rule in body.get("rules") or []:
        if not isinstance(rule, Mapping):
            continue
        for field in ("verbs", "resources", "apiGroups", "nonResourceURLs"):
            if "*" in (rule.get(field) or []):
                found.add(field)
    return found


def _cluster_admin(body: Mapping[str, Any]) -> bool:
    ref = body.get("roleRef") or {}
    return isinstance(ref, Mapping) and ref.get("kind") == "ClusterRole" and \
        ref.get("name") == "cluster-admin"


def assess(change: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
           paths: Iterable[str]) -> list[Risk]:
    """Risks of one object change ("added", "removed" or "changed")."""
    risks: list[Risk] = []
    body = new if new is not None else old
    assert body is not None
    gk = _gk(body)
    if change == "removed":
        rule = _GONE_IS_DATA_LOSS.get(gk)
        if rule:
            risks.append(Risk(rule, HIGH, f"{gk[1]} removed: its contents are deleted with it"))
        else:
            risks.append(Risk("object-removed", WARNING, "object deleted from the cluster"))
        return risks
    assert new is not None
    if change == "changed":
        touched = list(paths)
        for prefix in _IMMUTABLE.get(gk, ()):
            hits = [p for p in touched if p == prefix or p.startswith((prefix + ".", prefix + "["))]
            if hits:
                risks.append(Risk("immutable-field", HIGH,
                                  f"immutable field {prefix} changed: the API server rejects the "
                                  "update; the object must be deleted and recreated"))
    for image in sorted(images(new) - (images(old) if old else set())):
        if floating(image):
            risks.append(Risk("floating-image", WARNING,
                              f"image {image} has no pinned tag (or is :latest)"))
    if gk in _RBAC:
        widened = _wildcards(new) - (_wildcards(old) if old else set())
        if widened:
            risks.append(Risk("rbac-wildcard", HIGH,
                              f"RBAC widened: '*' in {', '.join(sorted(widened))}"))
    if gk in _BINDINGS and _cluster_admin(new) and not (old and _cluster_admin(old)):
        subjects = ", ".join(f"{s.get('kind')} {s.get('name')}" for s in new.get("subjects") or []
                             if isinstance(s, Mapping))
        risks.append(Risk("cluster-admin-binding", HIGH,
                          f"binds cluster-admin to {subjects or 'no subjects'}"))
    return risks


def cluster_removed(cluster: str, env: str, agent: str) -> Risk:
    """A cluster that left the inventory: what `env`'s agent does when its directory
    leaves the branch (with the objects `hydrate bootstrap` prints)."""
    if agent == "flux":
        then = (f"Flux in {cluster} stops applying it and deletes nothing; delete what it "
                "applied on purpose (docs/guides.md, Retire a cluster safely)")
    else:
        then = (f"Argo CD's ApplicationSet hydrate-{env} deletes Application {cluster} and keeps "
                "what it applied (preserveResourcesOnDeletion); delete that on purpose "
                "(docs/guides.md, Retire a cluster safely)")
    return Risk("cluster-removed", HIGH,
                f"cluster {cluster} removed from the inventory: its directory leaves env {env}: "
                f"{then}")


@dataclass(frozen=True)
class Move:
    """A cluster whose `environment` changed, and the agents of both environments."""

    cluster: str
    source: str
    target: str
    source_agent: str = "argocd"
    target_agent: str = "argocd"


def cluster_moved(move: Move) -> Risk:
    """A cluster whose `environment` changed: its directory leaves the source's branch and
    appears on the target's, each when that environment is next published or promoted."""
    cluster, source, target = move.cluster, move.source, move.target
    source_agent, target_agent = move.source_agent, move.target_agent
    if source_agent == "flux":
        leaves = (f"Flux in {cluster} follows {source}'s branch and stops applying once the "
                  "cluster leaves it (nothing is deleted)")
    else:
        leaves = (f"Argo CD's ApplicationSet hydrate-{source} deletes Application {cluster} once "
                  f"{source}'s branch drops it, keeping its objects (preserveResourcesOnDeletion; "
                  f"an ApplicationSet applied before hydrate set it deletes them all: apply "
                  f"`hydrate bootstrap --env {source}` first)")
    if target_agent == "flux":
        arrives = (f"apply `hydrate bootstrap --env {target} --cluster {cluster}` in the cluster "
                   f"so Flux follows {target}'s branch")
    else:
        arrives = (f"hydrate-{target} creates the Application again from {target}'s branch, "
                   "adopting the objects, once the old one is gone")
    return Risk("cluster-moved", HIGH,
                f"cluster {cluster} moves from environment {source} to {target}: {leaves}; "
                f"{arrives}; in between nothing syncs the cluster")
