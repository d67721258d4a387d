"""`hydrate report`: the fleet as a static site."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context
from pipeline.words import counted


@cli.command()
@click.option("--html", "out", required=True, type=click.Path(path_type=Path), metavar="DIR",
              help="Write the site here (relative to --repo): a new or empty directory, or a "
                   "site hydrate wrote (marked by .hydrate-site), which is replaced whole. "
                   "Anything else is refused: the repository, a folder of other files, a link.")
@click.option("--remote", metavar="NAME|URL", help="Read the environment branches from this remote.")
@click.option("--main", default="HEAD", show_default=True, metavar="REV",
              help="The configuration whose environments and gates apply.")
@jobs_option
@click.pass_obj
def report(ctx: Context, out: Path, remote: str | None, main: str, jobs: int) -> None:
    """Write the fleet as a static site: open DIR/index.html, no server needed.

    One page with the promotion path (each environment's branch, live source, age,
    rollout, and what the next promotion waits for, gate by gate), environments by
    classes, the package catalog and dependency graph, every cluster in a table you
    can filter (also from the URL: index.html#q=store), capacity per class and the
    validation findings; one page per cluster. No external requests: it works opened
    from file://. Without git, the branch parts are left empty.

    \b
    Example:
      hydrate report --html site/ --remote origin
    """
    from pipeline.commands import report as report_mod

    result = report_mod.report(ctx, report_mod.ReportOptions(out, remote, main, jobs))
    click.echo(f"wrote {result.out}/index.html and {counted(len(result.files) - 1, 'more file')}: "
               f"{counted(result.clusters, 'cluster')}, {counted(result.packages, 'package')}, "
               f"{counted(result.findings, 'finding')} "
               f"in {result.seconds:.2f}s (pages {result.writing:.2f}s)")
