"""`hydrate publish`: render a source commit onto the environment branches."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.group import cli, jobs_option
from pipeline.commands.context import Context
from pipeline.errors import PipelineError
from pipeline.words import counted, short


@cli.command()
@click.option("--env", "envs", multiple=True, metavar="ENV",
              help="Environment to publish (repeatable). Default: the first environment.")
@click.option("--all", "all_envs", is_flag=True, help="Publish every environment.")
@click.option("--source", default="HEAD", show_default=True, metavar="REV",
              help="The source commit to render (read from git, never the working tree).")
@click.option("--remote", metavar="NAME|URL",
              help="Build on the remote's branch heads (a remote name, URL or path).")
@click.option("--push", is_flag=True, help="Push the new commits to --remote.")
@click.option("--author", metavar="'NAME <EMAIL>'",
              help="Commit author. Default: GIT_AUTHOR_NAME/EMAIL, user.name/email, or hydrate.")
@click.option("--full", is_flag=True,
              help="Render every cluster, not only those the change since the branch's "
                   "source commit touches.")
@click.option("--force", is_flag=True,
              help="Build on a branch head hydrate did not write (never on one that holds "
                   "source history); with --reason, publish an environment that has "
                   "promotion, bypassing its gates (recorded).")
@click.option("--reason", metavar="TEXT",
              help="With --force on an environment with promotion: why (a trailer).")
@click.option("--from-shards", "from_shards", is_flag=True,
              help="Publish the SHARDS directories, outputs of `hydrate render --source REV "
                   "--shard i/N`, instead of rendering; together they must hold every cluster.")
@click.argument("shards", nargs=-1, metavar="[SHARDS]...",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@jobs_option
@click.pass_obj
def publish(ctx: Context, envs: tuple[str, ...], all_envs: bool, source: str,
            remote: str | None, push: bool, author: str | None, full: bool, force: bool,
            reason: str | None, from_shards: bool, shards: tuple[Path, ...], jobs: int) -> None:
    """Render a source commit and commit it to environment branches.

    Each environment's branch (env/<name>) gets one commit with clusters/<cluster>/ for
    every cluster of the environment, README.md and .hydrate/metadata.json, built without
    a checkout. Unchanged clusters are reused; a publish that changes nothing makes no
    commit. With --remote, commits build on the remote's branch; with --push they are
    pushed (never forced: a push that loses a race is rebuilt on the new head and
    retried). Without --remote, the local branches are updated.

    Only the clusters that the change since the branch's source commit touches are
    rendered; the others are taken from the branch as they are (unless --full, or the
    tool versions or hydrate itself changed). Clusters edited on the branch by hand are
    rendered and restored. A branch head hydrate did not write is refused (--force
    builds on it); a branch that holds source history, always.

    An environment with `promotion` is changed by `hydrate promote`: --all leaves it out,
    naming it is refused unless --force --reason TEXT (a bypass, recorded in the commit).
    A publish that changes nothing still makes its source live (a note on the head).
    """
    from pipeline.commands import publish as publish_mod

    if envs and all_envs:
        raise click.UsageError("give --env or --all, not both")
    if from_shards != bool(shards):
        raise click.UsageError("--from-shards takes the shard directories: "
                               "hydrate publish --from-shards DIR...")
    if push and not remote:
        raise click.UsageError("--push needs --remote (a remote name such as origin, a URL "
                               "or a path)")
    report = publish_mod.publish(ctx, publish_mod.PublishOptions(
        envs, all_envs, source, remote, push, jobs, author, full=full,
        from_shards=tuple(p.resolve() for p in shards), force=force, reason=reason))
    where = f" → {report.remote}" if report.remote else ""
    click.echo(f"source {report.source[:7]}: {report.subject}{where}")
    for r in report.results:
        if r.commit is None:
            click.echo(f"  {r.env:<10} {r.branch}: no change, no commit (head {short(r.head)}; "
                       f"{r.note})")
            for line in (r.oci.lines() if r.oci else []):
                click.echo(f"  {'':<10} {line}")
            continue
        what = ", ".join(f"{len(v)} {k}" for k, v in (("added", r.added), ("changed", r.changed),
                                                      ("removed", r.removed)) if v) or "first publish"
        pushed = "pushed" if r.pushed else "committed"
        retry = f", after {counted(r.attempts, 'attempt')}" if r.attempts > 1 else ""
        click.echo(f"  {r.env:<10} {r.branch}: {pushed} {short(r.commit)} ({what}; "
                   f"{counted(r.blobs_written, 'blob')} written, {counted(r.clusters_reused, 'cluster')} "
                   f"reused{retry})")
        if r.note:
            click.echo(f"  {'':<10} {r.note}")
        for line in r.said:
            click.echo(f"  {'':<10} remote: {line}")
        for line in (r.oci.lines() if r.oci else []):
            click.echo(f"  {'':<10} {line}")
    for gated in report.promoted_only:
        assert gated.promotion is not None
        click.echo(f"  {gated.name:<10} {gated.branch}: fed by promotion from "
                   f"{gated.promotion.source} (hydrate promote --to {gated.name}); not published")
    stop = report.stopped
    if stop is not None:
        why = (f"refused by the remote ({stop.refused})" if stop.refused
               else f"failed: {stop.error.splitlines()[0]}")
        click.echo(f"  {stop.env:<10} {stop.branch}: {why}")
        for line in stop.said:
            click.echo(f"  {'':<10} remote: {line}")
        for env, branch in stop.not_tried:
            click.echo(f"  {env:<10} {branch}: not tried")
    cached = f" ({report.stats.cache_hits} from the cache)" if report.stats.cache_hits else ""
    click.echo(f"  rendered {counted(report.stats.clusters, 'cluster')} with "
               f"{counted(sum(report.stats.tool_runs.values()), 'tool run')}{cached}; "
               f"{report.seconds:.2f}s in all")
    failure = report.failure()
    if failure is not None:
        raise PipelineError(failure)
