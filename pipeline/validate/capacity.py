"""What a cluster's objects request, as the scheduler counts it, against its class's
capacity: replicas times the pod's requests (a limit stands in for a missing request, per
resource), init containers as Kubernetes counts them, DaemonSets once per node, the
`minReplicas` of a HorizontalPodAutoscaler (or KEDA ScaledObject) for the workload it
scales, operators' custom kinds by where they keep their pods (`operators`), and the
storage that PersistentVolumeClaims and volume claim templates ask for."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from pipeline.config import quantity
from pipeline.config.model import ClusterClass
from pipeline.config.policy import Workload
from pipeline.validate.findings import Usage

RESOURCES = ("cpu", "memory")
SHOWN = ("cpu", "memory", "pods", "storage")  # what a class's capacity may give
WARN_PERCENT = 80.0
# (group, kind) → where the pod template is and what multiplies it.
_WORKLOADS = {
    ("apps", "Deployment"): ("spec", "template"), ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"), ("", "ReplicationController"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"), ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}
# (group, kind) of what scales a workload → (its minimum's field, the minimum when unset).
_SCALERS = {("autoscaling", "HorizontalPodAutoscaler"): ("minReplicas", 1),
            ("keda.sh", "ScaledObject"): ("minReplicaCount", 0)}
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_CLAIM = ("spec", "resources", "requests", "storage")

Ref = tuple[str, str, str, str]  # namespace, group, kind, name


class Demand(NamedTuple):
    """What one object asks of the cluster: per pod, times `pods` (a DaemonSet's once per
    node), and `claimed`, storage asked for once (a PersistentVolumeClaim)."""

    cpu: Fraction
    memory: Fraction
    pods: int
    per_node: bool
    storage: Fraction = Fraction(0)  # per pod
    claimed: Fraction = Fraction(0)
    scalable: bool = False  # a workload whose replicas a HorizontalPodAutoscaler may set


class Scaler(NamedTuple):
    """A HorizontalPodAutoscaler (or the like): the workload it scales and its minimum."""

    target: Ref
    minimum: int


def _get(body: Any, *keys: str | int) -> Any:
    for key in keys:
        if isinstance(key, int):
            body = body[key] if isinstance(body, list) and key < len(body) else None
        elif isinstance(body, Mapping):
            body = body.get(key)
        else:
            return None
    return body


def _path(field: str) -> tuple[str | int, ...]:
    return tuple(int(index) if index else key for key, index in _STEP.findall(field))


def _amount(value: Any) -> Fraction:
    try:
        return quantity.parse(value) if value is not None else Fraction(0)
    except ValueError:
        return Fraction(0)  # the schema check reports malformed quantities


def _requests(resources: Any) -> tuple[Fraction, Fraction]:
    """Requests of a `resources` block; Kubernetes defaults each missing request to its
    limit, resource by resource."""
    requests, limits = _get(resources, "requests"), _get(resources, "limits")
    values = []
    for name in RESOURCES:
        given = _get(requests, name)
        values.append(_amount(given if given is not None else _get(limits, name)))
    return values[0], values[1]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def pod_requests(spec: Any) -> tuple[Fraction, Fraction]:
    """A pod's effective requests: the larger of its containers (with sidecars) and of
    each init container (with the sidecars started before it); pod-level resources, where
    given, win."""
    cpu, memory = Fraction(0), Fraction(0)
    side_cpu, side_mem = Fraction(0), Fraction(0)
    init_cpu, init_mem = Fraction(0), Fraction(0)
    for init in _list(_get(spec, "initContainers")):
        c, m = _requests(_get(init, "resources"))
        if isinstance(init, Mapping) and init.get("restartPolicy") == "Always":
            side_cpu, side_mem = side_cpu + c, side_mem + m
        else:
            init_cpu, init_mem = max(init_cpu, side_cpu + c), max(init_mem, side_mem + m)
    for container in _list(_get(spec, "containers")):
        c, m = _requests(_get(container, "resources"))
        cpu, memory = cpu + c, memory + m
    found = [max(cpu + side_cpu, init_cpu), max(memory + side_mem, init_mem)]
    pod = _get(spec, "resources")
    for i, name in enumerate(RESOURCES):
        if _get(pod, "requests", name) is not None or _get(pod, "limits", name) is not None:
            found[i] = _requests(pod)[i]
    return found[0], found[1]


def _ephemeral(spec: Any) -> Fraction:
    """Storage a pod's generic ephemeral volumes claim."""
    return sum((_amount(_get(v, "ephemeral", "volumeClaimTemplate", *_CLAIM))
                for v in _list(_get(spec, "volumes"))), Fraction(0))


def _count(value: Any, default: int = 1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def demand(group: str, kind: str, body: Mapping[str, Any],
           custom: Mapping[tuple[str, str], tuple[Workload, ...]] | None = None) -> Demand | None:
    """What one object asks of the cluster; None if it runs no pods and claims nothing.
    `custom`: operators' kinds (`operators.merged`)."""
    if (group, kind) == ("", "Pod"):
        cpu, memory = pod_requests(body.get("spec"))
        return Demand(cpu, memory, 1, False, _ephemeral(body.get("spec")))
    if (group, kind) == ("", "PersistentVolumeClaim"):
        return Demand(Fraction(0), Fraction(0), 0, False, claimed=_amount(_get(body, *_CLAIM)))
    where = _WORKLOADS.get((group, kind))
    if where is None:
        found = custom.get((group, kind)) if custom else None
        return _custom(body, found) if found else None
    spec = _get(body, *where, "spec")
    cpu, memory = pod_requests(spec)
    storage = _ephemeral(spec)
    if kind == "DaemonSet":
        return Demand(cpu, memory, 1, True, storage)
    if kind in ("Job", "CronJob"):
        job = _get(body, *where[:-1]) if kind == "CronJob" else body.get("spec")
        return Demand(cpu, memory, _count(_get(job, "parallelism")), False, storage)
    if kind == "StatefulSet":
        storage += sum((_amount(_get(t, *_CLAIM)) for t in _list(_get(body, "spec", "volumeClaimTemplates"))),
                       Fraction(0))
    return Demand(cpu, memory, _count(_get(body, "spec", "replicas")), False, storage,
                  scalable=kind != "Job")


def _custom(body: Mapping[str, Any], workloads: tuple[Workload, ...]) -> Demand:
    """An operator's custom resource, as the pods its mapping says it runs (summed over
    the mappings and their `each` items; the result is per pod, as for other kinds)."""
    cpu = memory = storage = Fraction(0)
    pods = 0
    for w in workloads:
        items: list[Any] = [body]
        if w.each is not None:
            found = _get(body, *_path(w.each))
            items = found if isinstance(found, list) else [found] if isinstance(found, Mapping) else []
        for item in items:
            count = 1
            for field in w.replicas:
                count *= _count(_get(item, *_path(field)))
            if w.pod_spec is not None:
                c, m = pod_requests(_get(item, *_path(w.pod_spec)))
            else:
                c, m = _requests(_get(item, *_path(w.resources or "")))
            claims = sum((_amount(_get(item, *_path(f))) for f in w.storage), Fraction(0))
            cpu, memory, storage = cpu + c * count, memory + m * count, storage + claims * count
            pods += count
    if not pods:
        return Demand(Fraction(0), Fraction(0), 0, False)
    return Demand(cpu / pods, memory / pods, pods, False, storage / pods)


def scaler(group: str, kind: str, namespace: str, body: Mapping[str, Any]) -> Scaler | None:
    """The workload a HorizontalPodAutoscaler (or a KEDA ScaledObject) scales, and its
    minimum; None for other objects or a target without a name."""
    found = _SCALERS.get((group, kind))
    if found is None:
        return None
    field, default = found
    ref = _get(body, "spec", "scaleTargetRef")
    name = _get(ref, "name")
    if not isinstance(name, str):
        return None
    api = _get(ref, "apiVersion")
    target_kind = _get(ref, "kind")
    return Scaler((namespace, api.rpartition("/")[0] if isinstance(api, str) else "apps",
                   target_kind if isinstance(target_kind, str) else "Deployment", name),
                  _count(_get(body, "spec", field), default))


class Load(NamedTuple):
    """What one output asks of a cluster in all: cores, bytes, pods, storage bytes, and the
    same for what runs once per node (DaemonSets); the scalers whose workload is in
    another output, and this output's scalable workloads (ref, pods counted, per pod:
    cpu, memory, storage), for them."""

    cpu: float = 0.0
    memory: float = 0.0
    pods: float = 0.0
    node_cpu: float = 0.0
    node_memory: float = 0.0
    node_pods: float = 0.0
    storage: float = 0.0
    node_storage: float = 0.0
    scalers: tuple[tuple[Ref, int], ...] = ()
    scalable: tuple[tuple[Ref, int, float, float, float], ...] = ()

    def dump(self) -> list[Any]:
        return [*self[:8], [[list(ref), n] for ref, n in self.scalers],
                [[list(ref), *rest] for ref, *rest in self.scalable]]

    @classmethod
    def load(cls, data: list[Any]) -> Load:
        return _load([float(x) for x in data[:8]], tuple((tuple(ref), n) for ref, n in data[8]),
                     tuple((tuple(ref), *rest) for ref, *rest in data[9]))


def _load(amounts: list[float], scalers: Any, scalable: Any) -> Load:
    cpu, memory, pods, node_cpu, node_memory, node_pods, storage, node_storage = amounts
    return Load(cpu, memory, pods, node_cpu, node_memory, node_pods, storage, node_storage,
                scalers, scalable)


def total(demands: Iterable[tuple[Ref, Demand]], scalers: Iterable[Scaler] = ()) -> Load:
    """The demands of one output summed (exactly, then as floats); a scaled workload
    counts its scaler's minimum. Scalers of workloads not in the output are kept."""
    given = dict(demands)
    open_scalers: list[tuple[Ref, int]] = []
    for s in scalers:
        d = given.get(s.target)
        if d is not None and d.scalable:
            given[s.target] = d._replace(pods=s.minimum, scalable=False)
        else:
            open_scalers.append((s.target, s.minimum))
    sums = [Fraction(0)] * 8
    scalable = []
    for ref, d in given.items():
        base = 3 if d.per_node else 0
        sums[base] += d.cpu * d.pods
        sums[base + 1] += d.memory * d.pods
        sums[base + 2] += d.pods
        sums[7 if d.per_node else 6] += d.storage * d.pods
        sums[6] += d.claimed
        if d.scalable:
            scalable.append((ref, d.pods, _float(d.cpu), _float(d.memory), _float(d.storage)))
    return _load([_float(x) for x in sums], tuple(open_scalers), tuple(scalable))


_HUGE = 1e300  # more than any cluster has, and far from where sums of floats overflow


def _float(value: Fraction | int) -> float:
    """An amount as a float, at most _HUGE (a request of 1e400 is valid and counts as over)."""
    return _HUGE if value > _HUGE else float(value)


def capacity_of(cls: ClusterClass) -> dict[str, float]:
    """The class's capacity as numbers (cores, bytes, pods, bytes of storage)."""
    return {name: float(quantity.parse(cls.capacity[name]))
            for name in SHOWN if name in cls.capacity}


def usage(cluster: str, cls: ClusterClass, loads: Iterable[Load],
          capacity: Mapping[str, float] | None = None) -> Usage:
    """The cluster's total requests against its class's capacity."""
    loads = list(loads)
    nodes = int(cls.capacity.get("nodes", 1))
    cpu = memory = pods = storage = 0.0
    for load in loads:
        cpu += load.cpu + load.node_cpu * nodes
        memory += load.memory + load.node_memory * nodes
        pods += load.pods + load.node_pods * nodes
        storage += load.storage + load.node_storage * nodes
    scaled = {ref: minimum for load in loads for ref, minimum in load.scalers}
    if scaled:  # a scaler in one package, its workload in another: counted at its minimum
        for load in loads:
            for ref, counted, each_cpu, each_memory, each_storage in load.scalable:
                if ref in scaled:
                    more = scaled.pop(ref) - counted
                    cpu, memory = cpu + more * each_cpu, memory + more * each_memory
                    pods, storage = pods + more, storage + more * each_storage
    return Usage(cluster, cls.name, {"cpu": cpu, "memory": memory, "pods": pods, "storage": storage},
                 capacity if capacity is not None else capacity_of(cls))


def shares(u: Usage) -> list[tuple[str, str, str, float]]:
    """(resource, requested, capacity, percent) for each resource the class gives, in words."""
    found = []
    for name in SHOWN:
        percent = u.percent(name)
        if percent is not None:
            found.append((name, _show(name, u.requested.get(name, 0.0)), _show(name, u.capacity[name]),
                          percent))
    return found


def message(u: Usage) -> tuple[bool, str] | None:
    """(over 100 %?, message) when a cluster is over 80 % of a capacity, else None."""
    worst = u.worst
    if worst <= WARN_PERCENT:
        return None
    parts = [f"{name} {used} of {have} ({percent_text(percent)})" for name, used, have, percent in shares(u)]
    over = "over" if worst > 100.0 else "above 80 % of"
    return (worst > 100.0,
            f"requests are {over} the capacity of class {u.class_name}: {', '.join(parts)}")


def percent_text(percent: float) -> str:
    """`83 %`; a share no cluster could reach in exponent form (`5e+299 %`)."""
    return f"{percent:.0f} %" if percent < 1e6 else f"{percent:.3g} %"


def _show(name: str, value: float) -> str:
    if value >= 1e15:  # no cluster has this: the request is a typo
        return f"{value:.3g}"
    if name == "cpu":
        return quantity.cpu(Fraction(value).limit_denominator(1000))
    if name in ("memory", "storage"):
        return quantity.memory(Fraction(value))
    return str(int(value))
