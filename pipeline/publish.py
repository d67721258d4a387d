"""`hydrate publish`: render a source commit and commit it to environment branches.

The source is read from the object database (never the working tree). Each selected
environment gets one commit (or none, when nothing changed) built on its branch's head:
the remote's when `--remote` is given, the local branch's otherwise. Pushes are never
forced: a push that loses a race fetches the new head, rebuilds on it and tries again.
Any other failure (a hook that declines) stops the publish there: environments already
done stay done, and the report says which ones were not tried.
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
from pipeline.remote import Credentials, PushRefused, Remote, configure_tls, redact
from pipeline.render import ClusterRender, Stats
from pipeline.source import GitTree, config_root, inputs_digest, open_repository, tree_at
from pipeline.tools import Toolset, discover
from pipeline.version import engine_digest
from pipeline.words import counted

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
    force: bool = False  # build even on a branch head hydrate did not write


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
    said: tuple[str, ...] = ()  # what the remote said when it took the push (its hooks)


@dataclass(frozen=True)
class Stopped:
    """The environment where a publish of several stopped, and the ones not tried."""

    env: str
    branch: str
    error: str
    refused: str | None  # the remote's reason when it refused the push, else None
    said: tuple[str, ...]  # the remote's own lines
    not_tried: tuple[tuple[str, str], ...]  # (environment, branch)


@dataclass(frozen=True)
class PublishReport:
    source: str
    subject: str
    remote: str | None
    results: tuple[EnvResult, ...]
    stats: Stats
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    stopped: Stopped | None = None

    def failure(self) -> str | None:
        """The error of a publish that stopped part-way, saying what stays done (nothing
        is undone: a pushed commit may already be live) and what was not tried."""
        if self.stopped is None:
            return None
        first, _, rest = self.stopped.error.partition("\n")
        parts = [f"publish stopped at {self.stopped.env}: {first}"]
        for what in ("pushed", "committed"):
            done = [r.env for r in self.results if r.commit and r.pushed == (what == "pushed")]
            if done:
                parts.append(f"{', '.join(done)} stay{'s' * (len(done) == 1)} {what} "
                             "(nothing is undone)")
        if self.stopped.not_tried:
            parts.append(f"not tried: {', '.join(e for e, _ in self.stopped.not_tried)}")
        return "; ".join(parts) + (f"\n{rest}" if rest else "")


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
    drifted: frozenset[str] = frozenset()  # clusters edited on the branch, restored now


Since = Callable[[str], affected.Affected]  # source commit → what changed since it


class Changes:
    """What changed since a source commit, computed once per commit (a `Since`)."""

    def __init__(self, repo: pygit2.Repository, root: str, head: GitTree, inv: Inventory,
                 tools: Toolset) -> None:
        self._repo, self._root, self._head, self._inv, self._tools = repo, root, head, inv, tools
        self._found: dict[str, affected.Affected] = {}

    def __call__(self, commit: str) -> affected.Affected:
        if commit not in self._found:
            self._found[commit] = affected.compute(tree_at(self._repo, commit, self._root),
                                                   self._head, self._tools,
                                                   head_inventory=self._inv)
        return self._found[commit]


def plan(repo: pygit2.Repository, base: pygit2.Commit | None, env: Environment,
         inv: Inventory, tools: Toolset, engine: str, full: bool, since: Since) -> Plan:
    """Re-render only the clusters the change since the branch's source touches; reuse the
    rest from the branch. Anything uncertain (no branch, other tool versions or hydrate,
    an unknown source commit, an unreadable source) means a full render. Clusters edited
    on the branch (drift) are always rendered, which restores them."""
    names = frozenset(c.name for c in inv.clusters.values() if c.environment == env.name)
    if base is None:
        return Plan(names, {}, "first publish")
    if branch.foreign(repo, base, env.name):
        return Plan(names, {}, "full render on a head hydrate did not write (--force)")
    drifted = frozenset(branch.drift(repo, base))
    restore = ""
    if drifted:
        shown = ", ".join(sorted(drifted)[:10]) + (" …" if len(drifted) > 10 else "")
        restore = (f"; restores {counted(len(drifted), 'cluster')} edited on "
                   f"the branch: {shown}")
    chosen = (Plan(names, {}, "full render") if full else
              _incremental(repo, base, env, tools, engine, since, names, drifted))
    return Plan(chosen.render, chosen.reuse, chosen.note + restore, drifted)


def _incremental(repo: pygit2.Repository, base: pygit2.Commit, env: Environment, tools: Toolset,
                 engine: str, since: Since, names: frozenset[str],
                 drifted: frozenset[str]) -> Plan:
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
    reuse = {n: (subtrees[n], entries[n]) for n in names - touched - drifted
             if n in subtrees and isinstance(entries.get(n), dict) and "digest" in entries[n]}
    return Plan(names - frozenset(reuse), reuse,
                f"incremental: {len(names) - len(reuse)} of {len(names)} clusters rendered "
                f"since {str(meta['source']['commit'])[:7]}")


def check_head(repo: pygit2.Repository, base: pygit2.Commit, env: Environment, source: str,
               force: bool) -> None:
    """Refuse to build on `base` unless hydrate wrote it for `env`: never on a branch that
    holds source history (that would rewrite the source), on another head only if `force`."""
    problem = branch.foreign(repo, base, env.name)
    if problem is None:
        return
    try:
        shared = repo.merge_base(base.id, pygit2.Oid(hex=source)) is not None
    except (pygit2.GitError, ValueError, KeyError):
        shared = False  # e.g. a shallow clone: the foreign head alone decides
    if shared:
        raise GitError(f"environment {env.name}: branch {env.branch} holds source history "
                       f"(its head {str(base.id)[:7]} shares commits with the source "
                       f"{source[:7]}), so publishing would replace the configuration with its "
                       f"render; give {env.name} a branch only hydrate writes in "
                       f"fleet/environments.yaml (`branch: env/{env.name}`, the default)")
    if not force:
        raise GitError(f"environment {env.name}: branch {env.branch} is not a hydrate "
                       f"environment branch ({problem}); publish refuses to build on it: check "
                       f"the branch name in fleet/environments.yaml, or pass --force to build "
                       "on that head anyway")


def source_branches(repo: pygit2.Repository, rev: str, remote: Remote | None) -> set[str]:
    """Branches that hold the dry configuration: the checked-out one, the one `rev` names,
    and the remote's default branch."""
    found = set()
    if not repo.head_is_unborn and not repo.head_is_detached:
        found.add(repo.head.shorthand)
    if rev in repo.branches.local:
        found.add(rev)
    for name in repo.remotes.names():
        if rev.startswith(f"{name}/") and rev in repo.branches.remote:
            found.add(rev.removeprefix(f"{name}/"))
        default = repo.references.get(f"refs/remotes/{name}/HEAD")
        if default is not None and isinstance(default.target, str) and (
                remote is None or remote.name == name):
            found.add(default.target.removeprefix(f"refs/remotes/{name}/"))
    return found


def refuse_source_branches(repo: pygit2.Repository, envs: Iterable[Environment], rev: str,
                           remote: Remote | None) -> None:
    """GitError if an environment's branch is a branch that holds the configuration."""
    sources = source_branches(repo, rev, remote)
    for env in envs:
        if env.branch in sources:
            raise GitError(f"fleet/environments.yaml: environment {env.name}: branch {env.branch} "
                           "is the source branch (it holds the configuration hydrate renders); "
                           f"give {env.name} a branch only hydrate writes (`branch: env/"
                           f"{env.name}`, the default)")


def _backoff(attempt: int, sleep: Callable[[float], None]) -> None:
    sleep(min(2.0, 0.1 * 2 ** attempt) * (0.5 + random.random()))


Outputs = Callable[[Iterable[str]], list[branch.ClusterOutput]]


def branch_head(repo: pygit2.Repository, env: Environment,
                remote: Remote | None) -> pygit2.Commit | None:
    """The head an attempt builds on: the remote's (fetched now) or the local branch's."""
    if remote is not None:
        return remote.fetch(env.branch)
    ref = repo.references.get(f"refs/heads/{env.branch}")
    return repo[ref.target].peel(pygit2.Commit) if ref is not None else None


def publish_env(repo: pygit2.Repository, env: Environment, source: branch.Source,
                outputs: Outputs, since: Since, inv: Inventory, tools: Toolset, engine: str,
                remote: Remote | None, push: bool, full: bool, author: pygit2.Signature,
                committer: pygit2.Signature,
                sleep: Callable[[float], None] = time.sleep, force: bool = False) -> EnvResult:
    """Commit the source's render to `env`'s branch, retrying when a concurrent publisher
    wins (each attempt plans against the branch head it builds on). A head hydrate did not
    write is refused, unless `force`; a head that shares history with the source, always."""
    local_ref = f"refs/heads/{env.branch}"
    versions = {"helm": tools.helm.version, "kustomize": tools.kustomize.version,
                "engine": engine}
    for attempt in range(1, MAX_ATTEMPTS + 1):
        base = branch_head(repo, env, remote)
        if base is not None:
            check_head(repo, base, env, source.commit, force)
        chosen = plan(repo, base, env, inv, tools, engine, full, since)
        outs = outputs(chosen.render)
        built = branch.build(repo, base, env, source, outs, versions, author, committer,
                             reused=chosen.reuse, restored=sorted(chosen.drifted))

        def result(head: str | None, pushed: bool = False, b: branch.Built = built,
                   n: int = attempt, note: str = chosen.note,
                   said: tuple[str, ...] = ()) -> EnvResult:
            return EnvResult(env.name, env.branch, str(b.commit) if b.commit else None, head,
                             b.added, b.changed, b.removed, b.blobs_written, b.clusters_reused,
                             n, pushed, note, said)

        if built.commit is None:
            return result(str(base.id) if base is not None else None)
        log = f"hydrate publish {source.commit[:7]}"
        if remote is not None and push:
            said: list[str] = []
            # False: the branch moved since the fetch (compare-and-swap); a refusal for any
            # other reason raises PushRefused with the remote's message.
            if remote.push(built.commit, env.branch, said.append):
                return result(str(built.commit), pushed=True, said=tuple(said))
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
    repo = open_repository(ctx.repo)
    root = config_root(repo, ctx.repo)
    tree: GitTree = tree_at(repo, opts.source, root)
    inv = inventory_mod.load(tree)
    envs = select_envs(inv, opts)
    remote = None
    if opts.push and not opts.remote:
        raise PipelineError("--push needs --remote (a remote name such as origin, or a URL)")
    if opts.remote:
        configure_tls(ctx.environ)
        remote = Remote(repo, opts.remote, Credentials.from_environ(ctx.environ), ctx.environ)
    refuse_source_branches(repo, envs, opts.source, remote)
    if remote is not None:
        remote.heads()  # reach the remote before any work: a bad URL or token writes nothing
    loaded = time.monotonic()
    commit = tree.commit
    source = branch.Source(source_url(repo), str(commit.id), commit.message.splitlines()[0]
                           if commit.message else "", inputs_digest(tree), root)
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
    since = Changes(repo, root, tree, inv, tools)

    def outputs(env: Environment) -> Outputs:
        if opts.from_shards:
            return lambda names: shards.outputs(env, inv, names)
        return lambda names: [cluster_output(r, env) for r in renders.get(names).values()]

    if len(envs) > 1:
        # A cluster that does not render (or a shard that fails its checks) must stop the
        # publish with nothing published.
        for env in envs:
            base = branch_head(repo, env, remote)
            if base is not None:
                check_head(repo, base, env, source.commit, opts.force)
            outputs(env)(plan(repo, base, env, inv, tools, engine, full, since).render)
    results: list[EnvResult] = []
    stopped = None
    for i, env in enumerate(envs):
        try:
            results.append(publish_env(repo, env, source, outputs(env), since, inv, tools,
                                       engine, remote, opts.push, full, author, committer,
                                       force=opts.force))
        except PipelineError as e:
            if len(envs) == 1:
                raise
            # Earlier environments keep their commits: report each one's outcome.
            stopped = _stopped(env, e, envs[i + 1:])
            break
    end = time.monotonic()
    timings = {"load": loaded - start, "render": renders.seconds,
               "git": end - loaded - renders.seconds}
    return PublishReport(str(commit.id), source.subject, remote.url if remote else None,
                         tuple(results), combine(renders.stats), end - start, timings, stopped)


def _stopped(env: Environment, error: PipelineError, later: Sequence[Environment]) -> Stopped:
    refused = error if isinstance(error, PushRefused) else None
    return Stopped(env.name, env.branch, str(error), refused.reason if refused else None,
                   refused.said if refused else (), tuple((e.name, e.branch) for e in later))


def combine(stats: Sequence[Stats]) -> Stats:
    """Several renders' figures as one."""
    runs: Counter[str] = Counter()
    for s in stats:
        runs.update(s.tool_runs)
    return Stats(sum(s.clusters for s in stats), max((s.packages for s in stats), default=0),
                 sum(s.pairs for s in stats), sum(s.objects for s in stats),
                 sum(s.distinct for s in stats), runs, sum(s.cache_hits for s in stats),
                 sum(s.seconds for s in stats))
