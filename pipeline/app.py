"""One core function per command. The CLI builds the options and prints the result;
nothing here knows about click."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline import inventory as inventory_mod
from pipeline import output, render
from pipeline.inventory import Inventory
from pipeline.source import DirTree, Tree
from pipeline.tools import Toolset, discover

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Context:
    """What every command needs from the outside world, passed in (never global)."""

    repo: Path
    environ: Mapping[str, str]
    progress: Progress | None = None

    def tree(self) -> DirTree:
        return DirTree(self.repo)


@dataclass(frozen=True)
class RenderOptions:
    envs: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    out: Path = Path("rendered")
    jobs: int = os.cpu_count() or 1


@dataclass(frozen=True)
class RenderReport:
    out: Path
    envs: tuple[str, ...]
    stats: render.Stats


def render_fleet(ctx: Context, tree: Tree, inv: Inventory, envs: tuple[str, ...],
                 clusters: tuple[str, ...], jobs: int) -> render.FleetRender:
    """Render the selected clusters of `inv` (read from `tree`) in a private workdir."""
    selected = inv.select(envs, clusters)
    with tempfile.TemporaryDirectory(prefix="hydrate-") as workdir:
        tools = discover(ctx.environ, Path(workdir))
        return render.render(tree, inv, selected, tools, jobs=jobs, workdir=Path(workdir),
                             progress=ctx.progress)


def render_to_dir(ctx: Context, opts: RenderOptions) -> RenderReport:
    """`hydrate render`: render the working tree's fleet into `opts.out`."""
    tree = ctx.tree()
    inv = inventory_mod.load(tree)
    result = render_fleet(ctx, tree, inv, opts.envs, opts.clusters, opts.jobs)
    out = opts.out if opts.out.is_absolute() else ctx.repo / opts.out
    full_envs = [e for e in inv.env_names if not opts.clusters and (not opts.envs or e in opts.envs)]
    prune = {e: {c.name for c in inv.clusters.values() if c.environment == e} for e in full_envs}
    known = set(inv.env_names) if not opts.envs and not opts.clusters else None
    output.write(out, result.clusters, prune_envs=prune, known_envs=known)
    envs = tuple(e for e in inv.env_names if any(r.cluster.environment == e for r in result.clusters))
    return RenderReport(out, envs, result.stats)


def load_inventory(ctx: Context) -> tuple[Tree, Inventory]:
    tree = ctx.tree()
    return tree, inventory_mod.load(tree)


def tools_for(ctx: Context, workdir: Path) -> Toolset:
    return discover(ctx.environ, workdir)
