"""What a cluster's objects request, as the scheduler counts it, against its class's
capacity: replicas times the pod's requests, init containers as Kubernetes counts them,
DaemonSets once per node."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any, NamedTuple

from pipeline.config import quantity
from pipeline.config.model import ClusterClass
from pipeline.validate.findings import Usage

RESOURCES = ("cpu", "memory")
WARN_PERCENT = 80.0
# (group, kind) → where the pod template is and what multiplies it.
_WORKLOADS = {
    ("apps", "Deployment"): ("spec", "template"), ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"), ("", "ReplicationController"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"), ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}


class Demand(NamedTuple):
    """What an object requests in all; a DaemonSet's once per node."""

    cpu: Fraction
    memory: Fraction
    pods: int
    per_node: bool


def _get(body: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


def _requests(container: Any) -> tuple[Fraction, Fraction]:
    requests = _get(container, "resources", "requests")
    if not isinstance(requests, Mapping):
        # Kubernetes defaults requests to limits when only limits are given.
        requests = _get(container, "resources", "limits")
    values = []
    for name in RESOURCES:
        try:
            values.append(quantity.parse(requests[name]) if isinstance(requests, Mapping)
                          and name in requests else Fraction(0))
        except ValueError:
            values.append(Fraction(0))  # the schema check reports malformed quantities
    return values[0], values[1]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def pod_requests(spec: Any) -> tuple[Fraction, Fraction]:
    """A pod's effective requests: the larger of its containers (with sidecars) and of
    each init container (with the sidecars started before it)."""
    cpu, memory = Fraction(0), Fraction(0)
    side_cpu, side_mem = Fraction(0), Fraction(0)
    init_cpu, init_mem = Fraction(0), Fraction(0)
    for init in _list(_get(spec, "initContainers")):
        c, m = _requests(init)
        if isinstance(init, Mapping) and init.get("restartPolicy") == "Always":
            side_cpu, side_mem = side_cpu + c, side_mem + m
        else:
            init_cpu, init_mem = max(init_cpu, side_cpu + c), max(init_mem, side_mem + m)
    for container in _list(_get(spec, "containers")):
        c, m = _requests(container)
        cpu, memory = cpu + c, memory + m
    return max(cpu + side_cpu, init_cpu), max(memory + side_mem, init_mem)


def demand(group: str, kind: str, body: Mapping[str, Any]) -> Demand | None:
    """What one object asks of the cluster; None if it runs no pods."""
    if (group, kind) == ("", "Pod"):
        cpu, memory = pod_requests(body.get("spec"))
        return Demand(cpu, memory, 1, False)
    where = _WORKLOADS.get((group, kind))
    if where is None:
        return None
    cpu, memory = pod_requests(_get(body, *where, "spec"))
    if kind == "DaemonSet":
        return Demand(cpu, memory, 1, True)
    if kind in ("Job", "CronJob"):
        spec = _get(body, *where[:-1]) if kind == "CronJob" else body.get("spec")
        copies = _get(spec, "parallelism")
    else:
        copies = _get(body, "spec", "replicas")
    count = copies if isinstance(copies, int) and not isinstance(copies, bool) and copies >= 0 else 1
    return Demand(cpu * count, memory * count, count, False)


class Load(NamedTuple):
    """What one output asks of a cluster in all: cores, bytes, pods, and the same for
    what runs once per node (DaemonSets)."""

    cpu: float = 0.0
    memory: float = 0.0
    pods: float = 0.0
    node_cpu: float = 0.0
    node_memory: float = 0.0
    node_pods: float = 0.0


def total(demands: Iterable[Demand]) -> Load:
    """The demands of one output summed (exactly, then as floats)."""
    sums = [Fraction(0)] * 6
    for d in demands:
        base = 3 if d.per_node else 0
        sums[base] += d.cpu
        sums[base + 1] += d.memory
        sums[base + 2] += d.pods
    return Load(*(float(x) for x in sums))


def capacity_of(cls: ClusterClass) -> dict[str, float]:
    """The class's capacity as numbers (cores, bytes, pods)."""
    return {name: float(quantity.parse(cls.capacity[name]))
            for name in (*RESOURCES, "pods") if name in cls.capacity}


def usage(cluster: str, cls: ClusterClass, loads: Iterable[Load],
          capacity: Mapping[str, float] | None = None) -> Usage:
    """The cluster's total requests against its class's capacity."""
    nodes = int(cls.capacity.get("nodes", 1))
    cpu = memory = pods = 0.0
    for load in loads:
        cpu += load.cpu + load.node_cpu * nodes
        memory += load.memory + load.node_memory * nodes
        pods += load.pods + load.node_pods * nodes
    return Usage(cluster, cls.name, {"cpu": cpu, "memory": memory, "pods": pods},
                 capacity if capacity is not None else capacity_of(cls))


def shares(u: Usage) -> list[tuple[str, str, str, float]]:
    """(resource, requested, capacity, percent) for each resource the class gives, in words."""
    found = []
    for name in ("cpu", "memory", "pods"):
        percent = u.percent(name)
        if percent is not None:
            found.append((name, _show(name, u.requested[name]), _show(name, u.capacity[name]), percent))
    return found


def message(u: Usage) -> tuple[bool, str] | None:
    """(over 100 %?, message) when a cluster is over 80 % of a capacity, else None."""
    worst = u.worst
    if worst <= WARN_PERCENT:
        return None
    parts = [f"{name} {used} of {have} ({percent:.0f} %)" for name, used, have, percent in shares(u)]
    over = "over" if worst > 100.0 else "above 80 % of"
    return (worst > 100.0,
            f"requests are {over} the capacity of class {u.class_name}: {', '.join(parts)}")


def _show(name: str, value: float) -> str:
    if name == "cpu":
        return quantity.cpu(Fraction(value).limit_denominator(1000))
    if name == "memory":
        return quantity.memory(Fraction(value))
    return str(int(value))
