"""The `hydrate` command line: flags → a frozen options object → one core function.

Reports go to stdout, progress and errors to stderr. Exit status: 0 success, 1 an error
hydrate explains (one line), 2 a usage error, 3 a crash (traceback saved to a file).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from pipeline import __version__, app, graphview
from pipeline.errors import PipelineError

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
@click.version_option(__version__, prog_name="hydrate")
@click.pass_context
def cli(ctx: click.Context, repo: Path) -> None:
    """Render dry GitOps configuration into hydrated manifests per cluster.

    hydrate reads the fleet inventory (fleet/), the packages (bases/) and their overlays
    (overlays/), renders each distinct input once with helm and kustomize, and writes
    plain YAML per cluster.
    """
    ctx.obj = app.Context(repo=repo.resolve(), environ=dict(os.environ),
                          progress=_progress(sys.stderr))


@cli.command()
@env_option
@cluster_option
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("rendered"),
              show_default=True, help="Output directory (relative to --repo).")
@jobs_option
@click.pass_obj
def render(ctx: app.Context, envs: tuple[str, ...], clusters: tuple[str, ...], out: Path,
           jobs: int) -> None:
    """Render hydrated manifests to OUT/<environment>/<cluster>/.

    Each cluster directory holds a kustomization.yaml listing one directory per package,
    each with one file per object. Selected clusters are replaced as a whole; when an
    environment is rendered in full, clusters no longer in the inventory are removed.
    Nothing is written unless every selected cluster renders.
    """
    report = app.render_to_dir(ctx, app.RenderOptions(envs, clusters, out, jobs))
    s = report.stats
    runs = ", ".join(f"{tool} {n}" for tool, n in sorted(s.tool_runs.items())) or "none"
    shown = report.out.relative_to(ctx.repo) if report.out.is_relative_to(ctx.repo) else report.out
    click.echo(f"rendered {s.clusters} clusters ({', '.join(report.envs)}) into {shown}/")
    click.echo(f"  packages  {s.packages} ({s.pairs} cluster×package renders)")
    click.echo(f"  objects   {s.objects:,}")
    click.echo(f"  inputs    {s.distinct} distinct → {sum(s.tool_runs.values())} tool runs ({runs})")
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
    result = app.render_fleet(ctx, tree, inv, (), (cluster,) if cluster else (), jobs)
    if cluster:
        c = inv.cluster(cluster)
        title = f"cluster {c.name} (class {c.class_name}, site {c.site}, environment {c.environment})"
    else:
        title = f"fleet: {len(result.clusters)} clusters"
    click.echo(graphview.FORMATS[fmt](graphview.view(result.clusters, title)), nl=False)


def _crash(error: BaseException) -> NoReturn:
    fd, path = tempfile.mkstemp(prefix="hydrate-crash-", suffix=".log")
    with os.fdopen(fd, "w") as f:
        f.write(f"hydrate {__version__}\nargv: {sys.argv}\n\n")
        traceback.print_exception(error, file=f)
    click.echo(f"hydrate: internal error: {type(error).__name__}: {error}\n"
               f"  the traceback is in {path}; please report it", err=True)
    sys.exit(3)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `hydrate` console script."""
    try:
        cli.main(args=argv, prog_name="hydrate", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("hydrate: interrupted", err=True)
        sys.exit(130)
    except PipelineError as e:
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[K")
        click.echo(f"hydrate: error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("hydrate: interrupted", err=True)
        sys.exit(130)
    except Exception as e:
        _crash(e)
