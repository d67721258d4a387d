"""`hydrate graph`: the package dependency graph of the fleet, or of one cluster with its
waves (rendered, not validated: edges from CRDs need the packages' output)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.commands.context import Context, load_inventory
from pipeline.commands.render import render_fleet
from pipeline.report import graphview
from pipeline.words import counted


@dataclass(frozen=True)
class GraphOptions:
    cluster: str | None = None  # None: the union over the whole fleet
    jobs: int = os.cpu_count() or 1


def graph(ctx: Context, opts: GraphOptions) -> graphview.GraphView:
    """The graph of the working tree's fleet (or of `opts.cluster`), with a title saying which."""
    tree, inv = load_inventory(ctx)
    result = render_fleet(ctx, tree, inv, (), (opts.cluster,) if opts.cluster else (), opts.jobs,
                          validate=False).fleet
    if opts.cluster:
        c = inv.cluster(opts.cluster)
        title = f"cluster {c.name} (class {c.class_name}, site {c.site}, environment {c.environment})"
    else:
        title = f"fleet: {counted(len(result.clusters), 'cluster')}"
    return graphview.view(result.clusters, title)
