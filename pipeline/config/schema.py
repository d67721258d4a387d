"""Validation of configuration files at the edge, with errors that name file, line and key.

The schemas are JSON Schema files in `pipeline/schemas/` (editors can use them too).
A file is parsed once with the fast loader; only when it is invalid is it composed
again to find the line of the offending key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from pipeline.config import yamlio
from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import jsonschema

NAME_HINT = "a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters"


class Memo(Protocol):
    """Where checked documents are kept between runs (the render cache)."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


KINDS = ("environments", "class", "cluster", "package", "policy")


class _Validators(Mapping[str, "jsonschema.protocols.Validator"]):
    """The schema of each file kind, compiled when first used: jsonschema is imported
    then, so a render whose files all come from the memo never loads it."""

    def __init__(self) -> None:
        self._compiled: dict[str, jsonschema.protocols.Validator] = {}

    def __getitem__(self, kind: str) -> jsonschema.protocols.Validator:
        found = self._compiled.get(kind)
        if found is None:
            if kind not in KINDS:
                raise KeyError(kind)
            import jsonschema

            text = resources.files("pipeline.config.schemas").joinpath(f"{kind}.json").read_text()
            schema = _inline(json.loads(text))
            found = self._compiled[kind] = jsonschema.validators.validator_for(schema)(schema)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(KINDS)

    def __len__(self) -> int:
        return len(KINDS)


@dataclass(frozen=True)
class Schemas:
    """Validators, one per file kind; build once per load with `Schemas.load()`.
    With a `memo`, a file whose exact bytes were parsed and checked before (by this
    version of hydrate: `salt`) is not parsed again: its data comes from the memo."""

    validators: Mapping[str, jsonschema.protocols.Validator]
    memo: Memo | None = None
    salt: str = ""

    @classmethod
    def load(cls, memo: Memo | None = None) -> Schemas:
        if memo is None:
            return cls(_Validators())
        from pipeline.version import engine_digest

        return cls(_Validators(), memo, engine_digest())

    def checked(self, kind: str, path: str, text: bytes) -> Any:
        """The document in `text`, parsed (strict scalars) and checked against the schema
        of `kind`; ConfigError naming file and line otherwise. None for an empty file."""
        if self.memo is not None:
            return self.checked_all(kind, [(path, text)])[0]
        data = parse(path, text, scalars=True)
        if data is not None:
            self.check(kind, path, text, data)
        return data

    def checked_all(self, kind: str, files: Sequence[tuple[str, bytes]]) -> list[Any]:
        """`checked` for many files (thousands of clusters). With a memo, one entry holds
        them all, keyed by every path and byte: a fleet read before comes back in one
        read instead of a parse and a schema check per file."""
        if self.memo is None:
            return [self.checked(kind, path, text) for path, text in files]
        plain = replace(self, memo=None)
        h = hashlib.sha256(b"checked v1\0" + self.salt.encode() + b"\0" + kind.encode())
        for path, text in files:
            h.update(b"\0%d:%s\0%d:" % (len(path), path.encode(), len(text)) + text)
        key = h.hexdigest()
        kept = self.memo.get(key)
        if kept is not None:
            with contextlib.suppress(ValueError):
                remembered = json.loads(kept)
                if isinstance(remembered, list) and len(remembered) == len(files):
                    return remembered
        found = [plain.checked(kind, path, text) for path, text in files]
        # Only data that JSON gives back exactly (no non-string keys, no dates).
        with contextlib.suppress(TypeError, ValueError):
            text = json.dumps(found, sort_keys=True).encode()
            if json.loads(text) == found:
                self.memo.put(key, text)
        return found

    def required(self, kind: str) -> list[str]:
        """The keys a file of this kind must have."""
        schema = self.validators[kind].schema
        return list(schema.get("required", [])) if isinstance(schema, Mapping) else []

    def check(self, kind: str, path: str, text: bytes, data: Any) -> None:
        """ConfigError for the first problem in `data` (parsed from `text` at `path`)."""
        errors = sorted(self.validators[kind].iter_errors(data), key=_order)
        if errors:
            raise ConfigError(describe(path, text, errors[0]))


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with its local `$ref`s replaced by their targets: validating thousands
    of cluster files is several times faster without reference resolution."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) <= 2:
                target = dict(walk(defs[ref.removeprefix("#/$defs/")]))
                target.update({k: walk(v) for k, v in node.items() if k != "$ref"})
                return target
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    inlined: dict[str, Any] = walk({k: v for k, v in schema.items() if k != "$defs"})
    return inlined


def _order(error: jsonschema.ValidationError) -> tuple[int, list[str]]:
    return (len(error.absolute_path), [str(p) for p in error.absolute_path])


def parse(path: str, text: bytes, *, scalars: bool = False) -> Any:
    """One YAML document from a file people write for hydrate. ConfigError, naming the
    file and line, for bad syntax, a duplicate key, an alias bomb and, with `scalars`
    (fleet/ and package.yaml), a plain scalar YAML readers disagree on."""
    try:
        return yamlio.load_strict(text, scalars=scalars)
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_error(path, text, e)) from None


def check_yaml(path: str, text: bytes) -> None:
    """ConfigError for a duplicate key or an alias bomb in a YAML file hydrate hands to
    kustomize (which takes the first or the last of two keys without a word). A file
    that is not YAML is left to kustomize, which reports it if it reads the file."""
    try:
        yamlio.load_all_strict(text)
    except yamlio.StrictError as e:
        raise ConfigError(_yaml_error(path, text, e)) from None
    except yaml.YAMLError:
        pass


def _yaml_error(path: str, text: bytes, error: yaml.YAMLError) -> str:
    """One line: `file:line: [key: ]problem`."""
    if isinstance(error, yamlio.StrictError):
        mark = error.problem_mark
        at = f"{path}:{mark.line + 1}" if mark is not None else path
        return f"{at}: {key_path(error.key)}: {error.problem}" if error.key else f"{at}: {error.problem}"
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count(b"\n", 0, error.position) + 1
        char: int | bytes = error.character
        code = char if isinstance(char, int) else ord(char[:1] or b"\0")
        if "UTF" in error.reason:
            return (f"{path}:{line}: not UTF-8 text (byte {code:#04x}: {error.reason}); "
                    "save the file as UTF-8")
        return (f"{path}:{line}: character {code:#06x} is not allowed in YAML ({error.reason}); "
                "write it as an escape in a double-quoted string")
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        at = f"{path}:{mark.line + 1}" if mark is not None else path
        return f"{at}: YAML syntax error: {_one_line(error.problem or error.context)}"
    return f"{path}: YAML error: {_one_line(str(error))}"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


@dataclass(frozen=True)
class Document:
    """A parsed configuration file, kept with its text so that errors can name lines."""

    path: str
    text: bytes
    data: Any

    def at(self, *key: str | int) -> str:
        """`file:line: key` of the node at `key`: the start of an error message."""
        line = line_of(self.text, key)
        where = f"{self.path}:{line}" if line is not None else self.path
        return f"{where}: {key_path(key)}" if key else where


def key_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(text: bytes, path: Sequence[str | int]) -> int | None:
    """1-based line of the node at `path` in the YAML `text`, or None."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == part]
            if not match:
                return line
            key, node = match[0]
            line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def describe(path: str, text: bytes, error: jsonschema.ValidationError) -> str:
    """`file:line: key: problem` for one schema violation."""
    where = list(error.absolute_path)
    problem = error.message
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    expected: Any = error.validator_value
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        where.append(unknown[0])
        problem = f"unknown key (allowed here: {', '.join(allowed)})"
    elif error.validator == "required":
        problem = f"missing required key: {error.message.split(' is a required')[0]}"
    elif error.validator == "type":
        problem = f"expected {_type_words(expected)}, got {_describe_value(error.instance)}"
    elif error.validator == "pattern" and "[-a-z0-9]" in str(expected):
        problem = f"{_short(error.instance)} is not a valid name ({NAME_HINT})"
    elif error.validator == "pattern" and "x-expected" in schema:
        # A pattern says little to a person; the schema's words say what is expected.
        problem = f"{_short(error.instance)} is not {schema['x-expected']}"
    elif error.validator == "pattern":
        problem = f"{_short(error.instance)} does not match {expected}"
    elif error.validator == "minItems" and expected == 1:
        problem = "the list is empty; it needs at least one item"
    elif error.validator == "enum":
        choices = ", ".join(str(c) for c in expected)
        problem = f"{_short(error.instance)} is not one of: {choices}"
    elif error.validator == "uniqueItems":
        problem = "lists the same item twice"
    line = line_of(text, where)
    at = f"{path}:{line}" if line is not None else path
    key = key_path(where)
    problem = _clip(_one_line(problem), 200)
    return f"{at}: {key}: {problem}" if key else f"{at}: {problem}"


def _short(value: Any) -> str:
    """The repr of `value`, short enough for a one-line message."""
    return _clip(repr(value), 80)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _type_words(value: Any) -> str:
    words = {"object": "a mapping", "array": "a list", "string": "a string",
             "integer": "an integer", "boolean": "true or false", "number": "a number"}
    if isinstance(value, list):
        return " or ".join(words.get(v, str(v)) for v in value)
    return words.get(value, str(value))


def _describe_value(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
