"""`hydrate promote`: moving a source down the environments behind gates."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context
from pipeline.words import counted, short

if TYPE_CHECKING:
    from pipeline.commands import promote as promote_mod

BLOCKED = 4  # exit status of a promotion a gate blocks (docs/promotion.md, Commands)


@cli.command()
@click.option("--to", "to", metavar="ENV", help="The environment to promote to.")
@click.option("--auto", "auto", is_flag=True,
              help="Promote every environment with `auto: true` whose gates pass (exit 0 "
                   "when none is ready; a held source is skipped).")
@click.option("--source", metavar="SHA",
              help="A source that was live on the `from` environment (default: the one live "
                   "on all of its clusters now).")
@click.option("--remote", metavar="NAME|URL",
              help="Read the branches and notes of this remote (and build on its heads).")
@click.option("--push", is_flag=True, help="Push the promotion commit to --remote.")
@click.option("--dry-run", is_flag=True, help="Print the gates and what would change; change nothing.")
@click.option("--force", is_flag=True, help="Promote although a gate blocks (needs --reason).")
@click.option("--reason", metavar="TEXT", help="Why the gates are bypassed (recorded in a trailer).")
@click.option("--pull-request", "pull_request", is_flag=True,
              help="Push to <branch>-next instead and write the PR body (as pullRequest: true).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Pull-request mode: write the PR body (gates, then the diff) here.")
@click.option("--main", "main", default="HEAD", show_default=True, metavar="REV",
              help="The configuration whose gates apply (never the promoted source's own).")
@jobs_option
@click.pass_obj
def promote(ctx: Context, to: str | None, auto: bool, source: str | None, remote: str | None,
            push: bool, dry_run: bool, force: bool, reason: str | None, pull_request: bool,
            output: Path | None, main: str, jobs: int) -> None:
    """Promote a source from the environment before ENV to ENV, behind its gates.

    The gates (soak, required checks, windows, freezes, holds) are printed one per line
    with their evidence. In a waved environment each promotion takes the next wave.
    Exit status: 0 promoted (or nothing to promote), 1 error, 2 usage, 4 blocked by a
    gate (what would unblock it, and when, is printed). HYDRATE_NOW (RFC 3339) replaces
    the clock: for the gates and for the times of what hydrate writes.
    """
    from pipeline.commands import promote as promote_mod

    if push and not remote:
        raise click.UsageError("--push needs --remote")
    if reason and not force:
        raise click.UsageError("--reason goes with --force")
    if force and not (reason or "").strip():
        raise click.UsageError("--force needs --reason TEXT: a bypass is recorded with its "
                               "reason")
    env = ctx.environ
    run = env.get("GITHUB_RUN_ID")
    run_url = (f"{env.get('GITHUB_SERVER_URL', '')}/{env.get('GITHUB_REPOSITORY', '')}"
               f"/actions/runs/{run}") if run else None
    if bool(to) == auto:
        raise click.UsageError("give --to ENV or --auto")
    if auto and (force or source):
        raise click.UsageError("--auto takes neither --force nor --source")
    opts = promote_mod.PromoteOptions(to or "", source, remote, push, dry_run, force, reason,
                                      jobs, main, run_url, pull_request, output)
    if auto:
        reports = promote_mod.auto(ctx, opts)
        if not reports:
            click.echo("no environment has auto: true")
        for one in reports:
            _show(one)
        return
    report = promote_mod.promote(ctx, opts)
    _show(report)
    if report.blocked:
        sys.exit(BLOCKED)


def _show(report: promote_mod.PromoteReport) -> None:
    wave = (f", wave {report.wave} ({report.wave_number} of {report.waves})"
            if report.wave else "")
    head = f"promote {short(report.source)} {report.origin} → {report.env}{wave}"
    click.echo(head if report.source else f"promote → {report.env}")
    for gate in report.gates:
        verdict = "pass" if gate.passed else ("bypassed" if report.forced else "BLOCKED")
        click.echo(f"  {gate.name:<8} {verdict:<8} {gate.evidence}")
    for lifted in report.released:
        click.echo(f"  lifted the hold on {lifted} (--force --reason)")
    if report.note:
        click.echo(f"  {report.note}")
    for line in (report.oci.lines() if report.oci else []):
        click.echo(f"  {line}")
    if report.blocked:
        opens = [g.opens for g in report.gates if not g.passed and g.opens is not None]
        when = f"; earliest: {max(opens).strftime('%Y-%m-%dT%H:%MZ')}" if opens and len(
            opens) == sum(1 for g in report.gates if not g.passed) else ""
        click.echo(f"blocked: {', '.join(g.name for g in report.gates if not g.passed)}{when}")
        return
    if report.dry_run:
        if not report.note:
            click.echo("dry run: nothing to commit")
        return
    if report.commit and report.pr_branch:
        done = "pushed" if report.pushed else "committed"
        click.echo(f"  {report.pr_branch}: {done} {short(report.commit)} for a pull request "
                   f"into {report.branch} ({counted(len(report.clusters), 'cluster')} in this "
                   "step); the body: --output")
        return
    if report.commit:
        done = "pushed" if report.pushed else "committed"
        what = ", ".join(f"{len(v)} {k}" for k, v in (("added", report.added),
                                                      ("changed", report.changed),
                                                      ("removed", report.removed)) if v)
        click.echo(f"  {report.branch}: {done} {short(report.commit)} ({what or 'no cluster changed'};"
                   f" {counted(len(report.clusters), 'cluster')} in this step)")
