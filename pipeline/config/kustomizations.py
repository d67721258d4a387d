"""Rules for the kustomization files hydrate hands to kustomize.

Kustomize can fetch remote bases, run Helm and load any directory on disk; at render
time hydrate allows none of that. Every path a kustomization names (the fields of
kustomize v5's `types.Kustomization`, and the path fields of inline generator and
transformer configs) must stay inside the package or layer directory it belongs to,
so that everything a run reads is part of its render key, and no reference may have
any of the forms kustomize (or git) would fetch over the network.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from pipeline.config import yamlio
from pipeline.errors import ConfigError

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_HELM = "hydrate runs Helm itself: make this a package with type: helm"
_FORBIDDEN = {"helmCharts": _HELM, "helmChartInflationGenerator": _HELM, "helmGlobals": _HELM}
_FORBIDDEN_KINDS = {"HelmChartInflationGenerator": _HELM}
# A KRM function config runs a container or a binary (kustomize's alpha plugins).
_FUNCTION_ANNOTATIONS = ("config.kubernetes.io/function", "config.k8s.io/function")

_PATH_LISTS = ("resources", "bases", "components", "crds", "configurations")
_PLUGIN_LISTS = ("generators", "transformers", "validators")  # paths or inline configs
_PATCH_LISTS = ("patches", "patchesJson6902")
_GENERATORS = ("configMapGenerator", "secretGenerator")

# What kustomize v5 (api/internal/git/repospec.go) or git could fetch: a URL (any
# scheme), `git::` or `gh:` prefixes, `user@host...`, scp-like `host:path`, github.com/...
_USER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*@")
_REMOTE_PREFIXES = ("git::", "gh:", "github.com/", "github.com:")


def is_remote(ref: str) -> bool:
    """Whether kustomize or git could take `ref` for something to fetch."""
    ref = ref.strip()
    return ("://" in ref or ref.lower().startswith(_REMOTE_PREFIXES) or bool(_USER.match(ref))
            or ":" in ref.split("/", 1)[0])


def check(path: str, data: Any, *, component: bool, root: str) -> None:
    """ConfigError if the kustomization at `path` is of the wrong kind, names something
    remote, or reaches outside `root` (the package or layer directory it belongs to)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping (a kustomization)")
    kind = data.get("kind", "Kustomization")
    if component and kind != "Component":
        raise ConfigError(
            f"{path}: kind: {kind}: an overlay layer must be a Component "
            "(apiVersion: kustomize.config.k8s.io/v1alpha1, kind: Component)"
        )
    if not component and kind != "Kustomization":
        raise ConfigError(f"{path}: kind: {kind}: a package's kustomization must be a Kustomization")
    for key, why in _FORBIDDEN.items():
        if key in data:
            raise ConfigError(f"{path}: {key}: not allowed ({why})")
    for key, ref in references(path, data):
        _check_ref(path, key, ref, root)


def references(path: str, data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, path) for every path the kustomization `data` names; ConfigError where a
    field does not have the shape kustomize expects."""
    for key in _PATH_LISTS:
        for i, ref in enumerate(_list(path, key, data.get(key))):
            yield f"{key}[{i}]", _str(path, f"{key}[{i}]", ref)
    for key in _PLUGIN_LISTS:
        for i, entry in enumerate(_list(path, key, data.get(key))):
            yield from _plugin_refs(path, f"{key}[{i}]", _str(path, f"{key}[{i}]", entry))
    for key in _PATCH_LISTS:
        for i, patch in enumerate(_list(path, key, data.get(key))):
            yield from _field_refs(path, f"{key}[{i}]", _map(path, f"{key}[{i}]", patch), "path")
    for i, entry in enumerate(_list(path, "patchesStrategicMerge", data.get("patchesStrategicMerge"))):
        key = f"patchesStrategicMerge[{i}]"
        text = _str(path, key, entry)
        if not is_inline(text):
            yield key, text
    for i, entry in enumerate(_list(path, "replacements", data.get("replacements"))):
        yield from _field_refs(path, f"replacements[{i}]", _map(path, f"replacements[{i}]", entry),
                               "path")
    for key in _GENERATORS:
        for i, gen in enumerate(_list(path, key, data.get(key))):
            yield from _generator_refs(path, f"{key}[{i}]", _map(path, f"{key}[{i}]", gen))
    openapi = data.get("openapi")
    if openapi is not None:
        yield from _field_refs(path, "openapi", _map(path, "openapi", openapi), "path")


def is_inline(text: str) -> bool:
    """Whether a patch or plugin entry is inline YAML rather than a file path (kustomize
    tries the file first; a path never parses to a mapping or a list)."""
    return isinstance(_parse_inline(text), (dict, list))


def _parse_inline(text: str) -> Any:
    try:
        docs = [d for d in yamlio.load_all(text) if d is not None]
    except yaml.YAMLError:
        return None
    if len(docs) > 1:
        return docs
    return docs[0] if docs else None


def _plugin_refs(path: str, key: str, entry: str) -> Iterator[tuple[str, str]]:
    parsed = _parse_inline(entry)
    if not isinstance(parsed, (dict, list)):
        yield key, entry
        return
    for doc in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: {key}: an inline config must be a mapping")
        kind = doc.get("kind")
        if kind in _FORBIDDEN_KINDS:
            raise ConfigError(f"{path}: {key}: kind: {kind}: not allowed ({_FORBIDDEN_KINDS[kind]})")
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        for name in _FUNCTION_ANNOTATIONS:
            if isinstance(annotations, dict) and name in annotations:
                raise ConfigError(f"{path}: {key}: {name}: KRM functions and plugins are not "
                                  "allowed (a render runs no programs but helm and kustomize)")
        yield from _field_refs(path, key, doc, "path")
        for i, patch in enumerate(_list(path, f"{key}.paths", doc.get("paths"))):
            text = _str(path, f"{key}.paths[{i}]", patch)
            if not is_inline(text):
                yield f"{key}.paths[{i}]", text
        yield from _generator_refs(path, key, doc)
        for i, repl in enumerate(_list(path, f"{key}.replacements", doc.get("replacements"))):
            yield from _field_refs(path, f"{key}.replacements[{i}]",
                                   _map(path, f"{key}.replacements[{i}]", repl), "path")


def _generator_refs(path: str, key: str, gen: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for i, source in enumerate(_list(path, f"{key}.files", gen.get("files"))):
        text = _str(path, f"{key}.files[{i}]", source)
        yield f"{key}.files[{i}]", text.partition("=")[2] if "=" in text else text
    for i, env in enumerate(_list(path, f"{key}.envs", gen.get("envs"))):
        yield f"{key}.envs[{i}]", _str(path, f"{key}.envs[{i}]", env)
    yield from _field_refs(path, key, gen, "env")


def _field_refs(path: str, key: str, entry: Mapping[str, Any], field: str) -> Iterator[tuple[str, str]]:
    if entry.get(field) is not None:
        yield f"{key}.{field}", _str(path, f"{key}.{field}", entry[field])


def _list(path: str, key: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{path}: {key}: expected a list, got {type(value).__name__}")
    return value


def _map(path: str, key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key}: expected a mapping, got {value!r}")
    return value


def _str(path: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {key}: expected a path, got {value!r}")
    return value


def _check_ref(path: str, key: str, ref: str, root: str) -> None:
    if not ref.strip():
        raise ConfigError(f"{path}: {key}: expected a path, got {ref!r}")
    if is_remote(ref):
        raise ConfigError(
            f"{path}: {key}: {ref}: remote resources are not allowed "
            "(no network at render time); vendor it into the repository"
        )
    target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))
    if ref.startswith("/") or "\\" in ref or not (target == root or target.startswith(root + "/")):
        what = "layer" if root.startswith("overlays/") else "package"
        raise ConfigError(
            f"{path}: {key}: {ref}: leaves the {what} directory; "
            f"a package and each layer must be self-contained within {root}"
        )
