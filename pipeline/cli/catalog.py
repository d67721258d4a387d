"""`hydrate catalog`: every package and where it runs."""

from __future__ import annotations

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context

# pipeline.report.catalog.FORMATS (named here so --help needs no render code)
CATALOG_FORMATS = ["json", "markdown", "text"]


@cli.command()
@click.option("--format", "fmt", type=click.Choice(CATALOG_FORMATS), default="text",
              show_default=True)
@jobs_option
@click.pass_obj
def catalog(ctx: Context, fmt: str, jobs: int) -> None:
    """List every package: what it is, who owns it and where it runs.

    For each package: description and owner (package.yaml), type, chart and app version,
    namespace, dependencies (dependsOn, and packages whose CRDs it uses), the CRDs it
    provides, the classes and clusters per environment that run it, the overlay layers
    that change it and the Helm values keys they set, and the `hydrate add` command
    that adds it to a class. Finding the CRDs renders the fleet (the cache makes it
    cheap). The JSON format is described in docs/catalog.md.
    """
    from pipeline.commands import catalog as catalog_mod
    from pipeline.report.catalog import FORMATS

    click.echo(FORMATS[fmt](catalog_mod.catalog(ctx, jobs)), nl=False)
