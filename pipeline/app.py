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
from pipeline.cache import Cache, open_cache
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
    cache_dir: Path | None = None  # None: HYDRATE_CACHE_DIR or the user cache directory
    use_cache: bool = True

    def tree(self) -> DirTree:
        return DirTree(self.repo)

    def cache(self) -> Cache:
        """The tool-output cache for this invocation (open once, share between renders)."""
        return open_cache(self.environ, self.cache_dir, self.use_cache)


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
                 clusters: tuple[str, ...], jobs: int,
                 cache: Cache | None = None) -> tuple[render.FleetRender, Toolset]:
    """Render the selected clusters of `inv` (read from `tree`) in a private workdir."""
    selected = inv.select(envs, clusters)
    with tempfile.TemporaryDirectory(prefix="hydrate-") as workdir:
        tools = discover(ctx.environ, Path(workdir))
        result = render.render(tree, inv, selected, tools, jobs=jobs, workdir=Path(workdir),
                               progress=ctx.progress,
                               cache=cache if cache is not None else ctx.cache())
        return result, tools


def render_to_dir(ctx: Context, opts: RenderOptions) -> RenderReport:
    """`hydrate render`: render the working tree's fleet into `opts.out`."""
    tree = ctx.tree()
    inv = inventory_mod.load(tree)
    result, _ = render_fleet(ctx, tree, inv, opts.envs, opts.clusters, opts.jobs)
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



@dataclass(frozen=True)
class BootstrapOptions:
    env: str
    cluster: str | None = None
    repo_url: str | None = None
    destination: str | None = None  # Argo CD: cluster name; default the in-cluster server
    secret: str | None = None  # Flux: secret with the git credentials


def bootstrap(ctx: Context, opts: BootstrapOptions) -> str:
    """`hydrate bootstrap`: the objects an operator applies once, as YAML."""
    from pipeline import agents, yamlio
    from pipeline.errors import PipelineError
    from pipeline.publish import source_url
    from pipeline.source import open_repository

    _, inv = load_inventory(ctx)
    env = inv.environment(opts.env)
    cluster = inv.cluster(opts.cluster) if opts.cluster else None
    if cluster is not None and cluster.environment != env.name:
        raise PipelineError(f"cluster {cluster.name} is in environment {cluster.environment}, "
                            f"not {env.name}")
    url = opts.repo_url or source_url(open_repository(ctx.repo))
    if env.agent == "flux":
        if cluster is None:
            raise PipelineError(f"environment {env.name} is applied by Flux, which runs in each "
                                "cluster: give --cluster")
        docs = agents.flux_source_and_root(env, cluster.name, url, opts.secret)
    elif cluster is None:
        docs = [agents.argocd_applicationset(env, url)]
    else:
        dest = ({"name": opts.destination} if opts.destination
                else {"server": "https://kubernetes.default.svc"})
        docs = [agents.argocd_application(env, cluster.name, url, dest)]
    return yamlio.dump_all(docs)
