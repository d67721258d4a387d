"""`hydrate cache info|prune`: what the render cache holds, and bounding it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.commands.context import Context
from pipeline.render import cache as cache_mod

parse_size = cache_mod.parse_size  # '500M', '2G' → bytes (ValueError on anything else)


@dataclass(frozen=True)
class CacheInfo:
    root: Path
    entries: int
    bytes: int


@dataclass(frozen=True)
class PruneOptions:
    max_bytes: int
    older_than: float | None = None  # days unused after which an entry goes anyway


@dataclass(frozen=True)
class Pruned:
    root: Path
    removed: int
    freed: int  # bytes
    kept: int  # bytes


def info(ctx: Context) -> CacheInfo:
    """Where the cache is, how many entries and bytes it holds."""
    root = ctx.cache_root()
    found = cache_mod.entries(root)
    return CacheInfo(root, len(found), sum(size for _, size, _ in found))


def prune(ctx: Context, opts: PruneOptions) -> Pruned:
    """Evict the least recently used entries until the cache fits in `opts.max_bytes`."""
    root = ctx.cache_root()
    older = opts.older_than * 86400 if opts.older_than is not None else None
    removed, freed, kept = cache_mod.prune(root, opts.max_bytes, time.time(), older)
    return Pruned(root, removed, freed, kept)
