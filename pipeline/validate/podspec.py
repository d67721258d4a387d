"""Where a workload keeps its pod spec, and its containers, read defensively: any field of
a rendered object may be missing, null or of the wrong type (the schema check reports
those); nothing here raises on them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# (group, kind) → the keys from the object to its pod spec.
POD_SPECS: Mapping[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): ("spec",),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
}
CONTAINER_LISTS = (("containers", "container"), ("initContainers", "init container"),
                   ("ephemeralContainers", "ephemeral container"))


def group_kind(body: Mapping[str, Any]) -> tuple[str, str]:
    api = body.get("apiVersion")
    group = api.rpartition("/")[0] if isinstance(api, str) else ""
    kind = body.get("kind")
    return group, kind if isinstance(kind, str) else ""


def dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def pod_spec(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], str] | None:
    """The object's pod spec and its field path, if it is a workload."""
    keys = POD_SPECS.get(group_kind(body))
    if keys is None:
        return None
    spec = dig(body, *keys)
    return (spec, ".".join(keys)) if isinstance(spec, Mapping) else None


class Container:
    """One container of a pod spec, with its field path and how to name it."""

    def __init__(self, data: Mapping[str, Any], path: str, what: str) -> None:
        self.data = data
        self.path = path
        name = data.get("name")
        self.label = f"{what} {name!r}" if isinstance(name, str) else what

    def get(self, *keys: str) -> Any:
        return dig(self.data, *keys)


def containers(spec: Mapping[str, Any], base: str) -> Iterator[Container]:
    """Every container of the pod spec at `base`: regular, init and ephemeral."""
    for field, what in CONTAINER_LISTS:
        items = spec.get(field)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                yield Container(item, f"{base}.{field}[{index}]", what)
