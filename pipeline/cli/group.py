"""The `hydrate` group, its global flags and what every command shares: the options
used by several commands, progress lines and warnings (text formatters: `pipeline.words`)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline import __version__
from pipeline.commands.context import Context

F = TypeVar("F", bound=Callable[..., Any])


def progress_line(stream: Any) -> Callable[[str, int, int], None] | None:
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
    ctx.obj = Context(repo=repo.resolve(), environ=dict(os.environ),
                          progress=progress_line(sys.stderr), cache_dir=cache_dir,
                          use_cache=not no_cache, warn=warner(sys.stderr))


def warner(stream: Any) -> Callable[[str], None]:
    """Prints each distinct warning once, on its own line (over a progress line)."""
    told: set[str] = set()

    def warn(message: str) -> None:
        if message in told:
            return
        told.add(message)
        clear = "\r\x1b[K" if stream.isatty() else ""
        click.echo(f"{clear}hydrate: warning: {message}", file=stream)

    return warn

