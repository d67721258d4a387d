"""`hydrate add` and `hydrate remove`: self-service edits of the fleet from the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pipeline.cli.group import F, cli, jobs_option
from pipeline.commands.context import Context
from pipeline.words import counted

if TYPE_CHECKING:  # the CLI imports this module at start-up: the core only when run
    from pipeline.commands.selfservice import Action, ChangeReport, Kind


def _target_options(f: F) -> F:
    for option in reversed([
        click.option("--class", "class_", metavar="CLASS", help="Every cluster of this class "
                     "(fleet/classes/CLASS.yaml packages)."),
        click.option("--site", metavar="SITE", help="Every cluster whose site: is SITE (each "
                     "cluster file's packages: {add, remove})."),
        click.option("--cluster", metavar="CLUSTER",
                     help="One cluster (its file's packages: {add, remove})."),
        click.option("--branch", metavar="NAME", help="Commit the edit on this new branch, "
                     "made from HEAD, for a pull request; the working tree is left alone."),
        click.option("--message", "-m", metavar="TEXT",
                     help="The commit message (with --branch). Default: what changed."),
        jobs_option,
    ]):
        f = option(f)
    return f


@cli.command()
@click.argument("package")
@_target_options
@click.option("--with-deps", is_flag=True,
              help="Also add the packages PACKAGE depends on that the target lacks.")
@click.pass_obj
def add(ctx: Context, package: str, class_: str | None, site: str | None, cluster: str | None,
        branch: str | None, message: str | None, jobs: int, with_deps: bool) -> None:
    """Add a package of the catalog to a class, a site or a cluster.

    Edits the fleet files in place (comments, order and quoting kept), after checking
    dependencies and rendering and validating every cluster that changes; nothing is
    written on an error. With --branch, commits the edit on a new branch instead.
    """
    _run(ctx, "add", package, class_, site, cluster, branch, message, jobs, with_deps)


@cli.command()
@click.argument("package")
@_target_options
@click.pass_obj
def remove(ctx: Context, package: str, class_: str | None, site: str | None,
           cluster: str | None, branch: str | None, message: str | None, jobs: int) -> None:
    """Take a package out of a class, a site or a cluster.

    Refused while another package on those clusters depends on it. Like `hydrate add`:
    checked, rendered and validated before anything is written; --branch commits instead.
    """
    _run(ctx, "remove", package, class_, site, cluster, branch, message, jobs, False)


def _run(ctx: Context, action: Action, package: str, class_: str | None, site: str | None,
         cluster: str | None, branch: str | None, message: str | None, jobs: int,
         with_deps: bool) -> None:
    from pipeline.commands import selfservice as core

    named: tuple[tuple[Kind, str | None], ...] = (("class", class_), ("site", site),
                                                  ("cluster", cluster))
    given = [(kind, name) for kind, name in named if name is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --class, --site or --cluster")
    if message is not None and branch is None:
        raise click.UsageError("--message is the commit message: it needs --branch")
    kind, target = given[0]
    report = core.change(ctx, core.ChangeOptions(
        action, package, kind, target, with_deps, branch, message, jobs))
    _show(report)


def _show(report: ChangeReport) -> None:
    from pipeline.commands import selfservice as core

    if report.files:
        click.echo(f"{report.subject}:")
    for f in report.files:
        for line in f.lines:
            click.echo(f"  {f.path}:{line.number}: {line.sign} {line.text}")
    if report.clusters:
        click.echo(f"  clusters edited: {', '.join(report.clusters)}")
    for note in report.notes:
        click.echo(note)
    if not report.files:
        return
    for text in core.describe(report):
        click.echo(text)
    click.echo(f"validated: {counted(report.validated, 'cluster')} rendered and checked")
    if report.branch is None:
        click.echo("next: review with `git diff`, commit, and open a pull request (the pr-diff "
                   "workflow comments the rendered diff)")
        return
    assert report.commit is not None
    click.echo(f"committed {report.commit[:7]} on the new branch {report.branch} (from HEAD; "
               "your branch and working tree are unchanged)")
    click.echo(f"next: git push origin {report.branch}, then open a pull request: the pr-diff "
               "workflow comments the rendered diff")
