"""Requests as the scheduler counts them, against a class's capacity."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from pipeline.config.model import ClusterClass
from pipeline.config.policy import Workload
from pipeline.validate import capacity, operators

GI = 2**30
MI = 2**20


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
    assert memory == 64 * MI + 3 * GI


def test_limits_stand_in_for_missing_requests_and_junk_counts_as_nothing() -> None:
    spec = {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "lots"}}},
                           "not a container"]}
    assert capacity.pod_requests(spec) == (Fraction(1), Fraction(GI))


def test_a_limit_stands_in_per_resource() -> None:
    # requests: {memory: 10Mi}, limits: {cpu: "8"} requests 8 CPUs (it used to count none).
    spec = {"containers": [{"name": "a", "resources": {"requests": {"memory": "10Mi"},
                                                       "limits": {"cpu": "8"}}},
                           {"name": "b", "resources": {"requests": {"cpu": "1"},
                                                       "limits": {"cpu": "2", "memory": "1Gi"}}}]}
    assert capacity.pod_requests(spec) == (Fraction(9), Fraction(10 * MI + GI))


def test_pod_level_resources_win() -> None:
    spec = {"resources": {"requests": {"cpu": "3"}},
            "containers": [_c("1", "1Gi"), _c("1", "1Gi")]}
    assert capacity.pod_requests(spec) == (Fraction(3), Fraction(2 * GI))


def _workload(kind: str, group: str = "apps", **spec: Any) -> dict[str, Any]:
    template = {"spec": {"containers": [_c("500m", "1Gi")]}}
    if kind == "CronJob":
        return {"spec": {"jobTemplate": {"spec": {"template": template, **spec}}}}
    return {"spec": {"template": template, **spec}}


def test_demand_per_kind() -> None:
    assert capacity.demand("apps", "Deployment", _workload("Deployment", replicas=3)) == \
        capacity.Demand(Fraction(1, 2), Fraction(GI), 3, False, scalable=True)
    assert capacity.demand("apps", "Deployment", _workload("Deployment")).pods == 1  # default
    assert capacity.demand("apps", "DaemonSet", _workload("DaemonSet")) == \
        capacity.Demand(Fraction(1, 2), Fraction(GI), 1, True)
    assert capacity.demand("batch", "CronJob", _workload("CronJob", parallelism=2)).pods == 2
    assert capacity.demand("batch", "Job", _workload("Job", parallelism=4)).pods == 4
    assert capacity.demand("", "Pod", {"spec": {"containers": [_c("1", "1Gi")]}}).cpu == 1
    # A custom resource that happens to be called Deployment runs no pods of ours.
    assert capacity.demand("apps.example.com", "Deployment", _workload("Deployment")) is None
    assert capacity.demand("", "ConfigMap", {"data": {}}) is None


def _ref(name: str, kind: str = "Deployment", group: str = "apps") -> capacity.Ref:
    return ("shop", group, kind, name)


def test_a_scaled_workload_counts_the_minimum_of_its_autoscaler() -> None:
    web = capacity.demand("apps", "Deployment", _workload("Deployment"))  # no replicas: 1
    api = capacity.demand("apps", "Deployment", _workload("Deployment", replicas=2))
    hpa = capacity.scaler("autoscaling", "HorizontalPodAutoscaler", "shop", {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 4, "maxReplicas": 10}})
    unset = capacity.scaler("autoscaling", "HorizontalPodAutoscaler", "shop", {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        "maxReplicas": 10}})
    assert hpa == capacity.Scaler(_ref("web"), 4)
    assert unset == capacity.Scaler(_ref("api"), 1)  # minReplicas defaults to 1
    assert web is not None
    assert api is not None
    assert hpa is not None
    assert unset is not None
    load = capacity.total([(_ref("web"), web), (_ref("api"), api)], [hpa, unset])
    assert (load.cpu, load.memory, load.pods) == (2.5, 5.0 * GI, 5.0)
    assert load.scalers == ()


def test_an_autoscaler_in_another_package_still_sets_the_count() -> None:
    web = capacity.demand("apps", "Deployment", _workload("Deployment", replicas=2))
    keda = capacity.scaler("keda.sh", "ScaledObject", "shop",
                           {"spec": {"scaleTargetRef": {"name": "web"}, "minReplicaCount": 3}})
    assert web is not None
    assert keda is not None
    app = capacity.total([(_ref("web"), web)])
    scaling = capacity.total([], [keda])
    assert scaling.scalers == ((_ref("web"), 3),)
    use = capacity.usage("store-1", CLS, [app, scaling])
    assert (use.requested["cpu"], use.requested["pods"]) == (1.5, 3.0)
    # Round trip through the cache's form.
    assert capacity.Load.load(app.dump()) == app
    assert capacity.Load.load(scaling.dump()) == scaling


def test_operator_kinds_count_the_pods_their_operator_runs() -> None:
    custom = operators.merged(())
    prometheus = {"spec": {"replicas": 2, "shards": 2,
                           "resources": {"requests": {"cpu": "1", "memory": "4Gi"}},
                           "storage": {"volumeClaimTemplate": {"spec": {"resources": {
                               "requests": {"storage": "50Gi"}}}}}}}
    assert capacity.demand("monitoring.coreos.com", "Prometheus", prometheus, custom) == \
        capacity.Demand(Fraction(1), Fraction(4 * GI), 4, False, Fraction(50 * GI))
    # Unset replicas count one.
    alertmanager = {"spec": {"resources": {"limits": {"cpu": "100m", "memory": "128Mi"}}}}
    assert capacity.demand("monitoring.coreos.com", "Alertmanager", alertmanager, custom) == \
        capacity.Demand(Fraction(1, 10), Fraction(128 * MI), 1, False)
    cnpg = {"spec": {"instances": 3, "resources": {"requests": {"cpu": "2", "memory": "8Gi"}},
                     "storage": {"size": "100Gi"}, "walStorage": {"size": "10Gi"}}}
    assert capacity.demand("postgresql.cnpg.io", "Cluster", cnpg, custom) == \
        capacity.Demand(Fraction(2), Fraction(8 * GI), 3, False, Fraction(110 * GI))
    # Each item of a list is a group of pods (Elasticsearch's nodeSets).
    elastic = {"spec": {"nodeSets": [
        {"count": 3, "podTemplate": {"spec": {"containers": [_c("2", "4Gi")]}}},
        {"count": 1, "podTemplate": {"spec": {"containers": [_c("1", "2Gi")]}}}]}}
    found = capacity.demand("elasticsearch.k8s.elastic.co", "Elasticsearch", elastic, custom)
    assert found is not None
    assert (found.cpu * found.pods, found.memory * found.pods, found.pods) == (7, 14 * GI, 4)
    # A Kafka without ZooKeeper runs none of those pods.
    assert capacity.demand("kafka.strimzi.io", "Kafka", {"spec": {"kafka": {}}}, custom) == \
        capacity.Demand(Fraction(0), Fraction(0), 0, False)


def test_the_policy_adds_and_replaces_operator_kinds() -> None:
    own = Workload("example.com", "Cache", ("spec.size",), "spec.resources")
    replaced = Workload("monitoring.coreos.com", "Prometheus", ("spec.replicas",), "spec.resources")
    custom = operators.merged([own, replaced])
    cache = {"spec": {"size": 5, "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}}
    assert capacity.demand("example.com", "Cache", cache, custom) == \
        capacity.Demand(Fraction(1), Fraction(GI), 5, False)
    prometheus = {"spec": {"replicas": 2, "shards": 3, "resources": {"requests": {"cpu": "1"}}}}
    assert capacity.demand("monitoring.coreos.com", "Prometheus", prometheus, custom).pods == 2
    assert custom[("monitoring.coreos.com", "Alertmanager")] == operators.merged(())[
        ("monitoring.coreos.com", "Alertmanager")]


def test_storage_sums_claims_and_claim_templates() -> None:
    claim = {"spec": {"resources": {"requests": {"storage": "10Gi"}}}}
    pvc = capacity.demand("", "PersistentVolumeClaim", claim)
    sts = capacity.demand("apps", "StatefulSet", {"spec": {
        "replicas": 3, "template": {"spec": {"containers": [_c("100m", "128Mi")], "volumes": [
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {
                "requests": {"storage": "1Gi"}}}}}}]}},
        "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "20Gi"}}}},
                                 {"spec": {"resources": {"requests": {"storage": "5Gi"}}}}]}})
    assert pvc is not None
    assert sts is not None
    load = capacity.total([(_ref("data", "PersistentVolumeClaim", ""), pvc),
                           (_ref("db", "StatefulSet"), sts)])
    assert load.storage == (10 + 3 * 26) * GI
    assert load.pods == 3
    cls = ClusterClass("pop", "fleet/classes/pop.yaml", "", "1.30",
                       {"cpu": "4", "memory": "8Gi", "storage": "100Gi"}, (), {})
    use = capacity.usage("store-1", cls, [load])
    assert capacity.message(use) == (
        False, "requests are above 80 % of the capacity of class pop: cpu 300m of 4 (8 %), "
               "memory 384Mi of 8Gi (5 %), storage 88Gi of 100Gi (88 %)")


CLS = ClusterClass("pop", "fleet/classes/pop.yaml", "", "1.30",
                   {"cpu": "4", "memory": "8Gi", "pods": 20, "nodes": 3}, (), {})


def _one(cpu: Fraction, memory: Fraction, pods: int,
         per_node: bool) -> tuple[capacity.Ref, capacity.Demand]:
    name = f"{cpu}-{memory}-{pods}-{per_node}"
    return ("", "", "Pod", name), capacity.Demand(cpu, memory, pods, per_node)


def test_outputs_sum_their_demands_once() -> None:
    load = capacity.total([_one(Fraction(1, 8), Fraction(MI, 2), 2, False),
                           _one(Fraction(1, 10), Fraction(MI), 1, True),
                           _one(Fraction(1, 4), Fraction(0), 1, False)])
    assert load[:6] == (0.5, 1.0 * MI, 3.0, 0.1, 1.0 * MI, 1.0)


def test_daemonsets_count_once_per_node_and_the_thresholds() -> None:
    daemon = capacity.total([_one(Fraction(1), Fraction(GI), 1, True)])
    use = capacity.usage("store-1", CLS, [daemon])
    assert use.requested == {"cpu": 3.0, "memory": 3.0 * GI, "pods": 3.0, "storage": 0.0}
    assert use.capacity == {"cpu": 4.0, "memory": 8.0 * GI, "pods": 20.0}
    assert use.percent("cpu") == 75.0
    assert capacity.message(use) is None  # 75 % is fine
    half = capacity.total([_one(Fraction(1, 2), Fraction(0), 1, False)])
    near = capacity.usage("store-1", CLS, [daemon, half])
    assert capacity.message(near) == (
        False, "requests are above 80 % of the capacity of class pop: cpu 3500m of 4 (88 %), "
               "memory 3Gi of 8Gi (38 %), pods 4 of 20 (20 %)")
    big = capacity.total([_one(Fraction(0), Fraction(6 * GI), 1, False)])
    over = capacity.usage("store-1", CLS, [daemon, big])
    assert capacity.message(over) == (
        True, "requests are over the capacity of class pop: cpu 3 of 4 (75 %), "
              "memory 9Gi of 8Gi (112 %), pods 4 of 20 (20 %)")


def test_a_request_too_large_to_count_is_over_without_a_crash() -> None:
    # 1e400 is a valid quantity (the API server takes it); no float holds it.
    huge = capacity.demand("apps", "Deployment", _workload("Deployment"))
    assert huge is not None
    huge = huge._replace(cpu=Fraction(10) ** 400)
    load = capacity.total([(_ref("web"), huge)])
    assert capacity.Load.load(json.loads(json.dumps(load.dump()))) == load
    found = capacity.message(capacity.usage("store-1", CLS, [load, load]))
    assert found is not None
    over, text = found
    assert over
    assert text.startswith("requests are over the capacity of class pop: cpu 2e+300 of 4 (5e+301 %), ")


def test_zero_replicas_count_no_pods() -> None:
    """`replicas: 0` (a workload scaled to zero) asks for nothing; only a missing or
    malformed count falls back to the default (one for a Deployment)."""
    for kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        zero = capacity.demand("apps", kind, _workload(kind, replicas=0))
        assert zero is not None
        assert zero.pods == 0, kind
    assert capacity.demand("batch", "Job", _workload("Job", parallelism=0)).pods == 0
    assert capacity.demand("batch", "CronJob", _workload("CronJob", parallelism=0)).pods == 0
    for junk in (-1, "3", True, None, 2.5):
        assert capacity.demand("apps", "Deployment", _workload("Deployment", replicas=junk)
                               ).pods == 1, junk
    load = capacity.total([(_ref("idle"), capacity.demand(
        "apps", "Deployment", _workload("Deployment", replicas=0)))])
    assert (load.cpu, load.memory, load.pods) == (0.0, 0.0, 0.0)


def test_an_autoscaler_with_a_minimum_of_zero_counts_zero() -> None:
    hpa = {"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": "web"}, "minReplicas": 0}}
    assert capacity.scaler("autoscaling", "HorizontalPodAutoscaler", "shop", hpa) == \
        capacity.Scaler(("shop", "apps", "Deployment", "web"), 0)
    keda = {"spec": {"scaleTargetRef": {"name": "web"}}}
    assert capacity.scaler("keda.sh", "ScaledObject", "shop", keda) == \
        capacity.Scaler(("shop", "apps", "Deployment", "web"), 0)
    unset = {"spec": {"scaleTargetRef": {"name": "web"}}}
    assert capacity.scaler("autoscaling", "HorizontalPodAutoscaler", "shop", unset).minimum == 1
