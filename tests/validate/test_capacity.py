"""Requests as the scheduler counts them, against a class's capacity."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from pipeline.config.model import ClusterClass
from pipeline.config.policy import Workload
from pipeline.validate import capacity, operators
from pipeline.validate.findings import Usage

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


# --- each kind's demand exactly, sidecars, pod-level limits, the edges of the messages --------

EPHEMERAL = {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {
    "requests": {"storage": "1Gi"}}}}}}


def _pod_spec(**extra: Any) -> dict[str, Any]:
    return {"containers": [_c("500m", "1Gi")], "volumes": [EPHEMERAL], **extra}


def test_each_kind_asks_exactly_this() -> None:
    pod = capacity.demand("", "Pod", {"spec": _pod_spec()})
    assert pod == capacity.Demand(Fraction(1, 2), Fraction(GI), 1, False, Fraction(GI))
    claim = capacity.demand("", "PersistentVolumeClaim", {"spec": {"resources": {"requests": {
        "storage": "10Gi"}}}})
    assert claim == capacity.Demand(Fraction(0), Fraction(0), 0, False, claimed=Fraction(10 * GI))
    daemon = capacity.demand("apps", "DaemonSet", {"spec": {"template": {"spec": _pod_spec()}}})
    assert daemon == capacity.Demand(Fraction(1, 2), Fraction(GI), 1, True, Fraction(GI))
    job = capacity.demand("batch", "Job", {"spec": {"parallelism": 2,
                                                    "template": {"spec": _pod_spec()}}})
    assert job == capacity.Demand(Fraction(1, 2), Fraction(GI), 2, False, Fraction(GI))
    cron = capacity.demand("batch", "CronJob", {"spec": {"jobTemplate": {"spec": {
        "parallelism": 3, "template": {"spec": _pod_spec()}}}}})
    assert cron == capacity.Demand(Fraction(1, 2), Fraction(GI), 3, False, Fraction(GI))
    deploy = capacity.demand("apps", "Deployment", {"spec": {"replicas": 2,
                                                             "template": {"spec": _pod_spec()}}})
    assert deploy == capacity.Demand(Fraction(1, 2), Fraction(GI), 2, False, Fraction(GI),
                                     scalable=True)


def test_sidecars_add_to_the_containers_and_to_later_init_containers() -> None:
    """A sidecar (an init container that keeps running) adds to the main containers' sum;
    a plain init container runs alone, with the sidecars started before it."""
    spec = {"initContainers": [_c("100m", "64Mi", restartPolicy="Always"), _c("200m", "32Mi")],
            "containers": [_c("250m", "256Mi"), _c("250m", "256Mi")]}
    assert capacity.pod_requests(spec) == (Fraction(6, 10), Fraction(576 * MI))
    assert capacity.pod_requests({"containers": [_c("1")]}) == (Fraction(1), Fraction(0))


def test_pod_level_limits_count_where_the_pod_gives_no_request() -> None:
    spec = {"resources": {"limits": {"cpu": "4"}}, "containers": [_c("1", "1Gi")]}
    assert capacity.pod_requests(spec) == (Fraction(4), Fraction(GI))
    spec = {"resources": {"limits": {"memory": "3Gi"}}, "containers": [_c("1", "1Gi")]}
    assert capacity.pod_requests(spec) == (Fraction(1), Fraction(3 * GI))


def test_an_operator_kind_reads_list_items_by_index_and_one_mapping_as_one_item() -> None:
    custom = operators.merged([
        Workload("example.com", "Ring", ("spec.sets[1].count",), "spec.resources"),
        Workload("example.com", "Tree", ("count",), "resources", each="spec.root"),
        Workload("example.com", "Gone", ("spec.sets[2].count",), "spec.resources")])
    resources = {"requests": {"cpu": "1", "memory": "1Gi"}}
    ring = {"spec": {"sets": [{"count": 5}, {"count": 3}], "resources": resources}}
    assert capacity.demand("example.com", "Ring", ring, custom).pods == 3
    gone = {"spec": {"sets": [{"count": 5}, {"count": 3}], "resources": resources}}
    assert capacity.demand("example.com", "Gone", gone, custom).pods == 1  # no item 2: one
    tree = {"spec": {"root": {"count": 4, "resources": resources}}}
    assert capacity.demand("example.com", "Tree", tree, custom) == \
        capacity.Demand(Fraction(1), Fraction(GI), 4, False)


def test_an_autoscaler_names_the_kind_and_group_it_scales() -> None:
    sts = capacity.scaler("autoscaling", "HorizontalPodAutoscaler", "shop", {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db"},
        "minReplicas": 2}})
    assert sts == capacity.Scaler(("shop", "apps", "StatefulSet", "db"), 2)
    custom = capacity.scaler("keda.sh", "ScaledObject", "shop", {"spec": {"scaleTargetRef": {
        "apiVersion": "example.com/extra/v1", "kind": "Ring", "name": "r"}}})
    assert custom == capacity.Scaler(("shop", "example.com/extra", "Ring", "r"), 0)
    assert capacity.scaler("autoscaling", "HorizontalPodAutoscaler", "shop",
                           {"spec": {"scaleTargetRef": {"kind": "Deployment"}}}) is None
    assert capacity.scaler("apps", "Deployment", "shop", {}) is None


def test_a_workload_scaled_in_its_own_output_is_counted_once() -> None:
    web = capacity.demand("apps", "Deployment", _workload("Deployment", replicas=2))
    hpa = capacity.Scaler(_ref("web"), 5)
    load = capacity.total([(_ref("web"), web)], [hpa])
    assert (load.pods, load.scalable, load.scalers) == (5.0, (), ())
    unscaled = capacity.total([(_ref("web"), web)])
    assert unscaled.scalable == ((_ref("web"), 2, 0.5, 1.0 * GI, 0.0),)


def test_per_node_storage_and_the_nodes_a_class_has() -> None:
    daemon = capacity.demand("apps", "DaemonSet", {"spec": {"template": {"spec": _pod_spec()}}})
    pvc = capacity.Demand(Fraction(0), Fraction(0), 0, False, claimed=Fraction(2 * GI))
    load = capacity.total([(_ref("d", "DaemonSet"), daemon), (_ref("c", "PVC", ""), pvc)])
    assert (load.storage, load.node_storage) == (2.0 * GI, 1.0 * GI)
    three = capacity.usage("store-1", CLS, [load])
    assert three.requested == {"cpu": 1.5, "memory": 3.0 * GI, "pods": 3.0,
                               "storage": 5.0 * GI}
    bare = ClusterClass("x", "fleet/classes/x.yaml", "", "1.30", {"cpu": "4"}, (), {})
    one = capacity.usage("store-1", bare, [load, load])  # no nodes given: one
    assert one.requested == {"cpu": 1.0, "memory": 2.0 * GI, "pods": 2.0, "storage": 6.0 * GI}
    given = capacity.usage("store-1", bare, [load], {"cpu": 8.0})
    assert given.capacity == {"cpu": 8.0}


def test_a_scaler_in_another_output_moves_memory_and_storage_too() -> None:
    sts = capacity.demand("apps", "StatefulSet", {"spec": {
        "replicas": 1, "template": {"spec": {"containers": [_c("1", "2Gi")]}},
        "volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": "5Gi"}}}}]}})
    app = capacity.total([(_ref("db", "StatefulSet"), sts)])
    scaling = capacity.total([], [capacity.Scaler(_ref("db", "StatefulSet"), 3)])
    use = capacity.usage("store-1", CLS, [app, scaling])
    assert use.requested == {"cpu": 3.0, "memory": 6.0 * GI, "pods": 3.0,
                             "storage": 15.0 * GI}


def _usage(percent: float) -> Usage:
    return Usage("store-1", "pop", {"cpu": percent / 100 * 4}, {"cpu": 4.0})


def test_the_messages_at_exactly_80_and_100_percent() -> None:
    assert capacity.message(_usage(80.0)) is None
    assert capacity.message(_usage(80.5)) == (
        False, "requests are above 80 % of the capacity of class pop: cpu 3220m of 4 (80 %)")
    assert capacity.message(_usage(100.0)) == (
        False, "requests are above 80 % of the capacity of class pop: cpu 4 of 4 (100 %)")
    assert capacity.message(_usage(100.5)) == (
        True, "requests are over the capacity of class pop: cpu 4020m of 4 (100 %)")


def test_shares_in_words_and_numbers_no_cluster_could_have() -> None:
    use = Usage("store-1", "pop", {"cpu": 1.0}, {"cpu": 4.0, "storage": 10.0 * GI})
    assert capacity.shares(use) == [("cpu", "1", "4", 25.0), ("storage", "0", "10Gi", 0.0)]
    assert capacity.percent_text(999_999.4) == "999999 %"
    assert capacity.percent_text(1e6) == "1e+06 %"
    huge = Usage("store-1", "pop", {"memory": 1e15}, {"memory": 1e16})
    assert capacity.shares(huge) == [("memory", "1e+15", "1e+16", 10.0)]
