"""`hydrate publish`: render a source commit and commit it to environment branches.

The source is read from the object database (never the working tree). Each selected
environment gets one commit (or none, when nothing changed) built on its branch's head:
the remote's when `--remote` is given, the local branch's otherwise. Pushes are never
forced: a push that loses a race fetches the new head, rebuilds on it and tries again.
Any other failure (a hook that declines) stops the publish there: environments already
done stay done, and the report says which ones were not tried.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from pipeline import clock
from pipeline.commands import artifacts
from pipeline.commands.context import Context
from pipeline.commands.render import render_fleet
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Environment, Inventory
from pipeline.config.source import GitTree, config_root, inputs_digest, open_repository, tree_at
from pipeline.errors import Blocked, PipelineError, UsageError
from pipeline.promote import live, notes, record
from pipeline.render.cache import Cache
from pipeline.render.engine import ClusterRender, Stats
from pipeline.render.tools import Toolset
from pipeline.sinks import agents, branch, fanin, landing, ledger, output, refs
from pipeline.sinks.planning import Changes, Since, branch_head, check_head, plan, refuse_source_branches
from pipeline.sinks.remote import PushRefused, Remote
from pipeline.version import engine_digest

MAX_ATTEMPTS = landing.RETRY.attempts


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
    reason: str | None = None  # with force: why an environment with promotion is published


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
    oci: artifacts.OciResult | None = None  # an OCI environment: what the registry got


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
    promoted_only: tuple[Environment, ...] = ()  # left to `hydrate promote` (with --all)

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


def select_envs(inv: Inventory, opts: PublishOptions) -> list[Environment]:
    if opts.all_envs:
        return list(inv.environments)
    if not opts.envs:
        return [inv.environments[0]]
    return [inv.environment(e) for e in dict.fromkeys(opts.envs)]


def bypassing(envs: Sequence[Environment], opts: PublishOptions) -> tuple[
        list[Environment], tuple[Environment, ...]]:
    """The environments to publish, and those left to promotion. An environment with
    `promotion` is changed by `hydrate promote`; a publish takes it only with --force
    --reason (recorded as a bypass). `--all` leaves them out; naming one is an error."""
    gated = tuple(e for e in envs if e.promotion is not None)
    if not gated:
        return list(envs), ()
    if opts.force and (opts.reason or "").strip():
        return list(envs), ()
    if opts.force:
        raise UsageError(f"--force on {', '.join(e.name for e in gated)} (fed by promotion) "
                         "needs --reason TEXT: the bypass is recorded in the commit")
    if opts.all_envs:
        return [e for e in envs if e.promotion is None], gated
    env = gated[0]
    assert env.promotion is not None
    raise PipelineError(f"environment {env.name} is fed by promotion from "
                        f"{env.promotion.source}: run `hydrate promote --to {env.name}` (its "
                        "gates apply), or publish --force --reason TEXT to bypass them "
                        "(recorded)")


def held(repo: pygit2.Repository, inv: Inventory, remote: Remote | None,
         source: str) -> tuple[ledger.HeldOn, ...]:
    """The holds in force on `source`, on any environment's branch (a hold is a hold
    everywhere)."""
    ledgers = {env.name: ledger.read(repo, landing.Destination(env.branch, remote).head(repo))
               for env in inv.environments}
    return ledger.holds_in_force(ledgers).get(source, ())


def refuse_held(holds: Sequence[ledger.HeldOn], source: str, opts: PublishOptions) -> None:
    """Blocked (exit 4) if `source` is held and the publish does not bypass it."""
    if not holds or (opts.force and (opts.reason or "").strip()):
        return
    where = "; ".join(f"on {h.env}: {h.hold.reason}" for h in holds)
    lift = (f"or lift the hold first: hydrate hold --release {source[:12]} --env "
            f"{holds[0].env} --reason TEXT")
    if opts.force:
        raise UsageError(f"--force on the held source {source[:7]} needs --reason TEXT: the "
                         "bypass is recorded, and lifts the hold")
    raise Blocked(f"{source[:7]} is held ({where}): publishing it needs --force --reason TEXT "
                  f"(recorded; it lifts the hold), {lift}")


def _forced(env: Environment, source: branch.Source, reason: str | None,
            holds: Sequence[ledger.HeldOn], base: ledger.Ledger | None) -> branch.Step | None:
    """The record of a publish that bypassed `env`'s promotion or a hold on its source
    (None: not one). A forced landing lifts the holds on its source."""
    if env.promotion is None and not holds:
        return None
    why = " ".join((reason or "").split())
    what = "its promotion gates" if env.promotion is not None else "a hold"
    if env.promotion is not None and holds:
        what = "its promotion gates and a hold"
    kept, lifted = ledger.lifting(env.name, base, holds, why) if holds else (None, None)
    return branch.Step("forced", f"Render of {source.commit[:12]} for environment {env.name}, "
                       f"published past {what}",
                       ((ledger.BYPASS_REASON, why), *record.released(tuple(holds), why)),
                       holds=kept, released=lifted, whole=True)


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
            fleet = render_fleet(self._ctx, self._tree, self._inv, (), tuple(missing),
                                 self._jobs, self._cache, tools=self._tools).fleet
            self._done.update((r.cluster.name, r) for r in fleet.clusters)
            self.stats.append(fleet.stats)
            self.seconds += time.monotonic() - start
        return {n: self._done[n] for n in wanted}


Outputs = Callable[[Iterable[str]], list[branch.ClusterOutput]]


def publish_env(repo: pygit2.Repository, env: Environment, source: branch.Source,
                outputs: Outputs, since: Since, inv: Inventory, tools: Toolset, engine: str,
                remote: Remote | None, push: bool, full: bool, author: pygit2.Signature,
                committer: pygit2.Signature,
                sleep: Callable[[float], None] = time.sleep, force: bool = False,
                reason: str | None = None,
                environ: Mapping[str, str] | None = None,
                holds: Sequence[ledger.HeldOn] = (),
                warn: notes.Warn | None = None,
                target: artifacts.Target | None = None) -> EnvResult:
    """Commit the source's render to `env`'s branch, retrying when a concurrent publisher
    wins (each attempt plans against the branch head it builds on). A head hydrate did not
    write is refused, unless `force`; a head that shares history with the source, always."""
    versions = {"helm": tools.helm.version, "kustomize": tools.kustomize.version,
                "engine": engine}
    dest = landing.Destination(env.branch, remote, push)

    def attempt(n: int) -> EnvResult | None:
        base = dest.head(repo)
        if base is not None:
            check_head(repo, base, env, source.commit, force)
        chosen = plan(repo, base, env, inv, tools, engine, full, since)
        outs = outputs(chosen.render)
        # An OCI environment: the artifacts the ledger will record are in the registry
        # before the commit that records them exists.
        placed, stamped = artifacts.stamp(repo, target, base, outs, chosen.reuse, source,
                                          environ or {}, {n: source.commit for n in chosen.reuse})
        built = branch.build(repo, base, env, source, outs, versions, author, committer,
                             reused=chosen.reuse, restored=sorted(chosen.drifted),
                             step=_forced(env, source, reason, holds, ledger.read(repo, base)),
                             artifacts=placed)

        def result(head: str | None, pushed: bool = False, note: str = chosen.note,
                   said: tuple[str, ...] = ()) -> EnvResult:
            oci = artifacts.finish(repo, target, head, stamped, built.commit is not None)
            return EnvResult(env.name, env.branch, str(built.commit) if built.commit else None,
                             head, built.added, built.changed, built.removed,
                             built.blobs_written, built.clusters_reused, n, pushed, note, said,
                             oci)

        if built.commit is None:
            evidence = notes.judged(repo, remote, warn)
            if base is not None and live.make_live(repo, env.name, base, source.commit,
                                                   evidence, clock.now(environ or {}),
                                                   committer, remote, push):
                return result(str(base.id), note=f"{chosen.note}; {source.commit[:7]} is live "
                                                  "on it from now (a note on the head)")
            return result(str(base.id) if base is not None else None)
        landed = landing.land(repo, built.commit, dest, base.id if base else None,
                              f"hydrate publish {source.commit[:7]}")
        if landed is None:
            return None
        return result(landed.commit, pushed=landed.pushed, said=landed.said)

    return landing.retrying(attempt, env.branch, "publishers", "publish", sleep=sleep)


def publish(ctx: Context, opts: PublishOptions) -> PublishReport:
    """Render `opts.source` and publish it to the selected environments' branches."""
    start = time.monotonic()
    repo = open_repository(ctx.repo)
    root = config_root(repo, ctx.repo)
    tree: GitTree = tree_at(repo, opts.source, root)
    inv = inventory_mod.load(tree)
    envs, promoted_only = bypassing(select_envs(inv, opts), opts)
    if opts.push and not opts.remote:
        raise PipelineError("--push needs --remote (a remote name such as origin, or a URL)")
    remote = ctx.remote(repo, opts.remote or None)
    refuse_source_branches(repo, envs, opts.source, remote)
    if remote is not None:
        remote.heads()  # reach the remote before any work: a bad URL or token writes nothing
    holds, targets = _before_work(ctx, repo, inv, remote, str(tree.commit.id), envs, opts)
    loaded = time.monotonic()
    commit = tree.commit
    source = branch.Source(branch.source_url(repo), str(commit.id), commit.message.splitlines()[0]
                           if commit.message else "", inputs_digest(tree), root)
    author = refs.signature(repo, ctx.environ, "author", opts.author)
    committer = refs.signature(repo, ctx.environ, "committer", opts.committer or opts.author)
    engine = engine_digest()
    tools = ctx.tools()
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
                                       force=opts.force, reason=opts.reason,
                                       environ=ctx.environ, holds=holds, warn=ctx.warn,
                                       target=targets[env.name]))
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
                         tuple(results), combine(renders.stats), end - start, timings, stopped,
                         promoted_only)


def _before_work(ctx: Context, repo: pygit2.Repository, inv: Inventory, remote: Remote | None,
                 source: str, envs: Sequence[Environment], opts: PublishOptions) -> tuple[
                     tuple[ledger.HeldOn, ...], dict[str, artifacts.Target | None]]:
    """The holds on `source` (refused unless bypassed), and every OCI environment's
    registry, reached and logged in to: a wrong password or a registry that is down
    records nothing."""
    holds = held(repo, inv, remote, source)
    refuse_held(holds, source, opts)
    clients: artifacts.Clients = {}
    return holds, {env.name: artifacts.connect(env, ctx.environ, (
        c.name for c in inv.clusters.values() if c.environment == env.name), clients)
        for env in envs}


def _stopped(env: Environment, error: PipelineError, later: Sequence[Environment]) -> Stopped:
    refused = error if isinstance(error, PushRefused) else None
    return Stopped(env.name, env.branch, str(error), refused.reason if refused else None,
                   refused.said if refused else (), tuple((e.name, e.branch) for e in later))


def combine(stats: Sequence[Stats]) -> Stats:
    """Several renders' figures as one."""
    runs: Counter[str] = Counter()
    processes: Counter[str] = Counter()
    for s in stats:
        runs.update(s.tool_runs)
        processes.update(s.processes)
    return Stats(clusters=sum(s.clusters for s in stats),
                 packages=max((s.packages for s in stats), default=0),
                 pairs=sum(s.pairs for s in stats), objects=sum(s.objects for s in stats),
                 distinct=sum(s.distinct for s in stats), tool_runs=runs, processes=processes,
                 cache_hits=sum(s.cache_hits for s in stats), seconds=sum(s.seconds for s in stats))
