"""Custom resources against the `openAPIV3Schema` of the CRDs rendered for a cluster, and
the JSON Schema engine `kube` shares: compile once, report every error at its field path
in a sentence a person reads.

A CRD version's structural schema becomes JSON Schema (2020-12) the way the API server
reads it: `nullable` admits null, `x-kubernetes-int-or-string` integers and strings, and
an object with `properties` gets `additionalProperties: false` unless it preserves
unknown fields, because the server would silently prune such a field. `metadata` is
never checked deeply. Not checked: `x-kubernetes-validations` (CEL), `format`, list and
map uniqueness, defaults, and the fields of objects declared without `properties` (the
server prunes them all; we let them through).
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from pipeline.config import quantity


def _engine() -> ModuleType | None:
    try:
        return importlib.import_module("jsonschema_rs")
    except ImportError:  # pragma: no cover - the fallback is tested by asking for it
        return None


_RS = _engine()
CONVERSION = "1"  # bump when `convert` changes what a CRD schema means
_CARRIED = ("type", "enum", "pattern", "minimum", "maximum", "minLength", "maxLength", "minItems",
            "maxItems", "uniqueItems", "multipleOf", "minProperties", "maxProperties", "required")
_META = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def convert(node: Mapping[str, Any], *, prune: bool = True, root: bool = False) -> dict[str, Any]:
    """A structural schema as JSON Schema; `prune`: unknown fields are errors."""
    out: dict[str, Any] = {k: node[k] for k in _CARRIED if k in node}
    for bound, flag in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if node.get(flag) is True and bound in out:  # OpenAPI 3.0 spells them as flags
            out[flag] = out.pop(bound)
    if node.get("x-kubernetes-int-or-string") is True:
        out["type"] = ["integer", "string"]
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [*(out["type"] if isinstance(out["type"], list) else [out["type"]]), "null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    props = node.get("properties")
    if isinstance(props, Mapping):
        out["properties"] = {k: convert(v, prune=prune) for k, v in props.items() if isinstance(v, Mapping)}
    if root or node.get("x-kubernetes-embedded-resource") is True:
        out["properties"] = {**out.get("properties", {}), **_META}
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        out["additionalProperties"] = convert(extra, prune=prune)
    elif isinstance(extra, bool):
        out["additionalProperties"] = extra
    elif prune and "properties" in out and node.get("x-kubernetes-preserve-unknown-fields") is not True:
        out["additionalProperties"] = False
    if isinstance(node.get("items"), Mapping):
        out["items"] = convert(node["items"], prune=prune)
    # Value validations only: they never prune, so they forbid no field.
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            out[key] = [convert(b, prune=False) for b in node[key] if isinstance(b, Mapping)]
    if isinstance(node.get("not"), Mapping):
        out["not"] = convert(node["not"], prune=False)
    return out


# --- the engine: compile a schema, turn its errors into (path, sentence) ----------------

def dotted(path: Sequence[str | int]) -> str:
    """["spec", "containers", 0, "image"] → "spec.containers[0].image"."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _show(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (Mapping, list)):
        return "an object" if isinstance(value, Mapping) else "an array"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:56]}...'"


def _types(types: Iterable[str]) -> str:
    return " or ".join(f"'{t}'" for t in sorted({t for t in types if t != "null"}))  # engines differ in order


@dataclass(frozen=True)
class _Fault:
    """One error, the same from either engine."""

    path: tuple[str | int, ...]
    keyword: str
    instance: Any
    detail: Any  # the keyword's data: unexpected names, types, options, branches
    schema: Mapping[str, Any]  # the subschema that holds the keyword
    text: str  # the engine's message, for the keywords not reworded


class Compiled:
    """A JSON Schema compiled once (jsonschema_rs, else jsonschema) and reused."""

    def __init__(self, schema: dict[str, Any], *, engine: str | None = None) -> None:
        self.schema = schema
        self._rs: Any = None
        self._py: Any = None
        if (engine or ("rs" if _RS is not None else "py")) == "rs":
            assert _RS is not None
            self._rs = _RS.Draft202012Validator(schema, validate_formats=False, offline=True)
        else:
            import jsonschema

            self._py = jsonschema.Draft202012Validator(schema)

    def problems(self, body: Any, where: str) -> list[tuple[str, str]]:
        """(field path, sentence) of every error, sorted, without repeats; `where` names
        the schema for unknown fields ("apps/v1 Deployment of Kubernetes 1.30")."""
        try:
            faults = ([self._rs_fault(e) for e in self._rs.iter_errors(body)] if self._rs is not None
                      else [self._py_fault(e) for e in self._py.iter_errors(body)])
        except ValueError as e:  # a value JSON has no type for
            return [("", f"the object cannot be checked as JSON: {e}")]
        return sorted({(dotted(p), f"{dotted(p)}: {m}" if p else m)
                       for f in faults for p, m in _explain(f, where)})

    def _rs_fault(self, e: Any) -> _Fault:
        kind = e.kind
        detail: Any = None
        if kind.name in ("additionalProperties", "type", "enum"):
            detail = kind.as_dict().popitem()[1]  # unexpected / types / options
        elif kind.name == "required":
            detail = [kind.property]
        elif kind.name in ("anyOf", "oneOf") and any(kind.context):  # else: oneOf, several matched
            detail = [[self._rs_fault(s) for s in branch] for branch in kind.context]
        node: Any = self.schema
        for step in e.schema_path[:-1]:
            node = node[step] if isinstance(node, (Mapping, list)) else {}
        return _Fault(tuple(e.instance_path), kind.name, e.instance, detail,
                      node if isinstance(node, Mapping) else {}, e.message)

    def _py_fault(self, e: Any) -> _Fault:
        detail: Any = e.validator_value
        if e.validator == "additionalProperties":
            detail = [k for k in e.instance if k not in e.schema.get("properties", {})]
        elif e.validator == "type":
            detail = detail if isinstance(detail, list) else [detail]
        elif e.validator == "required":
            detail = [k for k in detail if k not in e.instance]
        elif e.validator in ("anyOf", "oneOf"):
            branches: list[list[_Fault]] = [[] for _ in detail]
            for sub in e.context:
                branches[sub.relative_schema_path[0]].append(self._py_fault(sub))
            detail = branches if e.context else None  # oneOf with no context: several matched
        return _Fault(tuple(e.absolute_path), e.validator, e.instance, detail, e.schema, e.message)


Compile = Callable[[dict[str, Any]], Compiled]


def compile_schema(schema: dict[str, Any]) -> Compiled:
    """The default compiler; tests wrap it to count compilations."""
    return Compiled(schema)


def _explain(f: _Fault, where: str) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, sentence) of a fault; unknown and missing fields point at the field itself."""
    if f.keyword == "additionalProperties":
        known = list(f.schema.get("properties", {}))
        out = []
        for name in f.detail:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append(((*f.path, name), f"unknown field (not in {where}{hint})"))
        return out
    if f.keyword == "required":
        return [((*f.path, name), "required field is missing") for name in f.detail]
    return [(f.path, _sentence(f))]


def _sentence(f: _Fault) -> str:
    if f.keyword == "type":
        return f"{_show(f.instance)} is not of type {_types(f.detail)}"
    if f.keyword == "enum":
        options = ", ".join(_show(o) for o in f.detail[:10]) + (", ..." if len(f.detail) > 10 else "")
        return f"{_show(f.instance)} is not one of {options}"
    if f.keyword == "pattern" and f.schema.get("pattern") == quantity.OBJECT_PATTERN:
        return f"{_show(f.instance)} is not a quantity ({quantity.EXAMPLES})"
    if f.keyword == "pattern":
        return f"{_show(f.instance)} does not match the pattern {f.schema.get('pattern')!r}"
    if f.keyword in ("anyOf", "oneOf") and f.detail is not None:
        if all(len(b) == 1 and b[0].keyword == "type" and b[0].path == f.path for b in f.detail):
            return f"{_show(f.instance)} is not of type {_types(t for b in f.detail for t in b[0].detail)}"
        forms = []
        for branch in f.detail:  # what each alternative wanted first, relative to this value
            for path, said in _explain(branch[0], "its schema")[:1] if branch else ():
                forms.append(f"{dotted(path[len(f.path):])}: {said}" if path != f.path else said)
        return f"{_show(f.instance)} matches none of the allowed forms ({'; or '.join(forms)})"
    if f.keyword == "oneOf":
        return f"{_show(f.instance)} matches more than one of the allowed forms (oneOf)"
    return f.text


# --- the CRDs of one cluster ---------------------------------------------------------

@dataclass(frozen=True)
class CrdVersion:
    served: bool
    schema: Mapping[str, Any] | None  # openAPIV3Schema as the CRD spells it
    prune: bool  # false: spec.preserveUnknownFields (v1beta1), no unknown-field checks
    digest: str  # of (schema, prune): the key its compiled form is shared under


@dataclass(frozen=True)
class _Crd:
    name: str
    versions: Mapping[str, CrdVersion]


class CrdCompiler:
    """Compiled CRD schemas by the digest of a version's schema.

    One is shared by all the clusters of a run, so a CRD that many clusters render is
    compiled once. A class, not a bare dict: it holds the compile seam with the memo, so
    a caller cannot store a validator under the wrong key or compile another way."""

    def __init__(self, compile: Compile = compile_schema) -> None:
        self._compile = compile
        self._done: dict[str, Compiled] = {}

    def get(self, version: CrdVersion) -> Compiled:
        found = self._done.get(version.digest)
        if found is None:
            assert version.schema is not None
            schema = convert(version.schema, prune=version.prune, root=True)
            found = self._done[version.digest] = self._compile(schema)
        return found


class CrdSchemas:
    """The custom resource schemas of one cluster: built from the CRD objects rendered for it."""

    def __init__(self, crds: Mapping[tuple[str, str], _Crd], compiler: CrdCompiler | None = None) -> None:
        self._crds = dict(crds)
        self._kinds = frozenset(crds)
        self._compiler = compiler if compiler is not None else CrdCompiler()
        held = sorted([g, k, c.name, sorted((n, v.served, v.digest) for n, v in c.versions.items())]
                      for (g, k), c in crds.items())
        self._digest = hashlib.sha256(json.dumps([CONVERSION, held]).encode()).hexdigest()

    @classmethod
    def from_objects(cls, crds: Iterable[Mapping[str, Any]],
                     compiler: CrdCompiler | None = None) -> CrdSchemas:
        """From CustomResourceDefinition bodies (v1, or v1beta1 with one schema); one that
        lacks a group or kind is left out (the built-in schema reports it)."""
        found: dict[tuple[str, str], _Crd] = {}
        for body in crds:
            crd = _crd(body)
            if crd is not None:
                found.setdefault(*crd)  # the first definition wins, in render order
        return cls(found, compiler)

    @property
    def digest(self) -> str:
        """A stable hash of what it holds, to key cached findings."""
        return self._digest

    def kinds(self) -> frozenset[tuple[str, str]]:
        """The (group, kind) pairs defined."""
        return self._kinds

    def name(self, group: str, kind: str) -> str:
        """The name of the CRD that defines a kind, for messages."""
        return self._crds[group, kind].name

    def served(self, group: str, kind: str) -> tuple[str, ...]:
        """The versions served, in the CRD's order."""
        crd = self._crds.get((group, kind))
        return tuple(n for n, v in crd.versions.items() if v.served) if crd else ()

    def validate(self, group: str, version: str, kind: str,
                 body: Mapping[str, Any]) -> list[tuple[str, str]] | None:
        """(path, sentence) problems; None if this CRD version has no schema."""
        crd = self._crds.get((group, kind))
        found = crd.versions.get(version) if crd else None
        if crd is None or found is None or found.schema is None:
            return None
        where = f"{group}/{version} {kind} of CRD {crd.name}: the API server would drop it"
        return self._compiler.get(found).problems(body, where)


def _crd(body: Mapping[str, Any]) -> tuple[tuple[str, str], _Crd] | None:
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return None
    group, names = spec.get("group"), spec.get("names")
    kind = names.get("kind") if isinstance(names, Mapping) else None
    if not isinstance(group, str) or not isinstance(kind, str):
        return None
    prune = spec.get("preserveUnknownFields") is not True
    listed = spec.get("versions")
    if not isinstance(listed, list):  # v1beta1 with a single `version`
        listed = [{"name": spec.get("version"), "served": True}]
    versions: dict[str, CrdVersion] = {}
    for item in listed:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        holder = item.get("schema") if isinstance(item.get("schema"), Mapping) else spec.get("validation")
        schema = holder.get("openAPIV3Schema") if isinstance(holder, Mapping) else None
        schema = schema if isinstance(schema, Mapping) else None
        digest = hashlib.sha256(json.dumps([CONVERSION, prune, schema], sort_keys=True,
                                           default=str).encode()).hexdigest()
        versions[item["name"]] = CrdVersion(item.get("served") is not False, schema, prune, digest)
    meta = body.get("metadata")
    name = meta.get("name") if isinstance(meta, Mapping) else None
    return (group, kind), _Crd(str(name or f"{group}/{kind}"), versions)
