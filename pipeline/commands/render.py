"""`hydrate render` (the working tree's fleet, or a commit's, into a directory) and
`hydrate affected` (the pairs a change touches)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Cluster, Inventory
from pipeline.config.source import DirTree, Tree, config_root, open_repository, tree_at
from pipeline.render import affected as affected_mod
from pipeline.render import engine
from pipeline.render import shard as shard_mod
from pipeline.render.cache import Cache
from pipeline.render.materialise import Materialiser
from pipeline.render.tools import Toolset
from pipeline.sinks import output
from pipeline.validate import gate
from pipeline.validate.findings import Report
from pipeline.version import engine_digest


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
class Rendered:
    fleet: engine.FleetRender
    tools: Toolset
    validation: Report | None  # None: not validated


@dataclass(frozen=True)
class RenderReport:
    out: Path
    envs: tuple[str, ...]
    stats: engine.Stats
    written: output.Written
    validation: Report | None = None
    false_checks: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


def render_fleet(ctx: Context, tree: Tree, inv: Inventory, envs: tuple[str, ...],
                 clusters: tuple[str, ...], jobs: int, cache: Cache | None = None,
                 shard: str | None = None, tools: Toolset | None = None,
                 validate: bool = True) -> Rendered:
    """Render the selected clusters of `inv` (read from `tree`) in a private workdir;
    with `shard` ("i/N"), only that shard of them. `tools`: already discovered ones.
    `validate`: check the result (ValidationError on error findings, see validate.gate)."""
    selected: Sequence[Cluster] = inv.select(envs, clusters)
    cache = cache if cache is not None else ctx.cache()
    # The policy and the classes' versions are checked before any work.
    validator = gate.validator(tree, inv, cache, ctx.environ) if validate else None
    with tempfile.TemporaryDirectory(prefix="hydrate-") as workdir:
        if tools is None:
            tools = ctx.tools()
        if shard is not None:
            selected = shard_mod.select(inv, selected, Materialiser(tree, inv, tools), shard)
        result = engine.render(tree, inv, selected, tools, jobs=jobs, workdir=Path(workdir),
                               environ=ctx.environ, progress=ctx.progress, cache=cache)
    report = None
    if validator is not None:
        report = gate.enforce(validator.run(result.clusters,
                                            whole_fleet=len(selected) == len(inv.clusters)), ctx.warn)
    return Rendered(result, tools, report)


def render_to_dir(ctx: Context, opts: RenderOptions) -> RenderReport:
    """`hydrate render`: render the working tree's fleet (or a commit's) into `opts.out`."""
    out = opts.out if opts.out.is_absolute() else ctx.repo / opts.out
    output.claim(out, protect=(ctx.repo,))  # before the work, and again when writing
    tree: Tree = ctx.tree()
    source: dict[str, Any] = {"tree": "working tree", "commit": None}
    if opts.source is not None:
        repo = open_repository(ctx.repo)
        tree = tree_at(repo, opts.source, config_root(repo, ctx.repo))
        source = {"tree": tree.label, "commit": str(tree.commit.id)}
    cache = ctx.cache()
    inv = inventory_mod.load(tree, memo=cache)
    rendered = render_fleet(ctx, tree, inv, opts.envs, opts.clusters, opts.jobs, cache=cache,
                            shard=opts.shard)
    result, tools = rendered.fleet, rendered.tools
    whole = not opts.clusters and opts.shard is None
    full_envs = [e for e in inv.env_names if whole and (not opts.envs or e in opts.envs)]
    prune = {e: {c.name for c in inv.clusters.values() if c.environment == e} for e in full_envs}
    known = set(inv.env_names) if whole and not opts.envs else None
    meta = {"source": source, "shard": opts.shard, "engine": engine_digest(),
            "tools": {"helm": tools.helm.version, "kustomize": tools.kustomize.version}}
    written = output.write(out, result.clusters, prune_envs=prune, known_envs=known, meta=meta,
                           lock_timeout=opts.lock_timeout, warn=ctx.warn, protect=(ctx.repo,))
    if isinstance(tree, DirTree) and ctx.warn is not None:
        for line in left_out(tree):
            ctx.warn(line)
    envs = tuple(e for e in inv.env_names if any(r.cluster.environment == e for r in result.clusters))
    return RenderReport(out, envs, result.stats, written, rendered.validation, result.false_checks)


def false_checks(found: Mapping[tuple[str, str], tuple[str, ...]]) -> list[str]:
    """The capability checks charts made that their clusters leave false, for people:
    one line per package and API version, with the clusters."""
    by: dict[tuple[str, str], list[str]] = {}
    for (cluster, package), apis in sorted(found.items()):
        for api in apis:
            by.setdefault((package, api), []).append(cluster)
    lines = []
    for (package, api), clusters in sorted(by.items()):
        shown = ", ".join(clusters[:3]) + (f" and {len(clusters) - 3} more" if len(clusters) > 3 else "")
        lines.append(f"{package}: .Capabilities.APIVersions.Has {api!r} is false on {shown} "
                     "(what it gates is not rendered; declare it in apiVersions if they serve it)")
    return lines


_LEFT_OUT_SHOWN = 8


def left_out(tree: DirTree) -> list[str]:
    """What the render did not read because git ignores it (a commit would not hold it),
    each with the ignore rule: one line each, at most a few."""
    paths = list(tree.left_out)
    lines = [f"{path}: ignored by git ({tree.ignored_by(path) or 'core.excludesFile'}), "
             "so not an input: hydrate renders what a commit of the working tree holds"
             for path in paths[:_LEFT_OUT_SHOWN]]
    if len(paths) > _LEFT_OUT_SHOWN:
        lines.append(f"and {len(paths) - _LEFT_OUT_SHOWN} more paths ignored by git")
    return lines


def affected(ctx: Context, base: str, head: str, envs: tuple[str, ...] = (),
             clusters: tuple[str, ...] = ()) -> affected_mod.Affected:
    """`hydrate affected`: the pairs a change from `base` to `head` touches."""
    repo = open_repository(ctx.repo)
    root = config_root(repo, ctx.repo)
    return affected_mod.compute(tree_at(repo, base, root), tree_at(repo, head, root),
                                ctx.tools(), envs=envs, clusters=clusters)
