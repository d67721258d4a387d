"""`hydrate status` and `history`: what the environment branches hold, and how they got there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pipeline import clock
from pipeline.cli.group import cli
from pipeline.commands.context import Context
from pipeline.words import ago, counted, short

if TYPE_CHECKING:
    from pipeline.commands.status import EnvStatus


def _main_rev(ctx: Context, main: str | None) -> str:
    if main:
        return main
    from pipeline.config.source import open_repository

    repo = open_repository(ctx.repo)
    return "main" if "refs/heads/main" in repo.references else "HEAD"


@cli.command()
@click.option("--main", "main", metavar="REV", help="The source branch (default: main, or HEAD).")
@click.option("--remote", metavar="NAME|URL", help="Read the branches of this remote.")
@click.pass_obj
def status(ctx: Context, main: str | None, remote: str | None) -> None:
    """Show each environment branch: its source commit, when it was published, its
    clusters, and how many commits the source branch is ahead of it."""
    from pipeline.commands import status as status_mod

    rev = _main_rev(ctx, main)
    rows = status_mod.status(ctx, rev, remote)
    pad = f"{'':<10} {'':<14}"
    for row in rows:
        if row.head is None:
            looked = "" if remote else " (no local or remote-tracking branch)"
            click.echo(f"{row.env:<10} {row.branch:<14} not published yet{looked}")
            continue
        h = row.head
        if row.foreign is not None:
            click.echo(f"{row.env:<10} {row.branch:<14} not a hydrate branch: {row.foreign}")
            click.echo(f"{pad} publish refuses to build on it without --force")
        else:
            subject = h.subject.split(": ", 1)[-1] if h.by_hydrate else "(last render)"
            age = ago(h.time, clock.now(ctx.environ))
            what = (f"published {age} as {short(h.commit)}" if h.by_hydrate else
                    f"head {short(h.commit)} committed by hand {age} "
                    f"(\"{h.subject}\")")
            shown = h.source
            if row.noted and row.live:
                # A publish that changed nothing made it live: it is what runs there.
                shown, subject = row.live, row.live_subject or "(made live by a note)"
            click.echo(f"{row.env:<10} {row.branch:<14} {short(shown)} {subject}")
            where = ("retired: not in fleet/environments.yaml" if row.retired
                     else _lineage(row, rev))
            count = counted(h.clusters, "cluster") if h.clusters is not None else "? clusters"
            click.echo(f"{pad} {what}, {count} ({row.agent}); {where}")
            if row.noted and row.live and row.live_since:
                click.echo(f"{pad} {short(row.live)} is live since "
                           f"{clock.rfc3339(row.live_since)}: a publish that changed nothing "
                           f"made it live (a note on {short(h.commit)})")
            if row.retired:
                click.echo(f"{pad} agents reading this branch still apply it: point them "
                           "elsewhere, then delete the branch")
        if row.rollout is not None and row.lacking:
            last = row.rollout.steps[-1] if row.rollout.steps else None
            landed = clock.rfc3339(row.landed) if row.landed else "?"
            step = (f"wave {len(row.rollout.steps)} of {row.rollout.total} ({last.wave}, "
                    f"{counted(len(last.clusters), 'cluster')}) since {landed}"
                    if last else "no wave yet")
            click.echo(f"{pad} rollout of {row.rollout.source[:7]}: {step}; next: hydrate "
                       f"promote --to {row.env}")
            if row.waits:
                click.echo(f"{pad} {row.waits}")
            n = len(row.lacking)
            click.echo(f"{pad} pending: {counted(n, 'cluster')} without "
                       f"{row.rollout.source[:7]} ({', '.join(row.lacking[:10])}"
                       f"{' …' if n > 10 else ''})")
        for source, why in sorted(row.holds.items()):
            click.echo(f"{pad} hold on {source[:7]}: {why} (lift: hydrate hold --release "
                       f"{source[:12]} --env {row.env} --reason TEXT)")
        if row.drift:
            n = len(row.drift)
            click.echo(f"{pad} drift: {counted(n, 'cluster')} edited on the branch "
                       f"({', '.join(row.drift[:10])}{' …' if n > 10 else ''}); the next "
                       "publish restores them")
        if row.registry is not None:
            click.echo(f"{pad} {status_mod.registry_line(row)}")
        if not remote and row.read != f"refs/heads/{row.branch}":
            click.echo(f"{pad} read from {row.read} (there is no local branch)")


def _lineage(row: EnvStatus, rev: str) -> str:
    """How the branch's source relates to the main revision, in words."""
    if row.lineage == "in":
        n = row.behind or 0
        return "up to date" if n == 0 else f"{rev} is {counted(n, 'commit')} ahead"
    return {"outside": f"source not in {rev}",
            "missing": "source commit not in this repository (fetch it?)",
            "shallow": f"history is shallow: cannot tell how far {rev} is ahead "
                       "(git fetch --unshallow)",
            }.get(row.lineage, "source unknown")


@cli.command()
@click.option("--env", "env", required=True, metavar="ENV", help="The environment.")
@click.option("--remote", metavar="NAME|URL", help="Read the branch (and notes) of this remote.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Only the N newest commits (default: all of them).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_obj
def history(ctx: Context, env: str, remote: str | None, limit: int | None, fmt: str) -> None:
    """List the commits of an environment branch (first parents), newest first: when,
    what kind (publish, promote, forced, rollback, release, by hand), the source, where it
    was promoted from, the wave, each gate's evidence, a bypass's or a rollback's reason,
    the holds it lifted, and the checks and no-op publishes recorded on it."""
    import json

    from pipeline.commands import status as status_mod

    entries = status_mod.history(ctx, env, _main_rev(ctx, None), remote, limit)
    if fmt == "json":
        click.echo(json.dumps([{
            "commit": e.commit, "time": e.time.isoformat(), "kind": e.kind, "source": e.source,
            "subject": e.subject, "changed": e.changed, "clusters": e.clusters,
            "promotedFrom": e.promoted_from or None, "wave": e.wave or None,
            "gates": list(e.gates), "bypassReason": e.bypass or None,
            "rollbackOf": e.rollback_of or None, "reason": e.reason or None,
            "released": list(e.released),
            "madeLive": [{"source": r.source, "time": r.time} for r in e.made_live],
            "checks": [{"check": r.check, "state": r.state, "source": r.source,
                        "wave": r.wave or None, "time": r.time, "url": r.url or None}
                       for r in e.checks]} for e in entries], indent=2))
        return
    pad = f"{'':<18}"
    for entry in entries:
        when = entry.time.strftime("%Y-%m-%d %H:%M")
        click.echo(f"{when}  {short(entry.commit)}  {entry.kind:<9} source {short(entry.source)}  "
                   f"{entry.subject.split(': ', 1)[-1]}")
        if entry.changed:
            click.echo(f"{pad}{entry.changed}")
        if entry.promoted_from:
            wave = f", wave {entry.wave}" if entry.wave else ""
            click.echo(f"{pad}from {entry.promoted_from.split()[0]}{wave}")
        elif entry.wave:
            click.echo(f"{pad}wave {entry.wave}")
        for gate in entry.gates:
            click.echo(f"{pad}gate {gate}")
        if entry.bypass:
            click.echo(f"{pad}bypassed: {entry.bypass}")
        if entry.rollback_of:
            click.echo(f"{pad}rollback of {short(entry.rollback_of)}")
        if entry.reason:
            click.echo(f"{pad}reason: {entry.reason}")
        for lifted in entry.released:
            click.echo(f"{pad}hold lifted: {lifted}")
        for made in entry.made_live:
            click.echo(f"{pad}made live: {short(made.source)} at {made.time} (a publish that "
                       "changed nothing)")
        for record in entry.checks:
            on = f" (wave {record.wave})" if record.wave else ""
            click.echo(f"{pad}check {record.check} {record.state}{on} at {record.time}"
                       f"{' ' + record.url if record.url else ''}")
