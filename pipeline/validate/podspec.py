"""What the policy rules read of an object: its (group, kind), where a workload keeps its
pod spec, its containers, image tags and hostPath folders. Read defensively: any field of
a rendered object may be missing, null or of the wrong type (the schema check reports
those); nothing here raises on them."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeGuard

# (group, kind) → the keys from the object to its pod spec. Only these groups: a custom
# resource `example.com/v1 Deployment` has no pod template we know how to read.
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
_PATHS = {gk: ".".join(keys) for gk, keys in POD_SPECS.items()}
_WHAT = {"containers": "container", "initContainers": "init container",
         "ephemeralContainers": "ephemeral container"}
_EMPTY: Mapping[str, Any] = {}


def is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    # Parsed YAML is plain dicts; the Mapping ABC check costs ten times more, so it only
    # runs for what is not a dict (and never for the common None).
    return isinstance(value, dict) or (value is not None and isinstance(value, Mapping))


def dig(value: Any, *keys: str) -> Any:
    """value[k1][k2]…, or None where a step is missing or not a mapping."""
    for key in keys:
        # is_map, inlined: this is the hottest loop.
        if not (isinstance(value, dict) or (value is not None and isinstance(value, Mapping))):
            return None
        value = value.get(key)
    return value


def group_kind(body: Mapping[str, Any]) -> tuple[str, str]:
    api = body.get("apiVersion")
    kind = body.get("kind")
    return (api.rpartition("/")[0] if isinstance(api, str) else "",
            kind if isinstance(kind, str) else "")


class Container(NamedTuple):
    """One container of a pod spec; its path and label are only formatted for a hit."""

    data: Mapping[str, Any]
    security: Mapping[str, Any]  # its securityContext; empty when missing or not a mapping
    resources: Mapping[str, Any]  # its resources; the same
    base: str  # the pod spec's path
    field: str  # "containers", "initContainers" or "ephemeralContainers"
    position: int  # in its list

    @property
    def path(self) -> str:
        """Its field path, e.g. spec.template.spec.initContainers[0]."""
        return f"{self.base}.{self.field}[{self.position}]"

    @property
    def label(self) -> str:
        """How a message names it, e.g. init container 'setup'."""
        name = self.data.get("name")
        what = _WHAT[self.field]
        return f"{what} {name!r}" if isinstance(name, str) else what

    @property
    def ephemeral(self) -> bool:
        return self.field == "ephemeralContainers"


class Pod(NamedTuple):
    """A workload's pod spec, its field path and its containers of every list."""

    spec: Mapping[str, Any]
    path: str
    security: Mapping[str, Any]  # the pod's securityContext; empty when missing
    containers: tuple[Container, ...]


def pod_of(body: Mapping[str, Any], gk: tuple[str, str]) -> Pod | None:
    """The pod spec of a workload of (group, kind) `gk`; None for other kinds, or when the
    spec is missing or not a mapping."""
    keys = POD_SPECS.get(gk)
    if keys is None:
        return None
    spec = dig(body, *keys)
    if not is_map(spec):
        return None
    base = _PATHS[gk]
    found: list[Container] = []
    for field in _WHAT:
        items = spec.get(field)
        if not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not is_map(item):
                continue
            security = item.get("securityContext")
            resources = item.get("resources")
            found.append(Container(item, security if is_map(security) else _EMPTY,
                                   resources if is_map(resources) else _EMPTY, base, field, index))
    security = spec.get("securityContext")
    return Pod(spec, base, security if is_map(security) else _EMPTY, tuple(found))


class View(NamedTuple):
    """One object as the rules read it, worked out once per object."""

    body: Mapping[str, Any]
    gk: tuple[str, str]
    pod: Pod | None


def view(body: Any) -> View:
    if not is_map(body):
        return View(_EMPTY, ("", ""), None)
    gk = group_kind(body)
    return View(body, gk, pod_of(body, gk))


def image_tag(image: str) -> str | None:
    """The tag of an image reference; "" for a digest (pinned), None for no tag."""
    if "@" in image:
        return ""
    _, colon, tag = image.rpartition("/")[2].partition(":")  # a registry's port is no tag
    return tag if colon and tag else None


def folders(allowed: Any) -> tuple[str, ...]:
    """Path prefixes (one string or a list), normalised, each ending in "/"."""
    given = [allowed] if isinstance(allowed, str) else allowed if isinstance(allowed, list | tuple) else ()
    return tuple(posixpath.normpath(a).rstrip("/") + "/" for a in given if isinstance(a, str) and a)


def within(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whether `path` is one of the folders or under one: /var/log/../../etc is not."""
    if not path:
        return False
    real = posixpath.normpath(path) + "/"
    return any(real.startswith(prefix) for prefix in prefixes)
