"""`hydrate publish`: render a source commit and commit it to environment branches.

The source is read from the object database (never the working tree). Each selected
environment gets one commit (or none, when nothing changed) built on its branch's head:
the remote's when `--remote` is given, the local branch's otherwise. Pushes are never
forced: a push that loses a race fetches the new head, rebuilds on it and tries again.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from pipeline import affected, agents, branch, fanin, output
from pipeline import inventory as inventory_mod
from pipeline.app import Context, render_fleet
from pipeline.cache import Cache
from pipeline.errors import GitError, PipelineError
from pipeline.inventory import Environment, Inventory
from pipeline.remote import Credentials, Remote, configure_tls, redact
from pipeline.render import ClusterRender, Stats
from pipeline.source import GitTree, inputs_digest, open_repository, tree_at
from pipeline.tools import Toolset, discover
from pipeline.version import engine_digest

MAX_ATTEMPTS = 6


@dataclass(frozen=True)
class PublishOptions:
    envs: tuple[str, ...] = ()  # empty: the first environment
    all_envs: bool = False
    source: str = "HEAD"
    remote: str | None = None
    push: bool = False
    jobs: int = 1
    author: str | None = None
    committer: str | None = None
    full: bool = False  # render every cluster, even those the change does not touch
    from_shards: tuple[Path, ...] = ()  # publish these `render --shard` outputs, no render


@dataclass(frozen=True)
class EnvResult:
    env: str
    branch: str
    commit: str | None  # the new commit, None if nothing changed
    head: str | None  # the branch head after the publish
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    blobs_written: int = 0
    clusters_reused: int = 0
    attempts: int = 1
    pushed: bool = False
    note: str = ""


@dataclass(frozen=True)
class PublishReport:
    source: str
    subject: str
    remote: str | None
    results: tuple[EnvResult, ...]
    stats: Stats
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def source_url(repo: pygit2.Repository) -> str:
    """Where the source lives, for provenance: origin's URL (redacted), else the path."""
    if "origin" in repo.remotes.names():
        url = repo.remotes["origin"].url
        if url:
            return redact(url)
    return (repo.workdir or repo.path).rstrip("/")


def select_envs(inv: Inventory, opts: PublishOptions) -> list[Environment]:
    if opts.all_envs:
        return list(inv.environments)
    if not opts.envs:
        return [inv.environments[0]]
    return [inv.environment(e) for e in dict.fromkeys(opts.envs)]


def cluster_output(render: ClusterRender, env: Environment) -> branch.ClusterOutput:
    files = agents.cluster_files(render, env)
    return branch.ClusterOutput(
        render.cluster.name, files, output.digest(files),
        {"class": render.cluster.class_name, "site": render.cluster.site,
         "objects": render.objects})


class Renders:
    """Renders clusters of the source commit on demand, each at most once per publish."""

    def __init__(self, ctx: Context, tree: GitTree, inv: Inventory, jobs: int,
                 cache: Cache, tools: Toolset) -> None:
        self._ctx, self._tree, self._inv, self._jobs, self._cache = ctx, tree, inv, jobs, cache
        self._tools = tools
        self._done: dict[str, ClusterRender] = {}
        self.stats: list[Stats] = []
        self.seconds = 0.0

    def get(self, names: Iterable[str]) -> dict[str, ClusterRender]:
        wanted = set(names)
        missing = sorted(wanted - set(self._done))
        if missing:
            start = time.monotonic()
            fleet, _ = render_fleet(self._ctx, self._tree, self._inv, (), tuple(missing),
                                    self._jobs, self._cache, tools=self._tools)
            self._done.update((r.cluster.name, r) for r in fleet.clusters)
            self.stats.append(fleet.stats)
            self.seconds += time.monotonic() - start
        return {n: self._done[n] for n in wanted}


@dataclass(frozen=True)
class Plan:
    """What one publish attempt renders, and what it takes from the branch as is."""

    render: frozenset[str]
    reuse: Mapping[str, tuple[pygit2.Oid, Mapping[str, Any]]]
    note: str  # why it is incremental or not, for the report


Since = Callable[[str], affected.Affected]  # source commit → what changed since it


def plan(repo: pygit2.Repository, base: pygit2.Commit | None, env: Environment,
         inv: Inventory, tools: Toolset, engine: str, full: bool, since: Since) -> Plan:
    """Re-render only the clusters the change since the branch's source touches; reuse the
    rest from the branch. Anything uncertain (no branch, other tool versions or hydrate,
    an unknown source commit, an unreadable source) means a full render."""
    names = frozenset(c.name for c in inv.clusters.values() if c.environment == env.name)
    everything = Plan(names, {}, "full render")
    if full or base is None:
        return everything if full else Plan(names, {}, "first publish")
    meta = branch.metadata_of(repo, base)
    versions = {"helm": tools.helm.version, "kustomize": tools.kustomize.version}
    recorded = meta.get("tools", {})
    if meta.get("engine") != engine or meta.get("agent") != env.agent or not isinstance(
            recorded, dict) or any(recorded.get(k) != v for k, v in versions.items()):
        return Plan(names, {}, "full render: tools or hydrate changed since the last publish")
    try:
        found = since(str(meta["source"]["commit"]))
    except (PipelineError, KeyError, TypeError):
        return Plan(names, {}, "full render: the branch's source commit is unknown here")
    touched = {c for e, c in found.clusters if e == env.name}
    subtrees = branch.subtrees(base)
    entries = meta.get("clusters", {})
    reuse = {n: (subtrees[n], entries[n]) for n in names - touched
             if n in subtrees and isinstance(entries.get(n), dict) and "digest" in entries[n]}
    return Plan(names - frozenset(reuse), reuse,
                f"incremental: {len(names) - len(reuse)} of {len(names)} clusters rendered "
                f"since {str(meta['source']['commit'])[:7]}")


def _backoff(attempt: int, sleep: Callable[[float], None]) -> None:
    sleep(min(2.0, 0.1 * 2 ** attempt) * (0.5 + random.random()))


Outputs = Callable[[Iterable[str]], list[branch.ClusterOutput]]


def publish_env(repo: pygit2.Repository, env: Environment, source: branch.Source,
                outputs: Outputs, since: Since, inv: Inventory, tools: Toolset, engine: str,
                remote: Remote | None, push: bool, full: bool, author: pygit2.Signature,
                committer: pygit2.Signature,
                sleep: Callable[[float], None] = time.sleep) -> EnvResult:
    """Commit the source's render to `env`'s branch, retrying when a concurrent publisher
    wins (each attempt plans against the branch head it builds on)."""
    local_ref = f"refs/heads/{env.branch}"
    versions = {"helm": tools.helm.version, "kustomize": tools.kustomize.version,
                "engine": engine}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if remote is not None:
            base = remote.fetch(env.branch)
        else:
            ref = repo.references.get(local_ref)
            base = repo[ref.target].peel(pygit2.Commit) if ref is not None else None
        chosen = plan(repo, base, env, inv, tools, engine, full, since)
        outs = outputs(chosen.render)
        built = branch.build(repo, base, env, source, outs, versions, author, committer,
                             reused=chosen.reuse)

        def result(head: str | None, pushed: bool = False, b: branch.Built = built,
                   n: int = attempt, note: str = chosen.note) -> EnvResult:
            return EnvResult(env.name, env.branch, str(b.commit) if b.commit else None, head,
                             b.added, b.changed, b.removed, b.blobs_written, b.clusters_reused,
                             n, pushed, note)

        if built.commit is None:
            return result(str(base.id) if base is not None else None)
        log = f"hydrate publish {source.commit[:7]}"
        if remote is not None and push:
            if remote.push(built.commit, env.branch):
                return result(str(built.commit), pushed=True)
        elif remote is not None:
            # Without --push the commit stays local: the branch follows the remote's head.
            repo.create_reference_direct(local_ref, built.commit, True, message=log)
            return result(str(built.commit))
        elif branch.update_ref(repo, local_ref, built.commit, base.id if base else None, log):
            return result(str(built.commit))
        _backoff(attempt, sleep)
    raise GitError(f"{env.branch}: gave up after {MAX_ATTEMPTS} attempts: other publishers kept "
                   "moving the branch; run the publish again")


def publish(ctx: Context, opts: PublishOptions) -> PublishReport:
    """Render `opts.source` and publish it to the selected environments' branches."""
    start = time.monotonic()
    if opts.push and not opts.remote:
        raise PipelineError("--push needs --remote (a remote name such as origin, or a URL)")
    repo = open_repository(ctx.repo)
    tree: GitTree = tree_at(repo, opts.source)
    inv = inventory_mod.load(tree)
    envs = select_envs(inv, opts)
    remote = None
    if opts.remote:
        configure_tls(ctx.environ)
        remote = Remote(repo, opts.remote, Credentials.from_environ(ctx.environ))
        remote.heads()  # reach the remote before any work: a bad URL or token writes nothing
    loaded = time.monotonic()
    commit = tree.commit
    source = branch.Source(source_url(repo), str(commit.id), commit.message.splitlines()[0]
                           if commit.message else "", inputs_digest(tree))
    author = branch.signature(repo, ctx.environ, "author", opts.author)
    committer = branch.signature(repo, ctx.environ, "committer", opts.committer or opts.author)
    engine = engine_digest()
    with tempfile.TemporaryDirectory(prefix="hydrate-") as workdir:
        tools = discover(ctx.environ, Path(workdir), ctx.tools_memo())
    renders = Renders(ctx, tree, inv, opts.jobs, ctx.cache(), tools)
    full = opts.full
    if opts.from_shards:
        shards = fanin.load(opts.from_shards, str(commit.id))
        tools, engine, full = shards.tools(tools), shards.engine, True
    changes: dict[str, affected.Affected] = {}

    def since(commit: str) -> affected.Affected:
        if commit not in changes:
            changes[commit] = affected.compute(tree_at(repo, commit), tree, tools,
                                               head_inventory=inv)
        return changes[commit]

    def outputs(env: Environment) -> Outputs:
        if opts.from_shards:
            return lambda names: shards.outputs(env, inv, names)
        return lambda names: [cluster_output(r, env) for r in renders.get(names).values()]

    results = tuple(
        publish_env(repo, env, source, outputs(env), since, inv, tools, engine, remote,
                    opts.push, full, author, committer)
        for env in envs
    )
    end = time.monotonic()
    timings = {"load": loaded - start, "render": renders.seconds,
               "git": end - loaded - renders.seconds}
    return PublishReport(str(commit.id), source.subject, remote.url if remote else None, results,
                         combine(renders.stats), end - start, timings)


def combine(stats: Sequence[Stats]) -> Stats:
    """Several renders' figures as one."""
    runs: Counter[str] = Counter()
    for s in stats:
        runs.update(s.tool_runs)
    return Stats(sum(s.clusters for s in stats), max((s.packages for s in stats), default=0),
                 sum(s.pairs for s in stats), sum(s.objects for s in stats),
                 sum(s.distinct for s in stats), runs, sum(s.cache_hits for s in stats),
                 sum(s.seconds for s in stats))
