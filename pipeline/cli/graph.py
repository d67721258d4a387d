"""`hydrate graph`: the package dependency graph."""

from __future__ import annotations

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context
from pipeline.words import counted

# pipeline.report.graphview.FORMATS (named here so --help needs no render code)
GRAPH_FORMATS = ["dot", "json", "text"]


@cli.command()
@click.option("--cluster", metavar="CLUSTER", help="Show one cluster's graph, with its waves.")
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS), default="text",
              show_default=True)
@jobs_option
@click.pass_obj
def graph(ctx: Context, cluster: str | None, fmt: str, jobs: int) -> None:
    """Show the package dependency graph.

    Edges come from dependsOn and from CRDs (a package rendering a CRD comes before the
    packages using its kind); discovering the latter renders the packages. Without
    --cluster, the union over the whole fleet.
    """
    from pipeline.commands import render as render_mod
    from pipeline.commands.context import load_inventory
    from pipeline.report import graphview

    tree, inv = load_inventory(ctx)
    result = render_mod.render_fleet(ctx, tree, inv, (), (cluster,) if cluster else (), jobs,
                                     validate=False).fleet
    if cluster:
        c = inv.cluster(cluster)
        title = f"cluster {c.name} (class {c.class_name}, site {c.site}, environment {c.environment})"
    else:
        title = f"fleet: {counted(len(result.clusters), 'cluster')}"
    click.echo(graphview.FORMATS[fmt](graphview.view(result.clusters, title)), nl=False)
