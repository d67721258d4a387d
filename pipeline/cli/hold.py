"""`hydrate hold`: holding a source (or lifting its holds) without changing any cluster."""

from __future__ import annotations

import click

from pipeline.cli.group import cli
from pipeline.commands.context import Context
from pipeline.words import short


@cli.command()
@click.argument("source", metavar="SOURCE")
@click.option("--env", "env", required=True, metavar="ENV",
              help="The environment whose branch records it.")
@click.option("--reason", required=True, metavar="TEXT", help="Why (recorded in the commit).")
@click.option("--release", is_flag=True,
              help="Lift the holds on SOURCE (wherever they were put) instead of putting one.")
@click.option("--remote", metavar="NAME|URL", help="Build on this remote's branch head.")
@click.option("--push", is_flag=True, help="Push the commit to --remote.")
@click.pass_obj
def hold(ctx: Context, source: str, env: str, reason: str, release: bool, remote: str | None,
         push: bool) -> None:
    """Hold SOURCE (or, with --release, lift its holds) without changing any cluster.

    A held source is promoted or published nowhere without --force --reason; `promote
    --auto` skips it. A rollback holds the source it replaces; a forced landing lifts the
    holds on what it lands. Either way the branch of ENV records it, in a commit of its
    own (history shows the reason)."""
    from pipeline.commands import hold as hold_mod

    if push and not remote:
        raise click.UsageError("--push needs --remote")
    report = hold_mod.hold(ctx, hold_mod.HoldOptions(source, env, reason, release, remote,
                                                     push))
    done = "pushed" if report.pushed else "committed"
    what = "lifted the holds on" if release else "holds"
    click.echo(f"{report.env}: {done} {short(report.commit)}; {what} {short(report.source)}"
               f"{' (' + '; '.join(report.where) + ')' if report.where else ''}")
