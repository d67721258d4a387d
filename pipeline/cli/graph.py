"""`hydrate graph`: the package dependency graph."""

from __future__ import annotations

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context

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
    from pipeline.commands import graph as graph_mod
    from pipeline.report import graphview

    found = graph_mod.graph(ctx, graph_mod.GraphOptions(cluster, jobs))
    click.echo(graphview.FORMATS[fmt](found), nl=False)
