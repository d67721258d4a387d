"""YAML the way Kubernetes reads it, on the libyaml fast path.

Kubernetes parses manifests with a YAML 1.1 parser (go-yaml via sigs.k8s.io/yaml):
`on`, `y`, `no` are booleans, `0755` is octal, `1e3` a float, and a bare date stays a
string. `Loader` gives the same types. `Dumper` quotes every string any of YAML 1.1,
go-yaml or YAML 1.2 could take for something else, so a dumped manifest reads back
with the same types everywhere, and writes keys sorted, as `kustomize build` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
        |0o[0-7]+                                           # YAML 1.2 octal
        |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*                   # dates and timestamps
        |=|<<)$""",
    re.X,
)

_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_STR = "tag:yaml.org,2002:str"


def _resolvers(extra: bool) -> dict[str | None, list[tuple[str, re.Pattern[str]]]]:
    table: list[tuple[str, re.Pattern[str], str]] = [
        (_TAG_BOOL, _BOOL, "yYnNtTfFoO"),
        (_TAG_INT, _INT, "-+0123456789"),
        (_TAG_FLOAT, _FLOAT, "-+0123456789."),
        (_TAG_NULL, _NULL, "~nN"),
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
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
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
