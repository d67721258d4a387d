"""`hydrate validate`: render the selected clusters of the working tree and check them
(render, publish and promote run the same checks through `pipeline.validate.gate`)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.commands.context import Context
from pipeline.commands.render import render_fleet
from pipeline.config import inventory as inventory_mod
from pipeline.validate import gate
from pipeline.validate.findings import Report


@dataclass(frozen=True)
class ValidateOptions:
    envs: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    jobs: int = os.cpu_count() or 1


def run(ctx: Context, opts: ValidateOptions) -> Report:
    """The findings of the selected clusters (all of them: the whole fleet, so unused
    waivers are judged too)."""
    tree = ctx.tree()
    inv = inventory_mod.load(tree)
    cache = ctx.cache()
    checker = gate.validator(tree, inv, cache, ctx.environ)
    result = render_fleet(ctx, tree, inv, opts.envs, opts.clusters, opts.jobs, cache,
                          validate=False).fleet
    return checker.run(result.clusters, whole_fleet=not opts.envs and not opts.clusters)
