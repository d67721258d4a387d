"""`hydrate rollback`: putting an environment back on an earlier source, exactly as it was."""

from __future__ import annotations

import click

from pipeline.cli.group import cli
from pipeline.commands.context import Context
from pipeline.words import short


@cli.command()
@click.option("--env", "env", required=True, metavar="ENV", help="The environment to roll back.")
@click.option("--to", "to", metavar="SOURCE",
              help="The source to put back (default: the newest earlier one that is not held).")
@click.option("--reason", required=True, metavar="TEXT",
              help="Why (recorded in the commit, and as the hold on the replaced source).")
@click.option("--remove-added", "remove_added", is_flag=True,
              help="Also remove clusters the restored commit does not have (default: they "
                   "keep their tree while the inventory has them).")
@click.option("--remote", metavar="NAME|URL", help="Build on this remote's branch head.")
@click.option("--push", is_flag=True, help="Push the rollback commit to --remote.")
@click.pass_obj
def rollback(ctx: Context, env: str, to: str | None, reason: str, remove_added: bool,
             remote: str | None, push: bool) -> None:
    """Put an environment back on an earlier source, exactly as it was.

    Restores the cluster trees of the commit that last carried that source (default: the
    newest earlier one that is not held) as a new commit: never re-rendered, never a
    force push, no gates. The source it replaces is held: `promote --auto` skips it, and
    promoting or publishing it again needs --force --reason (or `hydrate hold
    --release`). A cluster the restored commit does not have keeps its tree while the
    inventory has it, unless --remove-added; every cluster changed is listed."""
    from pipeline.commands import rollback as rollback_mod

    if push and not remote:
        raise click.UsageError("--push needs --remote")
    report = rollback_mod.rollback(ctx, rollback_mod.RollbackOptions(
        env, reason, to, remote, push, remove_added=remove_added))
    done = "pushed" if report.pushed else "committed"
    click.echo(f"rollback {report.env}: {short(report.replaced)} → {short(report.restored)} "
               f"(trees of {short(report.carrier)})")
    click.echo(f"  {report.branch}: {done} {short(report.commit)}; {short(report.replaced)} "
               "is held")
    for label, names in (("changed", report.changed), ("added", report.added),
                         ("removed", report.removed),
                         ("kept (not in the restored commit; --remove-added removes them)",
                          report.kept),
                         ("not restored (no longer in the inventory)", report.not_restored)):
        if names:
            click.echo(f"  {label}: {', '.join(names)}")
    for line in (report.oci.lines() if report.oci else []):
        click.echo(f"  {line}")
