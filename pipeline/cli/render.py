"""`hydrate render` and `affected`: rendering the fleet, and what a change touches."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.group import cli, cluster_option, env_option, jobs_option
from pipeline.commands.context import Context
from pipeline.words import counted


def _shard_spec(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """--shard i/N, checked where it is given: a bad one is a usage error."""
    from pipeline.render import shard as shard_mod

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
              show_default=True, help="Output directory (relative to --repo): new, empty, or "
                                      "one hydrate render wrote (it has .hydrate-render); "
                                      "never the repository or a link.")
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
def render(ctx: Context, envs: tuple[str, ...], clusters: tuple[str, ...], out: Path,
           source: str | None, shard: str | None, lock_timeout: float, jobs: int) -> None:
    """Render hydrated manifests to OUT/<environment>/<cluster>/.

    Each cluster directory holds a kustomization.yaml listing one directory per package,
    each with one file per object. Selected clusters are replaced as a whole; when an
    environment is rendered in full, clusters no longer in the inventory are removed.
    Nothing is written unless every selected cluster renders. Cluster directories that
    differ from the render (edited or deleted by hand, left by an interrupted render)
    are rewritten; one hydrate at a time writes to OUT.
    """
    from pipeline.commands import render as render_mod

    report = render_mod.render_to_dir(ctx, render_mod.RenderOptions(envs, clusters, out, jobs, source, shard,
                                                      lock_timeout))
    s = report.stats
    runs = ", ".join(f"{tool} {n}" + (f" in {counted(s.processes[tool], 'process', 'processes')}"
                                      if s.processes[tool] < n else "")
                     for tool, n in sorted(s.tool_runs.items())) or "none"
    shown = report.out.relative_to(ctx.repo) if report.out.is_relative_to(ctx.repo) else report.out
    w = report.written
    same = f", {len(w.unchanged)} unchanged" if w.unchanged else ""
    gone = f", {len(w.removed)} removed" if w.removed else ""
    click.echo(f"rendered {counted(s.clusters, 'cluster')} ({', '.join(report.envs)}) into {shown}/: "
               f"{len(w.written)} written{same}{gone}")
    click.echo(f"  packages  {s.packages} ({counted(s.pairs, 'cluster×package render')})")
    click.echo(f"  objects   {s.objects:,}")
    cached = f", {s.cache_hits} from the cache" if s.cache_hits else ""
    click.echo(f"  inputs    {s.distinct} distinct → {counted(sum(s.tool_runs.values()), 'tool run')} "
               f"({runs}){cached}")
    v = report.validation
    if v is not None:
        from_cache = f", {v.cached} of {counted(v.outputs, 'output')} from the cache" if v.cached else ""
        click.echo(f"  checks    {counted(len(v.errors), 'error')}, {counted(len(v.warnings), 'warning')} "
                   f"({counted(v.objects, 'distinct object')} in {v.seconds:.2f}s"
                   f"{from_cache})")
    for line in render_mod.false_checks(report.false_checks):
        click.echo(f"  capabilities  {line}")
    click.echo(f"  time      {s.seconds:.2f}s")


@cli.command()
@click.option("--base", required=True, metavar="REV", help="The revision before the change.")
@click.option("--head", default="HEAD", show_default=True, metavar="REV",
              help="The revision with the change.")
@env_option
@cluster_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.pass_obj
def affected(ctx: Context, base: str, head: str, envs: tuple[str, ...],
             clusters: tuple[str, ...], fmt: str) -> None:
    """List the (cluster, package) renders a change touches, and why.

    A pair is affected when its render input (files after Jinja2, merged values, chart,
    arguments, tool versions) differs between BASE and HEAD, or when it exists on one
    side only. Each line names the changed files that reach it. No tool runs.
    """
    import json as json_mod

    from pipeline.commands import render as render_mod

    found = render_mod.affected(ctx, base, head, envs, clusters)
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
    click.echo(f"{counted(len(found.pairs), 'render')} on {len(found.clusters)} of "
               f"{counted(found.total, 'cluster')} affected ({counted(len(found.paths), 'path')} "
               f"changed, {counted(found.candidates, 'cluster')} examined)", err=True)
