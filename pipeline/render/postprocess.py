"""From a tool's output to hydrated Resources: the fixed post-processing stages.

1. `parse_output`: split the stream into objects (once per distinct output), note the
   CRDs it defines and the kinds it uses.
2. `finish`: per package of a cluster, fill the namespace of namespaced objects that
   have none, add `hydrate.dev/package` and the sync-wave, refuse plaintext Secrets,
   and serialise each object once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from pipeline.config import yamlio
from pipeline.errors import RenderError
from pipeline.render import kinds
from pipeline.render.cache import Cache
from pipeline.render.graph import GroupKind
from pipeline.render.resources import ResId, Resource

PACKAGE_ANNOTATION = "hydrate.dev/package"
WAVE_ANNOTATION = "argocd.argoproj.io/sync-wave"
CRD = ("apiextensions.k8s.io", "CustomResourceDefinition")


@dataclass(frozen=True)
class Output:
    """A tool run's output, parsed once and shared by all clusters with the same key."""

    docs: tuple[Mapping[str, Any], ...]
    crds: Mapping[GroupKind, bool]  # kinds this output defines → namespaced?
    uses: frozenset[GroupKind]

    @property
    def custom_kinds(self) -> tuple[GroupKind, ...]:
        """Kinds whose scope the built-in table does not know."""
        return tuple(sorted(gk for gk in self.uses if gk not in kinds.CLUSTER_SCOPED))


def _group_kind(doc: Mapping[str, Any]) -> GroupKind:
    return (str(doc.get("apiVersion", "")).rpartition("/")[0], str(doc.get("kind", "")))


def parse_output(text: bytes, where: str) -> Output:
    """Objects of a multi-document YAML stream; RenderError naming `where` if malformed."""
    try:
        raw = [d for d in yamlio.load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise RenderError(f"{where}: the tool's output is not valid YAML: {e}") from None
    docs: list[Mapping[str, Any]] = []
    for doc in raw:
        if isinstance(doc, dict) and doc.get("kind") == "List" and "items" in doc:
            raw.extend(doc["items"] or [])
            continue
        if not isinstance(doc, dict):
            raise RenderError(f"{where}: output holds a {type(doc).__name__}, not an object")
        meta = doc.get("metadata")
        if not doc.get("apiVersion") or not doc.get("kind") or not isinstance(meta, dict) \
                or not meta.get("name"):
            raise RenderError(f"{where}: output holds an object without apiVersion, kind or "
                              f"metadata.name: {yamlio.dump(doc)[:200]!r}")
        docs.append(doc)
    crds: dict[GroupKind, bool] = {}
    for doc in docs:
        if _group_kind(doc) == CRD:
            spec = doc.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            if spec.get("group") and kind:
                crds[(spec["group"], kind)] = spec.get("scope", "Namespaced") == "Namespaced"
    return Output(tuple(docs), crds, frozenset(_group_kind(d) for d in docs))


# A value SOPS encrypted: ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>].
_SOPS_VALUE = re.compile(
    r"ENC\[AES256_GCM,data:[A-Za-z0-9+/=]*,iv:[A-Za-z0-9+/=]+,tag:[A-Za-z0-9+/=]+,type:[a-z]+\]")


def plaintext_secret(group: str, kind: str, body: Mapping[str, Any]) -> bool:
    """A core Secret with any value in `data` or `stringData` that is not SOPS-encrypted.

    A `sops:` section proves nothing (anyone can write one, and SOPS leaves the keys
    that `unencrypted_regex` and the like name in clear): every value is judged."""
    if (group, kind) != ("", "Secret"):
        return False
    for field in ("data", "stringData"):
        values = body.get(field)
        if not values:
            continue
        if not isinstance(values, Mapping):
            return True
        if any(not (isinstance(v, str) and _SOPS_VALUE.fullmatch(v)) for v in values.values()):
            return True
    return False


def finish(output: Output, *, package: str, namespace: str | None, wave: int,
           scopes: Mapping[GroupKind, bool], where: str,
           allow_secrets: bool = False) -> tuple[Resource, ...]:
    """The package's hydrated Resources, sorted by identity."""
    found: dict[ResId, Resource] = {}
    for doc in output.docs:
        group, kind = _group_kind(doc)
        meta = dict(doc["metadata"])
        namespaced = kinds.is_namespaced(group, kind, dict(scopes))
        if namespaced and not meta.get("namespace") and namespace:
            meta["namespace"] = namespace
        annotations = dict(meta.get("annotations") or {})
        annotations[PACKAGE_ANNOTATION] = package
        annotations[WAVE_ANNOTATION] = str(wave)
        meta["annotations"] = annotations
        body = {**doc, "metadata": meta}
        rid = ResId(group, kind, str(meta.get("namespace") or "") if namespaced else "",
                    str(meta["name"]))
        if not allow_secrets and plaintext_secret(group, kind, body):
            raise RenderError(
                f"{where}: {rid} holds plaintext data (a value in data or stringData that is "
                "not SOPS-encrypted, ENC[...]); hydrate refuses plaintext Secrets in rendered "
                "output (use SealedSecrets, External Secrets or SOPS-encrypted data, "
                "or set allowPlaintextSecrets: true in the package)"
            )
        if rid in found:
            raise RenderError(f"{where}: renders {rid} twice")
        found[rid] = Resource(rid, yamlio.dump(body).encode())
    return tuple(found[r] for r in sorted(found))


@dataclass(frozen=True)
class OutputInfo:
    """What planning needs from an output: the CRDs it defines and the kinds it uses."""

    crds: Mapping[GroupKind, bool]
    uses: frozenset[GroupKind]

    @property
    def custom_kinds(self) -> tuple[GroupKind, ...]:
        return tuple(sorted(gk for gk in self.uses if gk not in kinds.CLUSTER_SCOPED))


def _cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


class Finisher:
    """Post-processing with two cache levels (this render, and the persistent cache):
    on the warm path no tool output is parsed and no object serialised."""

    def __init__(self, outputs: Mapping[str, bytes], cache: Cache, engine: str) -> None:
        self._outputs = outputs
        self._cache = cache
        self._engine = engine
        self._parsed: dict[str, Output] = {}
        self._info: dict[str, OutputInfo] = {}
        self._finished: dict[str, tuple[Resource, ...]] = {}

    def _output(self, key: str, where: str) -> Output:
        found = self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = parse_output(self._outputs[key], where)
        return found

    def info(self, key: str, where: str) -> OutputInfo:
        found = self._info.get(key)
        if found is not None:
            return found
        disk_key = _cache_key("info", self._engine, key)
        raw = self._cache.get(disk_key)
        if raw is not None:
            data = json.loads(raw)
            found = OutputInfo({(g, k): bool(n) for g, k, n in data["crds"]},
                               frozenset((g, k) for g, k in data["uses"]))
        else:
            out = self._output(key, where)
            found = OutputInfo(out.crds, out.uses)
            self._cache.put(disk_key, json.dumps({
                "crds": sorted([g, k, n] for (g, k), n in found.crds.items()),
                "uses": sorted([g, k] for g, k in found.uses)}).encode())
        self._info[key] = found
        return found

    def finish(self, key: str, *, package: str, namespace: str | None, wave: int,
               scopes: tuple[tuple[GroupKind, bool], ...], allow_secrets: bool,
               where: str) -> tuple[Resource, ...]:
        """The package's Resources for the output `key` (see `finish`)."""
        memo = _cache_key("finished", self._engine, key, package, namespace, wave, scopes,
                          allow_secrets)
        found = self._finished.get(memo)
        if found is not None:
            return found
        raw = self._cache.get(memo)
        if raw is not None:
            found = tuple(Resource(ResId(g, k, ns, n), text.encode())
                          for g, k, ns, n, text in json.loads(raw))
        else:
            found = finish(self._output(key, where), package=package, namespace=namespace,
                           wave=wave, scopes=dict(scopes), where=where,
                           allow_secrets=allow_secrets)
            self._cache.put(memo, json.dumps(
                [[*r.id, r.text.decode()] for r in found], ensure_ascii=False).encode())
        self._finished[memo] = found
        return found
