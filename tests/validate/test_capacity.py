"""Requests as the scheduler counts them, against a class's capacity."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from pipeline.config.model import ClusterClass
from pipeline.validate import capacity


def _c(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "resources": {"requests": requests}, **extra}


def test_init_containers_count_as_the_largest_one_with_sidecars_added() -> None:
    spec = {"initContainers": [_c("2", "1Gi"), _c("100m", "64Mi", restartPolicy="Always"),
                               _c("500m", "3Gi")],
            "containers": [_c("250m", "256Mi"), _c("250m", "256Mi")]}
    cpu, memory = capacity.pod_requests(spec)
    # init: max(2, 0.1 + 0.5) = 2 cores; max(1Gi, 64Mi + 3Gi) memory;
    # running: 0.5 + 0.1 (the sidecar keeps running) = 0.6 cores.
    assert cpu == Fraction(2)
    assert memory == 64 * 2**20 + 3 * 2**30


def test_limits_stand_in_for_missing_requests_and_junk_counts_as_nothing() -> None:
    spec = {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "lots"}}},
                           "not a container"]}
    assert capacity.pod_requests(spec) == (Fraction(1), Fraction(2**30))


def _workload(kind: str, group: str = "apps", **spec: Any) -> dict[str, Any]:
    template = {"spec": {"containers": [_c("500m", "1Gi")]}}
    if kind == "CronJob":
        return {"spec": {"jobTemplate": {"spec": {"template": template, **spec}}}}
    return {"spec": {"template": template, **spec}}


def test_demand_per_kind() -> None:
    assert capacity.demand("apps", "Deployment", _workload("Deployment", replicas=3)) == \
        capacity.Demand(Fraction(3, 2), Fraction(3 * 2**30), 3, False)
    assert capacity.demand("apps", "Deployment", _workload("Deployment")).pods == 1  # default
    assert capacity.demand("apps", "DaemonSet", _workload("DaemonSet")) == \
        capacity.Demand(Fraction(1, 2), Fraction(2**30), 1, True)
    assert capacity.demand("batch", "CronJob", _workload("CronJob", parallelism=2)).pods == 2
    assert capacity.demand("batch", "Job", _workload("Job", parallelism=4)).pods == 4
    assert capacity.demand("", "Pod", {"spec": {"containers": [_c("1", "1Gi")]}}).cpu == 1
    # A custom resource that happens to be called Deployment runs no pods of ours.
    assert capacity.demand("apps.example.com", "Deployment", _workload("Deployment")) is None
    assert capacity.demand("", "ConfigMap", {"data": {}}) is None


CLS = ClusterClass("pop", "fleet/classes/pop.yaml", "", "1.30",
                   {"cpu": "4", "memory": "8Gi", "pods": 20, "nodes": 3}, (), {})


def test_outputs_sum_their_demands_once() -> None:
    load = capacity.total([capacity.Demand(Fraction(1, 4), Fraction(2**20), 2, False),
                           capacity.Demand(Fraction(1, 10), Fraction(2**20), 1, True),
                           capacity.Demand(Fraction(1, 4), Fraction(0), 1, False)])
    assert load == capacity.Load(0.5, 2.0**20, 3.0, 0.1, 2.0**20, 1.0)


def test_daemonsets_count_once_per_node_and_the_thresholds() -> None:
    daemon = capacity.total([capacity.Demand(Fraction(1), Fraction(2**30), 1, True)])
    use = capacity.usage("store-1", CLS, [daemon])
    assert use.requested == {"cpu": 3.0, "memory": 3.0 * 2**30, "pods": 3.0}
    assert use.capacity == {"cpu": 4.0, "memory": 8.0 * 2**30, "pods": 20.0}
    assert use.percent("cpu") == 75.0
    assert capacity.message(use) is None  # 75 % is fine
    half = capacity.total([capacity.Demand(Fraction(1, 2), Fraction(0), 1, False)])
    near = capacity.usage("store-1", CLS, [daemon, half])
    assert capacity.message(near) == (
        False, "requests are above 80 % of the capacity of class pop: cpu 3500m of 4 (88 %), "
               "memory 3Gi of 8Gi (38 %), pods 4 of 20 (20 %)")
    big = capacity.total([capacity.Demand(Fraction(0), Fraction(6 * 2**30), 1, False)])
    over = capacity.usage("store-1", CLS, [daemon, big])
    assert capacity.message(over) == (
        True, "requests are over the capacity of class pop: cpu 3 of 4 (75 %), "
              "memory 9Gi of 8Gi (112 %), pods 4 of 20 (20 %)")
