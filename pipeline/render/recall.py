"""Render keys remembered between runs: a warm render materialises only what changed.

Materialising an input (its templates rendered for the cluster, values parsed and merged,
files digested) is most of what a warm render of a large fleet does, and what the engine
needs of it when the outputs are cached is small: the run key, the digest of the
Components over a chart, and where the files are in the repository. All of that is a
function of what `Materialiser.identity` digests (the template context, the package's
settings, the blob ids of every file read), so it is kept per identity, in one cache entry
per hydrate and tool versions. Keyed by content, never by file times: an edit that keeps
a file's size and mtime still changes the identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.render.cache import Cache
from pipeline.render.materialise import Input
from pipeline.render.tools import Toolset

# Entries kept besides the current render's, so that renders of other selections or
# branches find theirs; a render always keeps all of its own.
KEEP_AT_LEAST = 20_000


@dataclass(frozen=True)
class Known:
    """What the engine needs of an input whose outputs are in the cache."""

    run: str  # the run key
    places: Mapping[str, str]  # workspace folder → repository folder
    overlay: str | None = None  # Overlay.digest, for a chart with Components
    overlay_places: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, inp: Input) -> Known:
        if inp.overlay is None:
            return cls(inp.run.key, inp.run.places)
        return cls(inp.run.key, inp.run.places, inp.overlay.digest, inp.overlay.places)


def _known(entry: Any) -> Known | None:
    """An entry read back, if it has the shape written (anything else is a miss)."""
    if not (isinstance(entry, list) and len(entry) == 4):
        return None
    run, places, overlay, overlay_places = entry
    if not (isinstance(run, str) and (overlay is None or isinstance(overlay, str))
            and _places(places) and _places(overlay_places)):
        return None
    return Known(run, places, overlay, overlay_places)


def _places(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str)
                                           for k, v in value.items())


class Recall:
    """The keys of inputs materialised by earlier renders, by identity."""

    def __init__(self, cache: Cache, tools: Toolset, engine: str) -> None:
        self._cache = cache
        self._key = hashlib.sha256(
            f"recall v1\0{engine}\0{tools.helm.id}\0{tools.kustomize.id}".encode()).hexdigest()
        self._old: dict[str, Any] = {}
        raw = cache.get(self._key)
        if raw is not None:
            with contextlib.suppress(ValueError):
                found = json.loads(raw)
                if isinstance(found, dict):
                    self._old = found
        self._now: dict[str, Known] = {}
        self._learnt = False

    def get(self, identity: str) -> Known | None:
        found = self._now.get(identity)
        if found is None:
            found = _known(self._old.get(identity))
            if found is not None:
                self._now[identity] = found
        return found

    def put(self, identity: str, known: Known) -> None:
        if self._now.get(identity) != known:
            self._now[identity] = known
            self._learnt = True

    def save(self) -> None:
        """Keep what this render learnt (nothing is written when it learnt nothing)."""
        if not self._learnt:
            return
        kept: dict[str, Any] = {i: [k.run, dict(k.places), k.overlay, dict(k.overlay_places)]
                                for i, k in self._now.items()}
        room = max(KEEP_AT_LEAST, 2 * len(kept)) - len(kept)
        for identity, entry in self._old.items():
            if room <= 0:
                break
            if identity not in kept:
                kept[identity] = entry
                room -= 1
        self._cache.put(self._key, json.dumps(kept, separators=(",", ":")).encode())
        self._learnt = False
