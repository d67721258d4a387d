"""`hydrate access`: render the selected clusters of the working tree and say who can do
what, where (or, with `--can`, whether a subject may do one thing on each cluster)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from pipeline.access import fleet
from pipeline.commands.context import Context
from pipeline.commands.render import render_fleet
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Inventory
from pipeline.config.source import Tree
from pipeline.errors import ConfigError, PipelineError


@dataclass(frozen=True)
class AccessOptions:
    envs: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    classes: tuple[str, ...] = ()
    query: fleet.Query = field(default_factory=fleet.Query)
    jobs: int = os.cpu_count() or 1


def locator(tree: Tree) -> fleet.Locate:
    """The repository file and line that define a rendered object (as findings name them)."""
    from pipeline.validate.sources import Lines

    def read(path: str) -> bytes | None:
        try:
            return tree.read(path) if tree.is_file(path) else None
        except PipelineError as e:
            raise ValueError(str(e)) from None

    lines = Lines(read)

    def locate(origin: str | None, kind: str, name: str, field: str,
               namespace: str) -> tuple[str, int] | None:
        found = lines.find(origin, kind, name, field, namespace)
        return (found.path, found.line) if found is not None else None

    return locate


def _select(inv: Inventory, opts: AccessOptions) -> tuple[str, ...]:
    for name in opts.classes:
        if name not in inv.classes:
            raise ConfigError(f"--class {name}: no such class (fleet/classes/ has "
                              f"{', '.join(sorted(inv.classes))})")
    chosen = inv.select(opts.envs, opts.clusters)
    return tuple(c.name for c in chosen if not opts.classes or c.class_name in opts.classes)


def run(ctx: Context, opts: AccessOptions) -> tuple[fleet.AccessReport, Inventory]:
    """The access report of the selected clusters (rendered as `hydrate render` would,
    validation aside: access is about what the manifests grant, valid or not)."""
    tree = ctx.tree()
    cache = ctx.cache()
    inv = inventory_mod.load(tree, memo=cache)
    names = _select(inv, opts)
    if not names:
        raise ConfigError("no cluster matches the selection (--env, --class, --cluster)")
    result = render_fleet(ctx, tree, inv, (), names, opts.jobs, cache, validate=False).fleet
    analyzer = fleet.Analyzer(inv, locator(tree))
    return fleet.report(analyzer, result.clusters, opts.query), inv
