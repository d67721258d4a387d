"""Where common operators' custom kinds keep the pods they run, for capacity: the
operator makes a StatefulSet hydrate never sees, so the custom resource is counted in
its place. `fleet/policy.yaml`'s `workloads:` adds kinds, or replaces these for a kind it
names (docs/validation.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.config.policy import Workload

_PROM = "monitoring.coreos.com"
_CLAIM = "spec.storage.volumeClaimTemplate.spec.resources.requests.storage"

SHIPPED: tuple[Workload, ...] = (
    # Prometheus Operator: one StatefulSet pod per replica (and per shard).
    Workload(_PROM, "Prometheus", ("spec.replicas", "spec.shards"), "spec.resources", storage=(_CLAIM,)),
    Workload(_PROM, "PrometheusAgent", ("spec.replicas", "spec.shards"), "spec.resources",
             storage=(_CLAIM,)),
    Workload(_PROM, "Alertmanager", ("spec.replicas",), "spec.resources", storage=(_CLAIM,)),
    Workload(_PROM, "ThanosRuler", ("spec.replicas",), "spec.resources", storage=(_CLAIM,)),
    # PostgreSQL operators: CloudNativePG, Zalando, Crunchy Data PGO.
    Workload("postgresql.cnpg.io", "Cluster", ("spec.instances",), "spec.resources",
             storage=("spec.storage.size", "spec.walStorage.size")),
    Workload("acid.zalan.do", "postgresql", ("spec.numberOfInstances",), "spec.resources",
             storage=("spec.volume.size",)),
    Workload("postgres-operator.crunchydata.com", "PostgresCluster", ("replicas",), "resources",
             storage=("dataVolumeClaimSpec.resources.requests.storage",
                      "walVolumeClaimSpec.resources.requests.storage"), each="spec.instances"),
    # RabbitMQ cluster operator.
    Workload("rabbitmq.com", "RabbitmqCluster", ("spec.replicas",), "spec.resources",
             storage=("spec.persistence.storage",)),
    # Strimzi: node pools, and ZooKeeper where a Kafka still has one.
    Workload("kafka.strimzi.io", "KafkaNodePool", ("spec.replicas",), "spec.resources",
             storage=("spec.storage.size",)),
    Workload("kafka.strimzi.io", "Kafka", ("replicas",), "resources", storage=("storage.size",),
             each="spec.zookeeper"),
    # Elastic Cloud on Kubernetes.
    Workload("elasticsearch.k8s.elastic.co", "Elasticsearch", ("count",), pod_spec="podTemplate.spec",
             storage=("volumeClaimTemplates[0].spec.resources.requests.storage",), each="spec.nodeSets"),
    Workload("kibana.k8s.elastic.co", "Kibana", ("spec.count",), pod_spec="spec.podTemplate.spec"),
)


def merged(given: Iterable[Workload]) -> Mapping[tuple[str, str], tuple[Workload, ...]]:
    """(group, kind) → its workloads: the policy's for a kind it names, else the shipped ones."""
    found: dict[tuple[str, str], list[Workload]] = {}
    for w in SHIPPED:
        found.setdefault((w.group, w.kind), []).append(w)
    own: dict[tuple[str, str], list[Workload]] = {}
    for w in given:
        own.setdefault((w.group, w.kind), []).append(w)
    found.update(own)
    return {gk: tuple(ws) for gk, ws in found.items()}
