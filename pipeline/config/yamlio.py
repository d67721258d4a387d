"""YAML the way Kubernetes reads it, on the libyaml fast path.

Kubernetes parses manifests with a YAML 1.1 parser (go-yaml via sigs.k8s.io/yaml), and
Helm reads values files with the same one: `on`, `y`, `no` are booleans, `0755` and
`0o755` are octal, `1e3` a float, `<<` merges a mapping, and a bare date stays a string.
`Loader` gives the same types. `Dumper` quotes every string any of YAML 1.1, go-yaml or
YAML 1.2 could take for something else, so a dumped manifest reads back with the same
types everywhere, and writes keys sorted, as `kustomize build` does.

`load_strict` is for the files people write for hydrate (not for tool output, which is
the hot path): it refuses duplicate keys and alias bombs and, on request, plain scalars
that YAML readers disagree on or that lose their text (`0042`, `NO`, `1.10`, `1:30`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import yaml

_BOOL_VALUES = {
    "y": True, "yes": True, "true": True, "on": True,
    "n": False, "no": False, "false": False, "off": False,
}
_BOOL = re.compile(
    r"""^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE
        |on|On|ON|off|Off|OFF)$""",
    re.X,
)
_INT = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
        |[-+]?0[0-7_]+
        |[-+]?0o[0-7_]+
        |[-+]?(?:0|[1-9][0-9_]*)
        |[-+]?0x[0-9a-fA-F_]+)$""",
    re.X,
)
# go-yaml's float syntax (accepts `1e3`, which PyYAML's YAML 1.1 resolver does not).
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
# Only for quoting: what other YAML readers take for non-strings.
_QUOTE_ALSO = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?  # YAML 1.1 sexagesimal
        |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*                   # dates and timestamps
        |=)$""",
    re.X,
)

_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_STR = "tag:yaml.org,2002:str"
_TAG_MERGE = "tag:yaml.org,2002:merge"


def _resolvers(extra: bool) -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    table: list[tuple[str, re.Pattern[str], str]] = [
        (_TAG_BOOL, _BOOL, "yYnNtTfFoO"),
        (_TAG_INT, _INT, "-+0123456789"),
        (_TAG_FLOAT, _FLOAT, "-+0123456789."),
        (_TAG_NULL, _NULL, "~nN"),
        (_TAG_MERGE, re.compile(r"^<<$"), "<"),  # `<<: *base` merges, as in go-yaml
    ]
    if extra:
        table.append(("tag:hydrate.dev,2026:quote", _QUOTE_ALSO, "-+0123456789=<"))
    resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {"": [(_TAG_NULL, _NULL)]}
    for tag, pattern, first in table:
        for ch in first:
            resolvers.setdefault(ch, []).append((tag, pattern))
    return resolvers


def _construct_bool(loader: yaml.CSafeLoader, node: yaml.Node) -> bool:
    return _BOOL_VALUES[str(loader.construct_scalar(node)).lower()]  # type: ignore[arg-type]


def _construct_float(loader: yaml.CSafeLoader, node: yaml.Node) -> float:
    return _float(str(loader.construct_scalar(node)))  # type: ignore[arg-type]


def _float(text: str) -> float:
    text = text.replace("_", "")
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text)


class Loader(yaml.CSafeLoader):
    """libyaml loader with Kubernetes' scalar types (dates stay strings)."""

    yaml_implicit_resolvers = _resolvers(extra=False)


Loader.add_constructor(_TAG_BOOL, _construct_bool)
Loader.add_constructor(_TAG_FLOAT, _construct_float)


def _represent_str(dumper: yaml.representer.SafeRepresenter, value: str) -> yaml.Node:
    style = None
    if "\n" in value:
        style = "|"
    elif dumper.resolve(yaml.ScalarNode, value, (True, False)) != _TAG_STR:  # type: ignore[attr-defined]
        style = '"'  # quoted like kustomize quotes it
    return dumper.represent_scalar(_TAG_STR, value, style=style)


class Dumper(yaml.CSafeDumper):
    """libyaml dumper whose plain scalars read back as strings in every YAML reader."""

    yaml_implicit_resolvers = _resolvers(extra=True)


Dumper.add_representer(str, _represent_str)


def load(text: str | bytes) -> Any:
    """Parse one YAML document with Kubernetes' types."""
    return yaml.load(text, Loader=Loader)


def load_all(text: str | bytes) -> Iterator[Any]:
    """Parse a multi-document stream with Kubernetes' types."""
    return yaml.load_all(text, Loader=Loader)


def dump(data: Any) -> str:
    """One document, keys sorted, block style, never wrapped."""
    return yaml.dump(
        data, Dumper=Dumper, sort_keys=True, default_flow_style=False,
        allow_unicode=True, width=1 << 30,
    )


def dump_all(documents: list[Any]) -> str:
    """A multi-document stream in the style of `dump`."""
    return yaml.dump_all(
        documents, Dumper=Dumper, sort_keys=True, default_flow_style=False,
        allow_unicode=True, width=1 << 30,
    )


def spaced_tabs(text: str) -> str:
    """`text` with each tab that is not part of a value (spacing between tokens, before
    or inside a comment) made a space: the same document, now also for ruamel.yaml, which
    refuses a tab before a comment that libyaml (and Kubernetes, Helm) accept. The text
    must be valid YAML (read with `load_strict` first); lines keep their count."""
    if "\t" not in text:
        return text
    chars = list(text)
    keep = bytearray(len(chars))  # 1: inside a scalar, as written
    for token in yaml.scan(text, Loader=Loader):
        if isinstance(token, yaml.ScalarToken):
            keep[token.start_mark.index:token.end_mark.index] = b"\1" * (
                token.end_mark.index - token.start_mark.index)
    for i, ch in enumerate(chars):
        if ch == "\t" and not keep[i]:
            chars[i] = " "
    return "".join(chars)


# --- Strict reading of the files people write for hydrate ---------------------------

# A document may expand to this many values through its aliases: far more than any
# configuration file holds, and far less than an alias bomb (the billion laughs expand
# to 10**9) needs to exhaust memory once the values are merged or written out.
MAX_VALUES = 1_000_000
MAX_DEPTH = 100  # nesting levels; configuration needs a dozen

Key = tuple[str | int, ...]  # where a node sits: mapping keys and list indexes

_PLAIN_INT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_OCTAL_LIKE = re.compile(r"^[-+]?0[0-9_]+$")
_SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_BOOL_WORDS = frozenset({"true", "false", "True", "False", "TRUE", "FALSE"})


class StrictError(yaml.MarkedYAMLError):
    """Valid YAML that hydrate refuses: the node at `key` (see `problem_mark`), and why."""

    def __init__(self, key: Key, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)
        self.key = key


def load_strict(text: str | bytes, *, scalars: bool = False) -> Any:
    """One document with Kubernetes' types; StrictError for a duplicate key or an alias
    bomb and, with `scalars`, for a plain scalar that is ambiguous (see `ambiguity`)."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_document(loader, node, scalars)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_all_strict(text: str | bytes) -> list[Any]:
    """Every document of a stream, each checked as by `load_strict` (without `scalars`)."""
    loader = Loader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            assert node is not None  # check_node() said there is one
            _check_document(loader, node, False)
            documents.append(loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


def _check_document(loader: Loader, node: yaml.Node, scalars: bool) -> None:
    sizes: dict[int, int] = {}  # expanded size of each node already checked, by id
    _walk(loader, node, (), scalars, sizes, set())


def _walk(loader: Loader, node: yaml.Node, key: Key, scalars: bool, sizes: dict[int, int],
          open_nodes: set[int]) -> int:
    """Check `node` (once, however many aliases point at it); its expanded size."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if len(key) > MAX_DEPTH:
        raise StrictError(key[:1], f"nested more than {MAX_DEPTH} levels deep",
                          node.start_mark)
    if id(node) in open_nodes:
        raise StrictError(key, "an alias points into its own anchor (a recursive structure)",
                          node.start_mark)
    open_nodes.add(id(node))
    size = 1
    if isinstance(node, yaml.ScalarNode):
        if scalars:
            _check_scalar(node, key)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            size += _walk(loader, item, (*key, index), scalars, sizes, open_nodes)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            here = (*key, name)
            if isinstance(key_node, yaml.ScalarNode):
                if scalars:
                    _check_key(key_node, here)
                _check_duplicate(loader, key_node, here, seen)
            size += _walk(loader, key_node, here, scalars, sizes, open_nodes)
            size += _walk(loader, value_node, here, scalars, sizes, open_nodes)
    if size > MAX_VALUES:
        raise StrictError(key, f"expands to more than {MAX_VALUES:,} values through aliases "
                          "(an alias bomb?); write the values out instead", node.start_mark)
    open_nodes.discard(id(node))
    sizes[id(node)] = size
    return size


def _check_duplicate(loader: Loader, key_node: yaml.ScalarNode, key: Key,
                     seen: dict[Any, yaml.Node]) -> None:
    # Compare the values keys are read as: `1` and `01`, or `yes` and `true`, are one key.
    value = _TAG_MERGE if key_node.tag == _TAG_MERGE else loader.construct_object(key_node)
    first = seen.get(value)
    if first is not None:
        raise StrictError(key, f"duplicate key (first at line {first.start_mark.line + 1}); "
                          "remove one (YAML readers keep only one, and not all the same one)",
                          key_node.start_mark)
    seen[value] = key_node


def _check_key(node: yaml.ScalarNode, key: Key) -> None:
    """A key must be read as text: `vars.on` and `vars.1` could not be looked up."""
    if node.tag == _TAG_MERGE:
        return
    if node.tag == _TAG_STR:
        _check_scalar(node, key)
        return
    what = {_TAG_BOOL: "a boolean", _TAG_NULL: "null"}.get(node.tag, "a number")
    problem = ambiguity(node.value, node.tag) or (
        f"{node.value} is read as {what}, not as text; write {_quoted(node.value)} (quoted)")
    raise StrictError(key, f"key {problem}", node.start_mark)


def _check_scalar(node: yaml.ScalarNode, key: Key) -> None:
    if node.style:  # quoted or a block scalar: a string, as written
        return
    problem = ambiguity(node.value, node.tag)
    if problem is not None:
        raise StrictError(key, problem, node.start_mark)


def ambiguity(text: str, tag: str) -> str | None:
    """Why the plain scalar `text`, resolved to `tag`, would be misread, and what to
    write instead; None if every YAML reader reads it as written."""
    alternative = ""
    if tag == _TAG_STR:
        if not _SEXAGESIMAL.match(text):
            return None
        reading = (f"the number {_sexagesimal(text)} (base 60) by YAML 1.1 readers but as "
                   f"the text {_quoted(text)} by Kubernetes and YAML 1.2")
    elif tag == _TAG_BOOL:
        if text in _BOOL_WORDS:
            return None
        value = str(_BOOL_VALUES[text.lower()]).lower()
        reading = (f"the boolean {value} by YAML 1.1 (Kubernetes, Helm) but as the text "
                   f"{_quoted(text)} by YAML 1.2")
        alternative = f", or {value} for the boolean"
    elif tag == _TAG_INT:
        if _PLAIN_INT.match(text):
            return None
        number = int(text.replace("_", ""), 8 if _OCTAL_LIKE.match(text) else 0)
        if _OCTAL_LIKE.match(text):
            decimal = int(text.replace("_", ""), 10)
            reading = (f"the octal number {number} by YAML 1.1 (Kubernetes, Helm) but as "
                       f"{decimal} by YAML 1.2")
        else:
            reading = f"the number {number}"
            alternative = f", or {number} for the number"
    elif tag == _TAG_FLOAT:
        number_text = float_text(_float(text))
        if number_text == text:
            return None
        reading = f"the number {number_text}"
        if number_text not in ("NaN", "+Inf", "-Inf"):
            alternative = f", or {number_text} for the number"
    else:
        return None
    return (f"{text} is read as {reading}; write {_quoted(text)} (quoted) for the text"
            f"{alternative}")


def _sexagesimal(text: str) -> str:
    sign = -1 if text.startswith("-") else 1
    total = 0.0
    for part in text.lstrip("+-").replace("_", "").split(":"):
        total = total * 60 + float(part)
    return float_text(sign * total)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def float_text(value: float) -> str:
    """`value` as Go writes a float64 in JSON (Helm's toJson, kubectl -o json): `86`,
    `1.5`, `0.00001`, `1e-7`, `1e+21`; `NaN`, `+Inf`, `-Inf` for the rest."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if 1e-6 <= abs(value) < 1e-4:  # Python switches to an exponent sooner than Go
        return format(Decimal(text), "f")
    mantissa, e, exponent = text.partition("e")
    if e and exponent.startswith("-0"):
        text = f"{mantissa}e-{exponent[2:]}"
    return text
