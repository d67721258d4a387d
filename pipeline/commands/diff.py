"""`hydrate diff`, the command: render (or read) both sides and compare them.

Both revisions are rendered from git objects (never the working tree) through one cache.
Only clusters whose inputs differ between the sides (`affected`) are rendered at all;
the others are counted as unchanged. `--against-branch` reads the base from what the
environment branches hold.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pygit2

from pipeline.access import changes as access_changes
from pipeline.access import fleet as access_fleet
from pipeline.commands.access import locator
from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Cluster, Inventory
from pipeline.config.source import GitTree, config_root, open_repository, tree_at
from pipeline.errors import GitError, PipelineError
from pipeline.render import affected, engine, kinds
from pipeline.render.cache import MemoryCache, NoCache
from pipeline.render.resources import ResId
from pipeline.render.tools import Toolset
from pipeline.review import risks
from pipeline.review.diff import ClusterRef, ClusterSide, DiffResult, Key, Obj, Revision, compare
from pipeline.review.redact import Redactor
from pipeline.sinks import branch, ledger
from pipeline.sinks.remote import Remote
from pipeline.validate import findings, gate
from pipeline.validate.findings import Report


def _identify(objects: Sequence[Obj]) -> dict[Key, Obj]:
    """Identities of one cluster's objects read back from files: a cluster-scoped object
    (built-in, or by a CRD among them) has no namespace, as in `Resource.id`."""
    scopes: dict[tuple[str, str], bool] = {}
    for o in objects:
        if o.body.get("kind") == "CustomResourceDefinition":
            spec = o.body.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            scopes[(str(spec.get("group")), str(kind))] = spec.get("scope") != "Cluster"
    found: dict[Key, Obj] = {}
    for o in objects:
        rid = ResId.of(o.body)
        namespaced = kinds.is_namespaced(rid.group, rid.kind, scopes)
        found[(rid.group, rid.kind, rid.namespace if namespaced else "", rid.name)] = o
    return found



# --- the sides ------------------------------------------------------------------------

def side_of_render(fleet: engine.FleetRender) -> dict[tuple[str, str], ClusterSide]:
    return {(r.cluster.environment, r.cluster.name): ClusterSide(r.cluster.class_name, {
        (res.id.group, res.id.kind, res.id.namespace, res.id.name): Obj(pkg.name, res.text)
        for pkg in r.packages for res in pkg.resources}) for r in fleet.clusters}


def _subtree(repo: pygit2.Repository, oid: pygit2.Oid) -> pygit2.Tree:
    return repo[oid].peel(pygit2.Tree)


def side_of_branch(repo: pygit2.Repository, commit: pygit2.Commit, env: str,
                   clusters: Iterable[str] = ()) -> dict[tuple[str, str], ClusterSide]:
    """The objects an env branch commit holds, per cluster."""
    wanted = set(clusters)
    led = ledger.read(repo, commit)
    classes = led.clusters if led is not None else {}
    found: dict[tuple[str, str], ClusterSide] = {}
    if "clusters" not in commit.tree:
        return found
    for entry in _subtree(repo, commit.tree["clusters"].id):
        name = entry.name or ""
        if wanted and name not in wanted:
            continue
        loaded: list[Obj] = []
        for pkg in _subtree(repo, entry.id):
            if pkg.filemode != pygit2.enums.FileMode.TREE or pkg.name == "_flux":
                continue
            for item in _subtree(repo, pkg.id):
                if item.name == "kustomization.yaml" or not (item.name or "").endswith(".yaml"):
                    continue
                loaded.append(Obj(pkg.name or "", repo[item.id].peel(pygit2.Blob).data))
        objects = _identify(loaded)
        info = classes.get(name)
        found[(env, name)] = ClusterSide(info.cls or "?" if info else "?", objects)
    return found


# --- running it ------------------------------------------------------------------------

@dataclass(frozen=True)
class DiffOptions:
    base: str | None = None
    head: str = "HEAD"
    envs: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    against_branch: bool = False
    remote: str | None = None
    jobs: int = 1


def _revision(rev: str, commit: pygit2.Commit) -> Revision:
    subject = commit.message.splitlines()[0] if commit.message else ""
    return Revision(rev, str(commit.id), subject)


def _selected(inv: Inventory, opts: DiffOptions) -> list[Cluster]:
    for env in opts.envs:
        inv.environment(env)
    return [c for c in inv.clusters.values()
            if (not opts.envs or c.environment in opts.envs)
            and (not opts.clusters or c.name in opts.clusters)]


def _render_side(ctx: Context, tree: GitTree, inv: Inventory, tools: Toolset,
                 opts: DiffOptions, cache: Any, workdir: Path, stats: dict[str, int],
                 only: set[str] | None = None
                 ) -> tuple[dict[tuple[str, str], ClusterSide], Report, tuple[engine.ClusterRender, ...]]:
    """One side's objects per cluster, what validation finds in them (never raised: a
    diff shows the findings a change brings), and the rendered clusters."""
    chosen = [c for c in _selected(inv, opts) if only is None or c.name in only]
    workdir.mkdir(parents=True, exist_ok=True)
    fleet = engine.render(tree, inv, chosen, tools, jobs=opts.jobs, workdir=workdir,
                          environ=ctx.environ, progress=ctx.progress, cache=cache)
    stats["toolRuns"] = stats.get("toolRuns", 0) + sum(fleet.stats.tool_runs.values())
    stats["cacheHits"] = stats.get("cacheHits", 0) + fleet.stats.cache_hits
    stats["renders"] = stats.get("renders", 0) + fleet.stats.pairs
    report = gate.validator(tree, inv, cache, ctx.environ).run(fleet.clusters, whole_fleet=False)
    return side_of_render(fleet), report, fleet.clusters


def run(ctx: Context, opts: DiffOptions) -> DiffResult:
    """Render (or read) both sides and compare them; a render failure is reported in
    the result (`error`), not raised."""
    repo = open_repository(ctx.repo)
    root = config_root(repo, ctx.repo)
    head_tree = tree_at(repo, opts.head, root)
    head_rev = _revision(opts.head, head_tree.commit)
    cache = ctx.cache()
    if isinstance(cache, NoCache):
        cache = MemoryCache()  # the two sides still share their renders
    redactor = Redactor(ctx.environ.get("HYDRATE_DIFF_SALT", "").encode() or os.urandom(16))
    with tempfile.TemporaryDirectory(prefix="hydrate-diff-") as tmp:
        tools = ctx.tools()
        if opts.against_branch:
            return _against_branch(ctx, repo, head_tree, head_rev, opts, cache, tools, Path(tmp),
                                   redactor)
        if opts.base is None:
            raise PipelineError("give --base REV, or --against-branch")
        base_tree = tree_at(repo, opts.base, root)
        base_rev = _revision(opts.base, base_tree.commit)
        # Each side's inventory is loaded once; the base's failure shows as the base's.
        try:
            inv_base = inventory_mod.load(base_tree)
        except PipelineError as e:
            return DiffResult(base_rev, head_rev, error=f"base {opts.base} does not render: {e}")
        try:
            inv_head = inventory_mod.load(head_tree)
            only, untouched = _touched(base_tree, head_tree, inv_base, inv_head, tools, opts)
        except PipelineError as e:
            return DiffResult(base_rev, head_rev, error=f"head {opts.head} does not render: {e}")
        stats: dict[str, int] = {"clustersRendered": len(only)}
        try:
            base, base_report, base_renders = _render_side(ctx, base_tree, inv_base, tools, opts, cache,
                                             Path(tmp) / "base", stats, only)
        except PipelineError as e:
            return DiffResult(base_rev, head_rev, error=f"base {opts.base} does not render: {e}")
        try:
            head, head_report, head_renders = _render_side(ctx, head_tree, inv_head, tools, opts, cache,
                                             Path(tmp) / "head", stats, only)
        except PipelineError as e:
            return DiffResult(base_rev, head_rev, error=f"head {opts.head} does not render: {e}")
        added, removed = findings.changes(base_report.everything, head_report.everything)
        gained, lost = access_changes.compare(
            base_renders, head_renders, access_fleet.Analyzer(inv_base, locator(base_tree)),
            access_fleet.Analyzer(inv_head, locator(head_tree)))
        return replace(compare(base, head, base_rev, head_rev, redactor, inv_head.env_names,
                               untouched, _agents(inv_base), _moves(inv_base, inv_head)),
                       stats=stats, findings_added=added, findings_removed=removed,
                       access_gained=gained, access_lost=lost)


def _agents(inv: Inventory) -> dict[str, str]:
    return {e.name: e.agent for e in inv.environments}


def _moves(base: Inventory, head: Inventory) -> dict[str, risks.Move]:
    """Clusters whose `environment` the change sets to another environment."""
    before, after = _agents(base), _agents(head)
    return {name: risks.Move(name, old.environment, new.environment,
                             before.get(old.environment, "argocd"),
                             after.get(new.environment, "argocd"))
            for name, new in head.clusters.items()
            if (old := base.clusters.get(name)) is not None and old.environment != new.environment}


def _touched(base: GitTree, head: GitTree, inv_base: Inventory,
             inv_head: Inventory, tools: Toolset,
             opts: DiffOptions) -> tuple[set[str], list[ClusterRef]]:
    """Clusters whose inputs differ between the sides (only they need rendering), and the
    selected clusters that are untouched."""
    found = affected.compute(base, head, tools, envs=opts.envs, clusters=opts.clusters,
                             base_inventory=inv_base, head_inventory=inv_head)
    only = {c for _, c in found.clusters}
    selected = {c.name: c for inv in (inv_base, inv_head) for c in _selected(inv, opts)}
    untouched = [(c.environment, c.name, c.class_name) for name, c in sorted(selected.items())
                 if name not in only]
    return only, untouched


def _branch_head(repo: pygit2.Repository, name: str,
                 remote: Remote | None) -> tuple[pygit2.Commit | None, str]:
    """The head of branch `name` (the remote's, the local one, else a remote-tracking one)
    and how to call it."""
    if remote is not None:
        return remote.fetch(name), name
    found = branch.head(repo, name)
    if found is None:
        return None, name
    commit, ref = found
    return commit, ref.removeprefix("refs/heads/").removeprefix("refs/remotes/")


def _against_branch(ctx: Context, repo: pygit2.Repository, head_tree: GitTree, head_rev: Revision,
                    opts: DiffOptions, cache: Any, tools: Toolset, workdir: Path,
                    redactor: Redactor) -> DiffResult:
    inv = inventory_mod.load(head_tree)
    envs = [inv.environment(e) for e in opts.envs] or list(inv.environments)
    remote = ctx.remote(repo, opts.remote or None)
    base: dict[tuple[str, str], ClusterSide] = {}
    heads = []
    for env in envs:
        commit, label = _branch_head(repo, env.branch, remote)
        if commit is not None:
            problem = branch.foreign(repo, commit, env.name)
            if problem is not None:
                raise GitError(f"environment {env.name}: branch {label} is not a hydrate "
                               f"environment branch ({problem}); check the branch name in "
                               "fleet/environments.yaml")
            base.update(side_of_branch(repo, commit, env.name, opts.clusters))
        heads.append((env.name, label, str(commit.id) if commit is not None else ""))
    base_rev = Revision(", ".join(label for _, label, _ in heads),
                        heads[0][2] if len(heads) == 1 else "",
                        "what the environment branches hold", tuple(heads))
    narrowed = DiffOptions(opts.base, opts.head, tuple(e.name for e in envs), opts.clusters,
                           True, opts.remote, opts.jobs)
    stats: dict[str, int] = {}
    try:
        head, _, _ = _render_side(ctx, head_tree, inv, tools, narrowed, cache, workdir / "head", stats)
    except PipelineError as e:
        return DiffResult(base_rev, head_rev, error=f"head {opts.head} does not render: {e}")
    return replace(compare(base, head, base_rev, head_rev, redactor, inv.env_names,
                           agents=_agents(inv)), stats=stats)
