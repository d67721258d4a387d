"""Helm values layering: the one implementation that `render` and `explain` share.

Helm computes what templates see as `.Values` in two steps, and so does this module:

1. `merge`: the `-f` files in order (maps merge recursively; anything else, lists and
   `null` included, replaces). hydrate passes Helm `merge(...)` of its layers as one file,
   which gives exactly the output of `-f a -f b -f c`. A `null` survives this step.
2. `coalesce`: the merged values over the chart's defaults. A key the files do not name
   keeps its default; maps merge; a `null` deletes the default it names, and a `null`
   with no default under it stays (as a key whose value is null).

Subcharts' own defaults (coalesced by Helm under the subchart's name, with `global`) are
not modelled: under such a key, the values are what the chart and the files set.

`computed` is both steps. With a `Trace`, each step also records which layer wrote every
key (for `hydrate explain`); without one it is the render's hot path, unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Key = tuple[Any, ...]


@dataclass
class Trace:
    """Who wrote what (filled in by `merge`/`computed`): for every key of the result, the
    index of the layer that set it; for every key a `null` deleted, the null's layer.
    Index 0 is the chart's defaults in `computed`, the first layer in `merge`."""

    set_by: dict[Key, int] = field(default_factory=dict)
    deleted: dict[Key, int] = field(default_factory=dict)

    def _write(self, key: Key, value: Any, index: int) -> None:
        """`value` now sits at `key`, all of it from layer `index`."""
        for old in [k for k in self.set_by if k[:len(key)] == key]:
            del self.set_by[old]
        self._mark(key, value, index)

    def _mark(self, key: Key, value: Any, index: int) -> None:
        self.set_by[key] = index
        if isinstance(value, Mapping):
            for k, v in value.items():
                self._mark((*key, k), v, index)


def merge(*layers: Mapping[str, Any], trace: Trace | None = None, first: int = 0) -> dict[str, Any]:
    """Helm's rule for successive `-f` files. `first`: the trace index of `layers[0]`."""
    out: dict[str, Any] = {}
    for index, layer in enumerate(layers, start=first):
        out = _merge_two(out, layer, trace, index, ())
    return out


def _merge_two(base: Mapping[str, Any], over: Mapping[str, Any], trace: Trace | None,
               index: int, prefix: Key) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            if trace is not None:
                trace.set_by[(*prefix, key)] = index
            out[key] = _merge_two(current, value, trace, index, (*prefix, key))
        else:
            if trace is not None:
                trace._write((*prefix, key), value, index)
            out[key] = value
    return out


def coalesce(defaults: Mapping[str, Any], user: Mapping[str, Any], trace: Trace | None = None,
             prefix: Key = ()) -> dict[str, Any]:
    """`user` (merged values files) over the chart's `defaults`, as Helm 4 coalesces them
    (pkg/chart/common/util/coalesce.go); with a trace, the defaults are layer 0. A `null`
    deletes the key when a default sits under it (at the top level: any default, even a
    null one); a default nobody sets is copied, nulls included."""
    out = dict(user)
    for key, default in defaults.items():
        here = (*prefix, key)
        if key not in user:
            out[key] = default
            if trace is not None:
                trace._mark(here, default, 0)
        elif user[key] is None:
            if not prefix or default is not None:
                del out[key]
                if trace is not None:
                    trace.deleted[here] = trace.set_by.pop(here, 0)
        elif isinstance(user[key], Mapping) and isinstance(default, Mapping):
            out[key] = coalesce(default, user[key], trace, here)
    return out


def computed(defaults: Mapping[str, Any], layers: Sequence[Mapping[str, Any]],
             trace: Trace | None = None) -> dict[str, Any]:
    """What the chart's templates see as `.Values` (the chart's own values; subcharts
    coalesce theirs under their name): `layers` merged, over `defaults`. In the trace,
    layer i is index i + 1."""
    return coalesce(defaults, merge(*layers, trace=trace, first=1), trace)


def canonical(values: Mapping[str, Any]) -> bytes:
    """The values as canonical JSON (sorted keys): Helm reads it as YAML, and equal
    values give equal bytes, hence equal render keys."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()
