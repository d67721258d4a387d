"""Helm values layering.

`merge` is Helm's own rule for successive `-f` files (maps merge recursively; anything
else, lists and `null` included, replaces). A `null` survives the merge, so that Helm
then deletes the chart default it names. Passing `merge(a, b, c)` as one values file
gives exactly the output of `-f a -f b -f c`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        out = _merge_two(out, layer)
    return out


def _merge_two(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            out[key] = _merge_two(current, value)
        else:
            out[key] = value
    return out


def canonical(values: Mapping[str, Any]) -> bytes:
    """The values as canonical JSON (sorted keys): Helm reads it as YAML, and equal
    values give equal bytes, hence equal render keys."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()
