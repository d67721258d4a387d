"""`hydrate verify`: recording the checks the promotion gates read."""

from __future__ import annotations

import click

from pipeline.cli.group import cli
from pipeline.commands.context import Context


@cli.command()
@click.option("--env", "env", required=True, metavar="ENV", help="The environment judged.")
@click.option("--check", "check", required=True, metavar="NAME", help="The check's name (e.g. smoke).")
@click.option("--state", required=True, type=click.Choice(["success", "failure", "pending"]))
@click.option("--wave", metavar="WAVE", help="The wave of a rollout the check judges.")
@click.option("--source", metavar="SHA", help="The source judged (default: the one live).")
@click.option("--url", default="", metavar="URL", help="Where the check's details are.")
@click.option("--description", default="", metavar="TEXT", help="One line about the result.")
@click.option("--remote", metavar="NAME|URL", help="Record it on this remote's branch head.")
@click.option("--push", is_flag=True, help="Push the notes ref (merged, never forced).")
@click.pass_obj
def verify(ctx: Context, env: str, check: str, state: str, wave: str | None,
           source: str | None, url: str, description: str, remote: str | None,
           push: bool) -> None:
    """Record the state of a check for an environment (and wave): a git note under
    refs/notes/hydrate on the env branch's head. Promotion gates read the latest state
    per check; a failure blocks."""
    from pipeline.commands import verify as verify_mod

    if push and not remote:
        raise click.UsageError("--push needs --remote")
    report = verify_mod.verify(ctx, verify_mod.VerifyOptions(
        env, check, state, wave, source, url, description, remote, push))
    r = report.record
    on = f" wave {r.wave}" if r.wave else ""
    pushed = ", pushed" if report.pushed else ""
    click.echo(f"{r.env}{on}: {r.check} {r.state} for {r.source[:7]} at {r.time} "
               f"(note on {report.commit[:7]}{pushed})")
