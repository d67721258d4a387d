"""The `hydrate` command line: flags → a frozen options object → one core function.

Reports go to stdout, progress and errors to stderr. Exit status: 0 success, 1 an error
hydrate explains (one line), 2 a usage error, 3 a crash (traceback saved to a file).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from pipeline import __version__, app, graphview
from pipeline.errors import PipelineError
from pipeline.words import counted

if TYPE_CHECKING:
    from pipeline.status import EnvStatus

F = TypeVar("F", bound=Callable[..., Any])


def _progress(stream: Any) -> Callable[[str, int, int], None] | None:
    """A one-line progress display on a terminal, nothing otherwise."""
    if not stream.isatty():
        return None
    last = [0.0]

    def show(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.1:
            return
        last[0] = now
        end = "\n" if done >= total else ""
        stream.write(f"\r\x1b[K{phase}: {done}/{total}{end}")
        stream.flush()

    return show


def env_option(f: F) -> F:
    return click.option("--env", "envs", multiple=True, metavar="ENV",
                        help="Only clusters of this environment (repeatable).")(f)


def cluster_option(f: F) -> F:
    return click.option("--cluster", "clusters", multiple=True, metavar="CLUSTER",
                        help="Only this cluster (repeatable).")(f)


def jobs_option(f: F) -> F:
    return click.option("--jobs", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1,
                        show_default="number of cores",
                        help="Tool runs (helm, kustomize) to run in parallel.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default="the current directory",
              help="The configuration repository (with fleet/, bases/, overlays/).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Render cache directory. Default: HYDRATE_CACHE_DIR, else ~/.cache/hydrate.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the render cache.")
@click.version_option(__version__, prog_name="hydrate")
@click.pass_context
def cli(ctx: click.Context, repo: Path, cache_dir: Path | None, no_cache: bool) -> None:
    """Render dry GitOps configuration into hydrated manifests per cluster.

    hydrate reads the fleet inventory (fleet/), the packages (bases/) and their overlays
    (overlays/), renders each distinct input once with helm and kustomize, and writes
    plain YAML per cluster.
    """
    ctx.obj = app.Context(repo=repo.resolve(), environ=dict(os.environ),
                          progress=_progress(sys.stderr), cache_dir=cache_dir,
                          use_cache=not no_cache, warn=_warner(sys.stderr))


def _warner(stream: Any) -> Callable[[str], None]:
    """Prints each distinct warning once, on its own line (over a progress line)."""
    told: set[str] = set()

    def warn(message: str) -> None:
        if message in told:
            return
        told.add(message)
        clear = "\r\x1b[K" if stream.isatty() else ""
        click.echo(f"{clear}hydrate: warning: {message}", file=stream)

    return warn


def _shard_spec(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--shard i/N, checked where it is given: a bad one is a usage error."""
    from pipeline import shard as shard_mod

    if value is not None:
        try:
            shard_mod.parse(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    return value


@cli.command()
@env_option
@cluster_option
@click.option("--out", type=click.Path(path_type=Path), default=Path("rendered"),
              show_default=True, help="Output directory (relative to --repo).")
@click.option("--source", metavar="REV",
              help="Render this commit (read from git) instead of the working tree.")
@click.option("--shard", metavar="i/N", callback=_shard_spec,
              help="Only shard i of N (numbered from 1), balanced by work; for a CI matrix "
                   "whose shards `hydrate publish --from-shards` publishes together.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=60, show_default=True,
              metavar="SECONDS",
              help="How long to wait for another hydrate writing to OUT before giving up.")
@jobs_option
@click.pass_obj
def render(ctx: app.Context, envs: tuple[str, ...], clusters: tuple[str, ...], out: Path,
           source: str | None, shard: str | None, lock_timeout: float, jobs: int) -> None:
    """Render hydrated manifests to OUT/<environment>/<cluster>/.

    Each cluster directory holds a kustomization.yaml listing one directory per package,
    each with one file per object. Selected clusters are replaced as a whole; when an
    environment is rendered in full, clusters no longer in the inventory are removed.
    Nothing is written unless every selected cluster renders. Cluster directories that
    differ from the render (edited or deleted by hand, left by an interrupted render)
    are rewritten; one hydrate at a time writes to OUT.
    """
    where = out if out.is_absolute() else ctx.repo / out
    if where.exists() and not where.is_dir():
        raise click.BadParameter(f"{where} exists and is not a directory", param_hint="'--out'")
    report = app.render_to_dir(ctx, app.RenderOptions(envs, clusters, out, jobs, source, shard,
                                                      lock_timeout))
    s = report.stats
    runs = ", ".join(f"{tool} {n}" for tool, n in sorted(s.tool_runs.items())) or "none"
    shown = report.out.relative_to(ctx.repo) if report.out.is_relative_to(ctx.repo) else report.out
    w = report.written
    same = f", {len(w.unchanged)} unchanged" if w.unchanged else ""
    gone = f", {len(w.removed)} removed" if w.removed else ""
    click.echo(f"rendered {counted(s.clusters, 'cluster')} ({', '.join(report.envs)}) into {shown}/: "
               f"{len(w.written)} written{same}{gone}")
    click.echo(f"  packages  {s.packages} ({s.pairs} cluster×package renders)")
    click.echo(f"  objects   {s.objects:,}")
    cached = f", {s.cache_hits} from the cache" if s.cache_hits else ""
    click.echo(f"  inputs    {s.distinct} distinct → {sum(s.tool_runs.values())} tool runs "
               f"({runs}){cached}")
    click.echo(f"  time      {s.seconds:.2f}s")


@cli.command()
@click.option("--cluster", metavar="CLUSTER", help="Show one cluster's graph, with its waves.")
@click.option("--format", "fmt", type=click.Choice(sorted(graphview.FORMATS)), default="text",
              show_default=True)
@jobs_option
@click.pass_obj
def graph(ctx: app.Context, cluster: str | None, fmt: str, jobs: int) -> None:
    """Show the package dependency graph.

    Edges come from dependsOn and from CRDs (a package rendering a CRD comes before the
    packages using its kind); discovering the latter renders the packages. Without
    --cluster, the union over the whole fleet.
    """
    tree, inv = app.load_inventory(ctx)
    result, _ = app.render_fleet(ctx, tree, inv, (), (cluster,) if cluster else (), jobs)
    if cluster:
        c = inv.cluster(cluster)
        title = f"cluster {c.name} (class {c.class_name}, site {c.site}, environment {c.environment})"
    else:
        title = f"fleet: {len(result.clusters)} clusters"
    click.echo(graphview.FORMATS[fmt](graphview.view(result.clusters, title)), nl=False)


def _short(sha: str | None) -> str:
    return sha[:7] if sha else "-"


def _ago(when: dt.datetime) -> str:
    seconds = int((dt.datetime.now(dt.UTC) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


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
                   "source history).")
@click.option("--from-shards", "from_shards", is_flag=True,
              help="Publish the SHARDS directories, outputs of `hydrate render --source REV "
                   "--shard i/N`, instead of rendering; together they must hold every cluster.")
@click.argument("shards", nargs=-1, metavar="[SHARDS]...",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@jobs_option
@click.pass_obj
def publish(ctx: app.Context, envs: tuple[str, ...], all_envs: bool, source: str,
            remote: str | None, push: bool, author: str | None, full: bool, force: bool,
            from_shards: bool, shards: tuple[Path, ...], jobs: int) -> None:
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
    """
    from pipeline import publish as publish_mod

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
        from_shards=tuple(p.resolve() for p in shards), force=force))
    where = f" → {report.remote}" if report.remote else ""
    click.echo(f"source {report.source[:7]}: {report.subject}{where}")
    for r in report.results:
        if r.commit is None:
            click.echo(f"  {r.env:<10} {r.branch}: no change, no commit (head {_short(r.head)}; "
                       f"{r.note})")
            continue
        what = ", ".join(f"{len(v)} {k}" for k, v in (("added", r.added), ("changed", r.changed),
                                                      ("removed", r.removed)) if v) or "first publish"
        pushed = "pushed" if r.pushed else "committed"
        retry = f", after {r.attempts} attempts" if r.attempts > 1 else ""
        click.echo(f"  {r.env:<10} {r.branch}: {pushed} {_short(r.commit)} ({what}; "
                   f"{r.blobs_written} blobs written, {r.clusters_reused} clusters reused{retry})")
        if r.note:
            click.echo(f"  {'':<10} {r.note}")
        for line in r.said:
            click.echo(f"  {'':<10} remote: {line}")
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


@cli.command()
@click.option("--base", metavar="REV", help="The revision to compare against (e.g. origin/main).")
@click.option("--head", default="HEAD", show_default=True, metavar="REV",
              help="The revision with the change.")
@env_option
@cluster_option
@click.option("--against-branch", is_flag=True,
              help="Compare HEAD's render with what the environment branches hold "
                   "(what a publish or promotion would change) instead of --base.")
@click.option("--remote", metavar="NAME|URL", help="With --against-branch: read this remote's branches.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here instead of stdout.")
@click.option("--report-url", metavar="URL",
              help="Where the full report is, named in markdown when diffs are cut.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the JSON result to this file (same run, same redaction).")
@click.option("--full-markdown", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the markdown without the comment size limit to this file.")
@click.option("--exit-code", is_flag=True,
              help="Exit 0 when nothing changed, 1 when something did, 2 or above on errors.")
@jobs_option
@click.pass_obj
def diff(ctx: app.Context, base: str | None, head: str, envs: tuple[str, ...],
         clusters: tuple[str, ...], against_branch: bool, remote: str | None, fmt: str,
         output: Path | None, report_url: str | None, json_file: Path | None,
         full_markdown: Path | None, exit_code: bool, jobs: int) -> None:
    """Show what a change does to the rendered manifests of every cluster.

    Renders both revisions from git (never the working tree), compares them object by
    object and reports, per environment and class, what changed: identical changes on
    many clusters are shown once, risky changes are flagged first, Secret values never
    appear. Formats: text (coloured on a terminal), markdown (one GitHub comment, at
    most 65,536 characters) and json (the full result).

    Exit status: 0 on success (with --exit-code: 0 no change, 1 changes), 1 on errors
    (with --exit-code: 2, also when a revision fails to render).
    """
    from pipeline import diffviews, review

    if bool(base) == against_branch:
        raise click.UsageError("give either --base REV or --against-branch")
    try:
        result = review.run(ctx, review.DiffOptions(base, head, envs, clusters, against_branch,
                                                        remote, jobs))
    except PipelineError as e:
        if not exit_code:
            raise
        click.echo(f"hydrate: error: {e}", err=True)
        sys.exit(2)
    if fmt == "json":
        text = diffviews.to_json(result)
    elif fmt == "markdown":
        text = diffviews.to_markdown(result, report=report_url or "the JSON report (`--format json`)")
    else:
        colour = output is None and sys.stdout.isatty()
        text = diffviews.to_text(result, (lambda t, c: click.style(t, fg=c or None, bold=c == "bold"))
                                 if colour else (lambda t, _: t))
    if json_file is not None:
        json_file.write_text(diffviews.to_json(result))
    if full_markdown is not None:
        full_markdown.write_text(diffviews.to_markdown(result, limit=1 << 62))
    if output is not None:
        output.write_text(text)
        click.echo(f"{diffviews.headline(result)} → {output}", err=True)
    else:
        click.echo(text, nl=False)
    if result.error:
        if not output and fmt != "text":
            click.echo(f"hydrate: error: {result.error.splitlines()[0]}", err=True)
        sys.exit(2 if exit_code else 1)
    if exit_code and result.changed:
        sys.exit(1)


@cli.command()
@click.option("--base", required=True, metavar="REV", help="The revision before the change.")
@click.option("--head", default="HEAD", show_default=True, metavar="REV",
              help="The revision with the change.")
@env_option
@cluster_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_obj
def affected(ctx: app.Context, base: str, head: str, envs: tuple[str, ...],
             clusters: tuple[str, ...], fmt: str) -> None:
    """List the (cluster, package) renders a change touches, and why.

    A pair is affected when its render input (files after Jinja2, merged values, chart,
    arguments, tool versions) differs between BASE and HEAD, or when it exists on one
    side only. Each line names the changed files that reach it. No tool runs.
    """
    import json as json_mod

    found = app.affected(ctx, base, head, envs, clusters)
    if fmt == "json":
        doc = {"base": base, "head": head, "paths": list(found.paths),
               "clusters": [{"environment": e, "cluster": c} for e, c in found.clusters],
               "pairs": [{"environment": p.environment, "cluster": p.cluster,
                          "package": p.package, "change": p.change, "reasons": list(p.reasons)}
                         for p in found.pairs]}
        click.echo(json_mod.dumps(doc, indent=2))
        return
    width = max((len(f"{p.cluster}/{p.package}") for p in found.pairs), default=0)
    for p in found.pairs:
        click.echo(f"{p.cluster + '/' + p.package:<{width}}  {p.change:<7}  ← "
                   f"{', '.join(p.reasons)}")
    click.echo(f"{len(found.pairs)} renders on {len(found.clusters)} of {found.total} clusters "
               f"affected ({len(found.paths)} paths changed, {found.candidates} clusters "
               "examined)", err=True)


@cli.group()
def cache() -> None:
    """Inspect and bound the render cache (see --cache-dir)."""


def _cache_root(ctx: app.Context) -> Path:
    from pipeline.cache import default_dir

    return ctx.cache_dir or default_dir(ctx.environ)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


@cache.command("info")
@click.pass_obj
def cache_info(ctx: app.Context) -> None:
    """Where the cache is, how many entries and bytes it holds."""
    from pipeline.cache import entries

    root = _cache_root(ctx)
    found = entries(root)
    click.echo(f"{root}: {len(found)} entries, {_size(sum(s for _, s, _ in found))}")


@cache.command("prune")
@click.option("--max-size", default="2G", show_default=True, metavar="SIZE",
              help="Keep at most this much (500M, 2G, ...), evicting the least recently used.")
@click.option("--older-than", metavar="DAYS", type=click.FloatRange(min=0),
              help="Also drop entries unused for this many days.")
@click.pass_obj
def cache_prune(ctx: app.Context, max_size: str, older_than: float | None) -> None:
    """Evict least recently used entries until the cache fits in --max-size."""
    from pipeline.cache import parse_size, prune

    try:
        limit = parse_size(max_size)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--max-size") from None
    root = _cache_root(ctx)
    removed, freed, kept = prune(root, limit, time.time(),
                                 older_than * 86400 if older_than is not None else None)
    click.echo(f"{root}: removed {removed} entries ({_size(freed)}), {_size(kept)} kept")


def _main_rev(ctx: app.Context, main: str | None) -> str:
    if main:
        return main
    from pipeline.source import open_repository

    repo = open_repository(ctx.repo)
    return "main" if "refs/heads/main" in repo.references else "HEAD"


@cli.command()
@click.option("--main", "main", metavar="REV", help="The source branch (default: main, or HEAD).")
@click.option("--remote", metavar="NAME|URL", help="Read the branches of this remote.")
@click.pass_obj
def status(ctx: app.Context, main: str | None, remote: str | None) -> None:
    """Show each environment branch: its source commit, when it was published, its
    clusters, and how many commits the source branch is ahead of it."""
    from pipeline import status as status_mod

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
            what = (f"published {_ago(h.time)} as {_short(h.commit)}" if h.by_hydrate else
                    f"head {_short(h.commit)} committed by hand {_ago(h.time)} "
                    f"(\"{h.subject}\")")
            click.echo(f"{row.env:<10} {row.branch:<14} {_short(h.source)} {subject}")
            where = ("retired: not in fleet/environments.yaml" if row.retired
                     else _lineage(row, rev))
            click.echo(f"{pad} {what}, {h.clusters} clusters ({row.agent}); {where}")
            if row.retired:
                click.echo(f"{pad} agents reading this branch still apply it: point them "
                           "elsewhere, then delete the branch")
        if row.drift:
            n = len(row.drift)
            click.echo(f"{pad} drift: {counted(n, 'cluster')} edited on the branch "
                       f"({', '.join(row.drift[:10])}{' …' if n > 10 else ''}); the next "
                       "publish restores them")
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
@click.option("--remote", metavar="NAME|URL", help="Read the branch of this remote.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_obj
def history(ctx: app.Context, env: str, remote: str | None, limit: int) -> None:
    """List the publishes of an environment branch, newest first: when, the branch
    commit, the source commit and what changed."""
    from pipeline import status as status_mod

    for entry in status_mod.history(ctx, env, _main_rev(ctx, None), remote, limit):
        when = entry.time.strftime("%Y-%m-%d %H:%M")
        click.echo(f"{when}  {_short(entry.commit)}  source {_short(entry.source)}  "
                   f"{entry.subject.split(': ', 1)[-1]}")
        if entry.changed:
            click.echo(f"{'':<18}{entry.changed}")


@cli.command()
@click.option("--env", "env", required=True, metavar="ENV", help="The environment.")
@click.option("--cluster", metavar="CLUSTER",
              help="One cluster (required for Flux). Argo CD without it: an ApplicationSet.")
@click.option("--repo-url", metavar="URL",
              help="URL agents clone the branches from. Default: the origin remote's URL.")
@click.option("--destination", metavar="NAME",
              help="Argo CD: the destination cluster's name (default: the in-cluster server).")
@click.option("--secret", metavar="NAME", help="Flux: secret with the git credentials.")
@click.pass_obj
def bootstrap(ctx: app.Context, env: str, cluster: str | None, repo_url: str | None,
              destination: str | None, secret: str | None) -> None:
    """Print what an operator applies once so the agent follows an env branch.

    Argo CD: an Application for --cluster, or an ApplicationSet with a git directory
    generator over clusters/* for the whole environment. Flux: a GitRepository on the
    env branch and the root Kustomization of the cluster's directory. Options the
    environment's agent does not use are refused.
    """
    try:
        text = app.bootstrap(ctx, app.BootstrapOptions(env, cluster, repo_url, destination,
                                                       secret))
    except app.OptionError as e:
        raise click.UsageError(str(e)) from None
    click.echo(text, nl=False)


def _crash(error: BaseException) -> NoReturn:
    fd, path = tempfile.mkstemp(prefix="hydrate-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(f"hydrate {__version__}\nargv: {sys.argv}\n\n")
        traceback.print_exception(error, file=f)
    click.echo(f"hydrate: internal error: {type(error).__name__}: {error}\n"
               f"  the traceback is in {path}; please report it", err=True)
    sys.exit(3)


class _Terminated(KeyboardInterrupt):
    """SIGTERM: stop as for Ctrl-C (what is being written is finished or rolled back)."""


def _terminate(_signum: int, _frame: object) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `hydrate` console script."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=argv, prog_name="hydrate", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:
        click.echo("hydrate: interrupted", err=True)
        sys.exit(143 if isinstance(e.__cause__, _Terminated) else 130)
    except PipelineError as e:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K")
        click.echo(f"hydrate: error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt as e:
        click.echo("hydrate: interrupted", err=True)
        sys.exit(143 if isinstance(e, _Terminated) else 130)
    except Exception as e:
        _crash(e)
