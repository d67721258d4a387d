"""From a tool's output to hydrated Resources: the fixed post-processing stages.

1. `parse_output`: split the stream into objects (once per distinct output), note the
   CRDs it defines and the kinds it uses.
2. `finish`: per package of a cluster, fill the namespace of namespaced objects that
   have none, add `hydrate.dev/package` and the sync-wave, note the repository file
   each object came from, and serialise each object once.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import yaml

from pipeline.config import yamlio
from pipeline.errors import RenderError
from pipeline.render import capabilities, kinds
from pipeline.render.cache import Cache
from pipeline.render.graph import GroupKind
from pipeline.render.materialise import HELM_OUTPUT
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
    origins: tuple[str | None, ...] = ()  # per doc: the workspace file it came from
    apis: tuple[str, ...] = ()  # API versions its CRDs serve (see capabilities.served)

    @property
    def custom_kinds(self) -> tuple[GroupKind, ...]:
        """Kinds whose scope the built-in table does not know."""
        return tuple(sorted(gk for gk in self.uses if gk not in kinds.CLUSTER_SCOPED))


def _group_kind(doc: Mapping[str, Any]) -> GroupKind:
    return (str(doc.get("apiVersion", "")).rpartition("/")[0], str(doc.get("kind", "")))


ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
_HELM_SOURCE = re.compile(rb"^# Source: (.+?)\s*$", re.MULTILINE)
_DOC_START = re.compile(rb"^---[ \t]*\r?\n", re.MULTILINE)
_ORIGIN_PATH = re.compile(r"^(?:path|configuredIn): *(.+?) *$", re.MULTILINE)


def _documents(text: bytes) -> list[tuple[Any, str | None]]:
    """(object, its file) for each document: Helm names the template of each one in a
    `# Source:` comment; Kustomize in an origin annotation (see materialise._wrapper)."""
    if b"# Source: " not in text:
        return [(d, None) for d in yamlio.load_all(text) if d is not None]
    found: list[tuple[Any, str | None]] = []
    for chunk in _DOC_START.split(text):
        source = _HELM_SOURCE.search(chunk)
        name = source.group(1).decode(errors="replace") if source else None
        found.extend((d, name) for d in yamlio.load_all(chunk) if d is not None)
    return found


def _origin(doc: dict[str, Any], fallback: str | None) -> str | None:
    """The origin annotation's file (the annotation is removed), else `fallback`."""
    meta = doc.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or ORIGIN_ANNOTATION not in annotations:
        return fallback
    assert isinstance(meta, dict)
    match = _ORIGIN_PATH.search(str(annotations[ORIGIN_ANNOTATION]))
    rest = {k: v for k, v in annotations.items() if k != ORIGIN_ANNOTATION}
    doc["metadata"] = {**meta, "annotations": rest} if rest else \
        {k: v for k, v in meta.items() if k != "annotations"}
    return match.group(1).strip("'\"") if match else fallback


HOOKS = ("helm.sh/hook", "argocd.argoproj.io/hook")
_NAME_LETTERS = "bcdfghjklmnpqrstvwxz2456789"  # what the API server picks generateName suffixes from


def _hook_name(doc: dict[str, Any], where: str, source: str | None) -> str:
    """The name a hook with `generateName` is written under: the prefix and five letters
    from a digest of the object (stable, so renders stay byte-equal), because kustomize,
    and so every GitOps agent reading the output, needs a name. RenderError for an object
    that is not a hook: nothing applies it."""
    meta = doc["metadata"]
    prefix = str(meta["generateName"])
    annotations = meta.get("annotations")
    if not isinstance(annotations, dict) or not any(h in annotations for h in HOOKS):
        raise RenderError(f"{where}: {source or 'the output'}: {doc.get('kind', 'an object')} with "
                          f"generateName {prefix!r} and no name: GitOps agents apply objects by name "
                          "and cannot apply it except as a hook; give it a metadata.name, or make it "
                          "a hook (helm.sh/hook or argocd.argoproj.io/hook annotation)")
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).digest()
    return prefix + "".join(_NAME_LETTERS[b % len(_NAME_LETTERS)] for b in digest[:5])


def name_hooks(text: bytes, where: str) -> bytes:
    """A chart's output with each hook that has only a `generateName` given its stable
    name (see `_hook_name`), for Components to build on: kustomize needs names."""
    if b"generateName" not in text:
        return text
    out = []
    for chunk in _DOC_START.split(text):
        if b"generateName" in chunk:
            source = _HELM_SOURCE.search(chunk)
            docs = list(yamlio.load_all(chunk))
            named = [d for d in docs if isinstance(d, dict) and isinstance(d.get("metadata"), dict)
                     and d["metadata"].get("generateName") and not d["metadata"].get("name")]
            for doc in named:
                doc["metadata"]["name"] = _hook_name(
                    doc, where, source.group(1).decode(errors="replace") if source else None)
            if named:
                chunk = (source.group(0) + b"\n" if source else b"") + yamlio.dump_all(
                    [d for d in docs if d is not None]).encode()
        out.append(chunk)
    return b"---\n".join(out)


def parse_output(text: bytes, where: str) -> Output:
    """Objects of a multi-document YAML stream; RenderError naming `where` if malformed."""
    try:
        raw = _documents(text)
    except yaml.YAMLError as e:
        raise RenderError(f"{where}: the tool's output is not valid YAML: {e}") from None
    docs: list[Mapping[str, Any]] = []
    origins: list[str | None] = []
    for doc, source in raw:
        if isinstance(doc, dict) and doc.get("kind") == "List" and "items" in doc:
            raw.extend((item, source) for item in doc["items"] or [])
            continue
        if not isinstance(doc, dict):
            raise RenderError(f"{where}: output holds a {type(doc).__name__}, not an object")
        meta = doc.get("metadata")
        if isinstance(meta, dict) and not meta.get("name") and meta.get("generateName"):
            meta["name"] = _hook_name(doc, where, source)
        if not doc.get("apiVersion") or not doc.get("kind") or not isinstance(meta, dict) \
                or not meta.get("name"):
            missing = [k for k, ok in (("apiVersion", doc.get("apiVersion")), ("kind", doc.get("kind")),
                                       ("metadata.name", isinstance(meta, dict) and meta.get("name")))
                       if not ok]
            raise RenderError(f"{where}: {source or 'the output'} has an object "
                              f"({doc.get('kind') or 'of no kind'}) without {' and '.join(missing)}")
        origins.append(_origin(doc, source))
        docs.append(doc)
    crds: dict[GroupKind, bool] = {}
    for doc in docs:
        if _group_kind(doc) == CRD:
            spec = doc.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            if spec.get("group") and kind:
                crds[(spec["group"], kind)] = spec.get("scope", "Namespaced") == "Namespaced"
    return Output(tuple(docs), crds, frozenset(_group_kind(d) for d in docs), tuple(origins),
                  capabilities.served(d for d in docs if _group_kind(d) == CRD))


def finish(output: Output, *, package: str, namespace: str | None, wave: int,
           scopes: Mapping[GroupKind, bool], where: str,
           origins: tuple[str | None, ...] = (), crd_wave: int | None = None) -> tuple[Resource, ...]:
    """The package's hydrated Resources, sorted by identity; `origins`: the repository
    file of each of the output's documents; `crd_wave`: the wave of its CRDs when they
    have one of their own (see `graph.Plan.crd_waves`)."""
    found: dict[ResId, Resource] = {}
    for index, doc in enumerate(output.docs):
        group, kind = _group_kind(doc)
        meta = dict(doc["metadata"])
        namespaced = kinds.is_namespaced(group, kind, dict(scopes))
        if namespaced and not meta.get("namespace") and namespace:
            meta["namespace"] = namespace
        annotations = dict(meta.get("annotations") or {})
        annotations[PACKAGE_ANNOTATION] = package
        annotations[WAVE_ANNOTATION] = str(
            crd_wave if crd_wave is not None and (group, kind) == CRD else wave)
        meta["annotations"] = annotations
        body = {**doc, "metadata": meta}
        rid = ResId(group, kind, str(meta.get("namespace") or "") if namespaced else "",
                    str(meta["name"]))
        if rid in found:
            raise RenderError(f"{where}: renders {rid} twice")
        found[rid] = Resource(rid, yamlio.dump(body).encode(),
                              origins[index] if index < len(origins) else None, body)
    return tuple(found[r] for r in sorted(found))


@dataclass(frozen=True)
class OutputInfo:
    """What planning needs from an output: the CRDs it defines and the kinds it uses."""

    crds: Mapping[GroupKind, bool]
    uses: frozenset[GroupKind]
    apis: tuple[str, ...] = ()  # API versions its CRDs serve

    @cached_property
    def custom_kinds(self) -> tuple[GroupKind, ...]:
        return tuple(sorted(gk for gk in self.uses if gk not in kinds.CLUSTER_SCOPED))


def _cache_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def place(origin: str | None, places: Mapping[str, str]) -> str | None:
    """A workspace path as a repository path, by the longest workspace folder holding it."""
    if origin is None:
        return None
    best = max((d for d in places if origin == d or origin.startswith(d + "/")), key=len, default=None)
    return None if best is None else places[best] + origin[len(best):]


@dataclass(frozen=True)
class Origin:
    """Where a (cluster, package) output's files are in the repository: workspace folder
    → repository folder, and for Components over a chart, the chart run's key and places."""

    places: Mapping[str, str]
    chart: tuple[str, Mapping[str, str]] | None = None

    @property
    def memo(self) -> tuple[object, ...]:
        chart = (self.chart[0], sorted(self.chart[1].items())) if self.chart else None
        return (sorted(self.places.items()), chart)


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

    def origins(self, key: str, origin: Origin, where: str) -> tuple[str | None, ...]:
        """The repository file of each document of the output `key`."""
        out = self._output(key, where)
        found = [place(o, origin.places) for o in out.origins]
        if origin.chart is None:
            return tuple(found)
        # Objects that came through the chart's output: the chart's template made them.
        chart_key, chart_places = origin.chart
        chart = self._output(chart_key, where)
        by_id = {(*_group_kind(doc), str(doc["metadata"]["name"])): o for doc, o in
                 zip(chart.docs, self.origins(chart_key, Origin(chart_places), where), strict=True)}
        for index, (doc, o) in enumerate(zip(out.docs, out.origins, strict=True)):
            if o == HELM_OUTPUT:
                found[index] = by_id.get((*_group_kind(doc), str(doc["metadata"]["name"])),
                                         chart_places.get("chart"))
        return tuple(found)

    def info(self, key: str, where: str) -> OutputInfo:
        found = self._info.get(key)
        if found is not None:
            return found
        disk_key = _cache_key("info", self._engine, key)
        raw = self._cache.get(disk_key)
        if raw is not None:
            data = json.loads(raw)
            found = OutputInfo({(g, k): bool(n) for g, k, n in data["crds"]},
                               frozenset((g, k) for g, k in data["uses"]),
                               tuple(str(a) for a in data.get("apis", ())))
        else:
            out = self._output(key, where)
            found = OutputInfo(out.crds, out.uses, out.apis)
            self._cache.put(disk_key, json.dumps({
                "crds": sorted([g, k, n] for (g, k), n in found.crds.items()),
                "uses": sorted([g, k] for g, k in found.uses), "apis": list(found.apis)}).encode())
        self._info[key] = found
        return found

    def finish(self, key: str, *, package: str, namespace: str | None, wave: int,
               scopes: tuple[tuple[GroupKind, bool], ...], origin: Origin,
               where: str, crd_wave: int | None = None) -> tuple[str, tuple[Resource, ...]]:
        """The package's Resources for the output `key` (see `finish`), and the key they
        are kept under (equal keys, equal Resources)."""
        memo = _cache_key("finished", self._engine, key, package, namespace, wave, scopes,
                          origin.memo, *(() if crd_wave is None else (crd_wave,)))
        found = self._finished.get(memo)
        if found is not None:
            return memo, found
        raw = self._cache.get(memo)
        if raw is not None:
            found = tuple(Resource(ResId(g, k, ns, n), text.encode(), origin)
                          for g, k, ns, n, text, origin in json.loads(raw))
        else:
            found = finish(self._output(key, where), package=package, namespace=namespace,
                           wave=wave, scopes=dict(scopes), where=where, crd_wave=crd_wave,
                           origins=self.origins(key, origin, where))
            self._cache.put(memo, json.dumps(
                [[*r.id, r.text.decode(), r.origin] for r in found], ensure_ascii=False).encode())
        self._finished[memo] = found
        return memo, found
