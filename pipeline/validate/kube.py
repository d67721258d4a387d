"""Built-in Kubernetes objects against the OpenAPI of a Kubernetes version, strictly.

The schemas are the data kubernetes-validate ships (`kubernetes-json-schema/v1.XX.0-
local-strict/_definitions.json`, one file per minor release, 1.25 onwards); its code is
never imported (slow) and its `validate()` never called (it re-reads the definitions
for every object). Instead each (Kubernetes version, group, version, kind) gets one
validator, compiled on first use from the definitions it reaches.

Read from the data as it is, with two fixes: a kind is found by its full group
(`x-kubernetes-group-version-kind`), so an `apps.example.com/v1` Deployment is not held
to apps/v1; int-or-string, spelled as a `oneOf` that rejects null, becomes a plain union
of types; and every field that refers to the `resource.Quantity` definition (requests,
limits, PVC sizes, ResourceQuota, LimitRange, emptyDir sizeLimit, …: the data says which)
is held to the API server's quantity grammar, which the published schema leaves out.
Unknown fields are errors, as the strict data says.

Not checked, because the data does not say it: enum values of fields (`imagePullPolicy:
Sometimes` passes), formats, `x-kubernetes-validations` and the API server's own
validation (names, label syntax, immutable fields, cross-field rules such as a selector
that must match the template's labels).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.config import quantity
from pipeline.errors import PipelineError
from pipeline.validate import served
from pipeline.validate.crd import Compile, Compiled, CrdSchemas, compile_schema

_DIR = re.compile(r"^v1\.(\d+)\.0-local-strict$")
_VERSION = re.compile(r"^v?1\.(\d+)(?:\.\d+)?$")
_FIRST = 25  # the oldest minor the data holds
_SCHEMA_VALUED = ("items", "additionalProperties", "not")
_DROPPED = ("description", "format", "default", "example")
_STABILITY = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# A string in the grammar, or a number (the decoder parses a JSON number's text the same way).
_QUANTITY_SCHEMA = {"type": ["string", "number", "null"], "pattern": quantity.OBJECT_PATTERN}


@dataclass(frozen=True)
class Problem:
    """One way an object would be refused or silently changed by the API server."""

    rule: Literal["schema", "api-not-served", "unknown-kind"]
    message: str  # one sentence that points at the fix
    path: str  # "spec.template.spec.containers[0].image"; "" for the object


def data_dir() -> Path:
    """kubernetes-validate's schema directory, found without importing the package."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise PipelineError("the Kubernetes schemas are missing: install kubernetes-validate "
                            "(pip install 'kubernetes-validate>=1.37,<1.38')")
    return Path(spec.submodule_search_locations[0]) / "kubernetes-json-schema"


def supported_versions(root: Path | None = None) -> tuple[str, ...]:
    """The Kubernetes minors the data holds, oldest first: ("1.25", ..., "1.37")."""
    found = (_DIR.match(p.name) for p in (root or data_dir()).iterdir())
    return tuple(f"1.{n}" for n in sorted(int(m[1]) for m in found if m))


def _priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' order of API versions: v2 > v1 > v1beta2 > v1beta1 > v1alpha1."""
    m = _STABILITY.match(version)
    if m is None:
        return (-1, 0, 0)
    level = {"alpha": 0, "beta": 1, None: 2}[m[2]]
    return (level, int(m[1]), int(m[3] or 0))


@dataclass(frozen=True)
class _Index:
    defs: Mapping[str, Any]  # the $defs of _definitions.json, as parsed
    kinds: Mapping[tuple[str, str, str], str]  # (group, version, kind) → definition name
    versions: Mapping[tuple[str, str], tuple[str, ...]]  # (group, kind) → versions, preferred first
    groups: frozenset[str]


def _index(defs: Mapping[str, Any]) -> _Index:
    kinds: dict[tuple[str, str, str], str] = {}
    for name, node in defs.items():
        for gvk in node.get("x-kubernetes-group-version-kind", ()):
            kinds.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)
    versions: dict[tuple[str, str], list[str]] = {}
    for group, version, kind in kinds:
        versions.setdefault((group, kind), []).append(version)
    preferred = {k: tuple(sorted(v, key=_priority, reverse=True)) for k, v in versions.items()}
    return _Index(defs, kinds, preferred, frozenset(g for g, _, _ in kinds))


def _clean(node: Any, refs: set[str]) -> Any:
    """A schema node ready to compile: local `$ref`s (collected in `refs`), no prose, and
    type-only `oneOf`s (int-or-string, quantity) as one union that also admits null."""
    if not isinstance(node, Mapping):
        return node
    branches = node.get("oneOf")
    if isinstance(branches, list) and all(isinstance(b, Mapping) and set(b) == {"type"} for b in branches):
        union: list[str] = []
        for branch in branches:
            kinds = branch["type"] if isinstance(branch["type"], list) else [branch["type"]]
            union += [k for k in kinds if k not in union and k != "null"]
        return {"type": [*union, "null"]}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key == "$ref" and isinstance(value, str):
            refs.add(value.rsplit("/", 1)[-1])
            out[key] = f"#/$defs/{value.rsplit('/', 1)[-1]}"
        elif key in ("properties", "patternProperties") and isinstance(value, Mapping):
            out[key] = {k: _clean(v, refs) for k, v in value.items()}  # keys are field names
        elif key in ("allOf", "anyOf", "oneOf", "prefixItems") and isinstance(value, list):
            out[key] = [_clean(v, refs) for v in value]
        elif key in _SCHEMA_VALUED:
            out[key] = _clean(value, refs)
        else:
            out[key] = value  # enum, required, type: data, not schemas
    return out


class Schemas:
    """Compiled validators per (Kubernetes version, group, version, kind), built on first use."""

    def __init__(self, root: Path | None = None, *, compile: Compile = compile_schema) -> None:
        self._root = root
        self._compile = compile
        self._supported: tuple[str, ...] | None = None
        self._indexes: dict[str, _Index] = {}
        self._cleaned: dict[tuple[str, str], tuple[Any, frozenset[str]]] = {}
        self._validators: dict[tuple[str, str, str, str], Compiled] = {}

    @property
    def root(self) -> Path:
        if self._root is None:
            self._root = data_dir()
        return self._root

    def supported(self) -> tuple[str, ...]:
        """The Kubernetes minors there are schemas for, oldest first."""
        if self._supported is None:
            self._supported = supported_versions(self.root)
        return self._supported

    def schema_version(self, kubernetes_version: str) -> str:
        """The schema set for a class's kubernetesVersion ("1.30", "v1.30", "1.30.4"): the same
        minor, or the newest there is for a newer one; ValueError if malformed or below 1.25."""
        supported = self.supported()
        m = _VERSION.match(kubernetes_version.strip())
        if m is None:
            raise ValueError(f"{kubernetes_version!r} is not a Kubernetes version; write it as \"1.30\", "
                             "\"v1.30\" or \"1.30.4\"")
        minor = int(m[1])
        older = [v for v in supported if int(v.split(".")[1]) <= minor]
        if minor < _FIRST or not older:
            known = f"{supported[0]} to {supported[-1]}" if supported else "none found"
            raise ValueError(f"Kubernetes {kubernetes_version} is older than the schemas hydrate has "
                             f"({known}); Kubernetes below 1.25 is out of support: upgrade the class")
        return older[-1]

    def _index(self, version: str) -> _Index:
        found = self._indexes.get(version)
        if found is None:
            path = self.root / f"v{version}.0-local-strict" / "_definitions.json"
            with path.open("rb") as f:
                found = self._indexes[version] = _index(json.load(f)["$defs"])
        return found

    def validator(self, version: str, group: str, api_version: str, kind: str) -> Compiled | None:
        """The compiled validator of a built-in kind, or None if the version has no such kind."""
        key = (version, group, api_version, kind)
        found = self._validators.get(key)
        if found is not None:
            return found
        index = self._index(version)
        name = index.kinds.get((group, api_version, kind))
        if name is None:
            return None
        found = self._validators[key] = self._compile(self._closure(version, index, name))
        return found

    def _closure(self, version: str, index: _Index, name: str) -> dict[str, Any]:
        """The definition and only the definitions it reaches, as one schema."""
        defs: dict[str, Any] = {}
        todo = [name]
        while todo:
            current = todo.pop()
            if current in defs:
                continue
            cleaned = self._cleaned.get((version, current))
            if cleaned is None:
                refs: set[str] = set()
                # A definition the data names but lacks allows anything rather than failing.
                node = _QUANTITY_SCHEMA if current == QUANTITY else _clean(index.defs.get(current, {}), refs)
                cleaned = self._cleaned[version, current] = (node, frozenset(refs))
            defs[current] = cleaned[0]
            todo.extend(sorted(cleaned[1] - defs.keys()))
        return {"$ref": f"#/$defs/{name}", "$defs": defs}

    def check(self, kubernetes_version: str, body: Mapping[str, Any], crds: CrdSchemas,
              enabled: tuple[str, ...] = ()) -> list[Problem]:
        """Everything the schemas say about one object: [] when it is fine. `enabled`: the
        class's `apiVersions`, alpha and beta APIs its clusters serve beyond the defaults."""
        version = self.schema_version(kubernetes_version)
        api, kind = body.get("apiVersion"), body.get("kind")
        if not isinstance(api, str) or not api or not isinstance(kind, str) or not kind:
            return [Problem("schema", "an object needs apiVersion and kind, both non-empty strings", "")]
        group, _, api_version = api.rpartition("/")
        described = f"{api} {kind}"
        validator = self.validator(version, group, api_version, kind)
        index = self._index(version)
        if validator is not None:
            if not served.on_by_default(version, group, api_version, kind) and \
                    not served.enabled(enabled, group, api_version, kind):
                return [self._off_by_default(index, version, group, api_version, kind)]
            # No version in the message: the same typo on every class is one finding.
            return [Problem("schema", m, p) for p, m in validator.problems(body, described)]
        others = index.versions.get((group, kind))
        if others:
            on = [v for v in others if served.on_by_default(version, group, v, kind)] or list(others)
            return [Problem("api-not-served", f"{described} is not served by Kubernetes {version}; "
                                              f"use {group}/{on[0]}", "")]
        if (group, kind) in crds.kinds():
            return self._custom(body, group, api_version, kind, crds)
        if group in index.groups or "." not in group:  # CRD groups need a dot: this one is built in
            moved = sorted(f"{g}/{v[0]}" if g else v[0] for (g, k), v in index.versions.items() if k == kind)
            fix = (f"use {' or '.join(moved)}" if moved else
                   "replace it (the Kubernetes deprecated API migration guide names the successor)")
            return [Problem("api-not-served", f"{described} is not served by Kubernetes {version}, which "
                                              f"has no {kind} in the {group or 'core'} API group; {fix}", "")]
        return [Problem("unknown-kind", f"no schema for {described}: no CRD for it is rendered in this "
                                        f"cluster and it is not built into Kubernetes {version}", "")]

    @staticmethod
    def _off_by_default(index: _Index, version: str, group: str, api_version: str,
                        kind: str) -> Problem:
        api = f"{group}/{api_version}" if group else api_version
        on = [v for v in index.versions.get((group, kind), ())
              if served.on_by_default(version, group, v, kind)]
        fix = f"use {group}/{on[0]}, or, where" if on else f"no version of {kind} is on by default; where"
        return Problem("api-not-served", f"{api} {kind} is {served.stage(api_version)}: Kubernetes {version} "
                                         f"serves it only if its API server enables it; {fix} the clusters "
                                         f"enable it (kube-apiserver --runtime-config), list {api} in the "
                                         "class's (or the cluster's) apiVersions", "")

    @staticmethod
    def _custom(body: Mapping[str, Any], group: str, api_version: str, kind: str,
                crds: CrdSchemas) -> list[Problem]:
        served = crds.served(group, kind)
        if api_version not in served:
            name = crds.name(group, kind)
            fix = f"use {group}/{served[0]}" if served else "the CRD serves no version"
            listed = ", ".join(served) or "none"
            return [Problem("api-not-served", f"{group}/{api_version} {kind} is not served by CRD {name} "
                                              f"(served: {listed}); {fix}", "")]
        found = crds.validate(group, api_version, kind, body)
        return [Problem("schema", m, p) for p, m in found or ()]
