"""One core function per command. The CLI builds the options and prints the result;
nothing here knows about click."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import inventory as inventory_mod
from pipeline import output, render
from pipeline import shard as shard_mod
from pipeline.cache import Cache, default_dir, open_cache
from pipeline.errors import PipelineError
from pipeline.inventory import Cluster, Environment, Inventory
from pipeline.materialise import Materialiser
from pipeline.source import DirTree, Tree
from pipeline.tools import Toolset, discover
from pipeline.version import engine_digest

if TYPE_CHECKING:
    import pygit2

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Context:
    """What every command needs from the outside world, passed in (never global)."""

    repo: Path
    environ: Mapping[str, str]
    progress: Progress | None = None
    cache_dir: Path | None = None  # None: HYDRATE_CACHE_DIR or the user cache directory
    use_cache: bool = True
    warn: Callable[[str], None] | None = None  # a problem worked around (e.g. no cache)

    def tree(self) -> DirTree:
        return DirTree(self.repo)

    def cache(self) -> Cache:
        """The tool-output cache for this invocation (open once, share between renders)."""
        return open_cache(self.environ, self.cache_dir, self.use_cache, warn=self.warn)

    def tools_memo(self) -> Path | None:
        """Where tool versions are remembered (in the cache directory), if caching."""
        if not self.use_cache:
            return None
        return (self.cache_dir or default_dir(self.environ)) / "tools.json"


@dataclass(frozen=True)
class RenderOptions:
    envs: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    out: Path = Path("rendered")
    jobs: int = os.cpu_count() or 1
    source: str | None = None  # a commit to render instead of the working tree
    shard: str | None = None  # "i/N": only this shard of the selected clusters
    lock_timeout: float = output.DEFAULT_LOCK_TIMEOUT  # waiting for another writer of `out`


@dataclass(frozen=True)
class RenderReport:
    out: Path
    envs: tuple[str, ...]
    stats: render.Stats
    written: output.Written


def render_fleet(ctx: Context, tree: Tree, inv: Inventory, envs: tuple[str, ...],
                 clusters: tuple[str, ...], jobs: int, cache: Cache | None = None,
                 shard: str | None = None,
                 tools: Toolset | None = None) -> tuple[render.FleetRender, Toolset]:
    """Render the selected clusters of `inv` (read from `tree`) in a private workdir;
    with `shard` ("i/N"), only that shard of them. `tools`: already discovered ones."""
    selected: Sequence[Cluster] = inv.select(envs, clusters)
    with tempfile.TemporaryDirectory(prefix="hydrate-") as workdir:
        if tools is None:
            tools = discover(ctx.environ, Path(workdir), ctx.tools_memo())
        if shard is not None:
            selected = shard_mod.select(inv, selected, Materialiser(tree, inv, tools), shard)
        result = render.render(tree, inv, selected, tools, jobs=jobs, workdir=Path(workdir),
                               progress=ctx.progress,
                               cache=cache if cache is not None else ctx.cache())
        return result, tools


def render_to_dir(ctx: Context, opts: RenderOptions) -> RenderReport:
    """`hydrate render`: render the working tree's fleet (or a commit's) into `opts.out`."""
    tree: Tree = ctx.tree()
    source: dict[str, Any] = {"tree": "working tree", "commit": None}
    if opts.source is not None:
        from pipeline.source import config_root, open_repository, tree_at

        repo = open_repository(ctx.repo)
        tree = tree_at(repo, opts.source, config_root(repo, ctx.repo))
        source = {"tree": tree.label, "commit": str(tree.commit.id)}
    inv = inventory_mod.load(tree)
    result, tools = render_fleet(ctx, tree, inv, opts.envs, opts.clusters, opts.jobs,
                                 shard=opts.shard)
    out = opts.out if opts.out.is_absolute() else ctx.repo / opts.out
    whole = not opts.clusters and opts.shard is None
    full_envs = [e for e in inv.env_names if whole and (not opts.envs or e in opts.envs)]
    prune = {e: {c.name for c in inv.clusters.values() if c.environment == e} for e in full_envs}
    known = set(inv.env_names) if whole and not opts.envs else None
    meta = {"source": source, "shard": opts.shard, "engine": engine_digest(),
            "tools": {"helm": tools.helm.version, "kustomize": tools.kustomize.version}}
    written = output.write(out, result.clusters, prune_envs=prune, known_envs=known, meta=meta,
                           lock_timeout=opts.lock_timeout, warn=ctx.warn)
    envs = tuple(e for e in inv.env_names if any(r.cluster.environment == e for r in result.clusters))
    return RenderReport(out, envs, result.stats, written)


def load_inventory(ctx: Context) -> tuple[Tree, Inventory]:
    tree = ctx.tree()
    return tree, inventory_mod.load(tree)



class OptionError(PipelineError):
    """A flag that does not apply, or one that is missing: the CLI shows it as a usage
    error (exit 2)."""


@dataclass(frozen=True)
class BootstrapOptions:
    env: str
    cluster: str | None = None
    repo_url: str | None = None
    destination: str | None = None  # Argo CD: cluster name; default the in-cluster server
    secret: str | None = None  # Flux: secret with the git credentials


def _agent_options(env: Environment, opts: BootstrapOptions) -> None:
    """Refuse the options `env`'s agent would silently ignore."""
    if env.agent == "flux":
        if opts.cluster is None:
            raise OptionError(f"environment {env.name} is applied by Flux, which runs in each "
                              "cluster: give --cluster")
        if opts.destination:
            raise OptionError(f"--destination is for Argo CD; environment {env.name} is applied "
                              "by Flux, which runs in the cluster it applies to")
    elif opts.secret:
        raise OptionError(f"--secret is for Flux; environment {env.name} is applied by Argo CD, "
                          "which takes git credentials from its own repository secrets "
                          "(argocd repo add)")


def agent_url(repo: pygit2.Repository) -> str:
    """The URL agents clone env branches from: the origin remote's, if agents can reach it."""
    from pipeline.remote import is_ssh, redact

    url = repo.remotes["origin"].url if "origin" in repo.remotes.names() else None
    if not url:
        raise OptionError("no --repo-url, and the repository has no origin remote: give "
                          "--repo-url URL, the URL agents clone the env branches from")
    if not is_ssh(url) and ("://" not in url or url.startswith("file://")):
        raise OptionError(f"the origin remote is a local path ({url}), which agents in the "
                          "clusters cannot clone: give --repo-url URL")
    return redact(url)


def bootstrap(ctx: Context, opts: BootstrapOptions) -> str:
    """`hydrate bootstrap`: the objects an operator applies once, as YAML."""
    from pipeline import agents, yamlio
    from pipeline.source import open_repository

    _, inv = load_inventory(ctx)
    env = inv.environment(opts.env)
    cluster = inv.cluster(opts.cluster) if opts.cluster else None
    if cluster is not None and cluster.environment != env.name:
        raise PipelineError(f"cluster {cluster.name} is in environment {cluster.environment}, "
                            f"not {env.name}")
    _agent_options(env, opts)
    url = opts.repo_url or agent_url(open_repository(ctx.repo))
    if env.agent == "flux":
        assert cluster is not None  # _agent_options asks for it
        docs = agents.flux_source_and_root(env, cluster.name, url, opts.secret)
    elif cluster is None:
        docs = [agents.argocd_applicationset(env, url)]
    else:
        dest = ({"name": opts.destination} if opts.destination
                else {"server": "https://kubernetes.default.svc"})
        docs = [agents.argocd_application(env, cluster.name, url, dest)]
    return yamlio.dump_all(docs)


def affected(ctx: Context, base: str, head: str, envs: tuple[str, ...] = (),
             clusters: tuple[str, ...] = ()) -> Any:
    """`hydrate affected`: the pairs a change from `base` to `head` touches."""
    from pipeline import affected as affected_mod
    from pipeline.source import config_root, open_repository, tree_at

    repo = open_repository(ctx.repo)
    root = config_root(repo, ctx.repo)
    with tempfile.TemporaryDirectory(prefix="hydrate-") as workdir:
        tools = discover(ctx.environ, Path(workdir), ctx.tools_memo())
        return affected_mod.compute(tree_at(repo, base, root), tree_at(repo, head, root), tools,
                                    envs=envs, clusters=clusters)
