"""The central type: a rendered Kubernetes object and its identity.

A `Resource` is one hydrated object: its `ResId` (group, kind, namespace, name), the
parsed body, the exact bytes written for it and the repository file it came
from. Everything downstream (directories,
git trees, diffs) works on Resources.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

_SAFE = re.compile(r"[^a-z0-9.-]")
_MAX_NAME = 200  # bytes of a file name before the hashed fallback


class ResId(NamedTuple):
    """Identity of an object in a cluster; namespace is "" for cluster-scoped objects."""

    group: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> ResId:
        api = str(body.get("apiVersion", ""))
        group = api.rpartition("/")[0]
        meta = body.get("metadata") or {}
        return cls(group, str(body.get("kind", "")), str(meta.get("namespace") or ""),
                   str(meta.get("name") or ""))

    def __str__(self) -> str:
        kind = f"{self.kind}.{self.group}" if self.group else self.kind
        return f"{kind} {self.namespace}/{self.name}" if self.namespace else f"{kind} {self.name}"

    @property
    def filename(self) -> str:
        """The stable, collision-free file name of this object (see docs/output.md)."""
        kind = self.kind.lower() + (f".{self.group}" if self.group else "")
        parts = [kind, self.namespace, self.name] if self.namespace else [kind, self.name]
        name = "_".join(_escape(p) for p in parts)
        if len(name) > _MAX_NAME:
            digest = hashlib.sha256("\0".join(self).encode()).hexdigest()[:16]
            name = f"{name[:_MAX_NAME - 17]}~{digest}"
        return f"{name}.yaml"


def _escape(part: str) -> str:
    # Kubernetes names are mostly [a-z0-9.-]; RBAC names may hold ':' or capitals.
    # Everything else is written as %XX of its UTF-8 bytes, so the mapping is injective.
    return _SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), part)


@dataclass(frozen=True)
class Resource:
    """One hydrated object, as written: `text` is exactly the file's content. The parsed
    `body` is the one post-processing built it from, or, for an object read back (from
    the cache or a branch), parsed on first use: on the warm path objects are never parsed."""

    id: ResId
    text: bytes
    origin: str | None = None  # the repository file that produced it, when known
    parsed: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @cached_property
    def filename(self) -> str:
        return self.id.filename

    @cached_property
    def body(self) -> Mapping[str, Any]:
        if self.parsed is not None:
            return self.parsed
        from pipeline.config import yamlio

        loaded: Mapping[str, Any] = yamlio.load(self.text)
        return loaded
