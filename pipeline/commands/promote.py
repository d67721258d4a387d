"""`hydrate promote`: move a source from an environment to the next, behind its gates.

The source promoted is the one live on every cluster of `from` (or `--source`, one that
was live there). The gates are read from the configuration at `--main` (HEAD), never
from the source being promoted, so a change cannot loosen its own gates. In a waved
environment each promotion takes the next wave: the first is gated by `from`, each
later one by the previous wave's soak and checks. The source is rendered from git for
the target's clusters; a cluster the change since its own source does not touch keeps
its subtree. The commit is compare-and-swap, retried on a lost race, as a publish is.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pygit2

from pipeline import clock
from pipeline.commands import pullrequest
from pipeline.commands.context import Context
from pipeline.commands.publish import Renders, cluster_output, record_live
from pipeline.config import inventory as inventory_mod
from pipeline.config import promotion as promotion_mod
from pipeline.config.model import Environment, Inventory, Promotion
from pipeline.config.source import GitTree, config_root, inputs_digest, open_repository, tree_at
from pipeline.errors import PipelineError
from pipeline.promote import gates, live, notes
from pipeline.render.tools import discover
from pipeline.review import diffviews
from pipeline.sinks import branch, landing, ledger, refs
from pipeline.sinks.credentials import Credentials, configure_tls
from pipeline.sinks.planning import Changes, branch_head, check_head, reusable, same_tools
from pipeline.sinks.remote import Remote
from pipeline.version import engine_digest
from pipeline.words import counted


@dataclass(frozen=True)
class PromoteOptions:
    to: str
    source: str | None = None  # default: the source live on every cluster of `from`
    remote: str | None = None
    push: bool = False
    dry_run: bool = False
    force: bool = False
    reason: str | None = None  # why a gate or a hold is bypassed (with force)
    jobs: int = 1
    main: str = "HEAD"  # the configuration whose gates apply
    run_url: str | None = None  # the CI run that approved it (a Hydrate-Run trailer)
    pull_request: bool = False  # push to <branch>-next and write the PR body (as pullRequest)
    output: Path | None = None  # where the pull request's body goes


@dataclass(frozen=True)
class PromoteReport:
    env: str
    branch: str
    origin: str
    source: str | None
    wave: str | None = None  # the wave this promotion takes (waved environments)
    wave_number: int = 0  # 1-based
    waves: int = 0
    gates: tuple[gates.Gate, ...] = ()
    commit: str | None = None
    pushed: bool = False
    note: str = ""  # why nothing was promoted, or what was bypassed
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()  # the clusters this promotion rewrites
    pr_branch: str | None = None  # pull-request mode: the branch the commit went to
    pr_body: str = ""  # pull-request mode: gates, then the rendered diff against the branch
    dry_run: bool = False
    forced: bool = False
    attempts: int = 1

    @property
    def blocked(self) -> bool:
        return not self.forced and any(not g.passed for g in self.gates)


@dataclass(frozen=True)
class _Target:
    """What this promotion does: which source, which wave, behind which gates."""

    source: str
    wave_index: int  # 0 without waves
    gates: tuple[gates.Gate, ...]
    origin_commit: str | None


def _remote(ctx: Context, repo: pygit2.Repository, spec: str | None) -> Remote | None:
    if spec is None:
        return None
    configure_tls(ctx.environ)
    return Remote(repo, spec, Credentials.from_environ(ctx.environ), ctx.environ)


def _resolve(repo: pygit2.Repository, rev: str) -> str:
    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        raise PipelineError(f"--source {rev}: no such commit in this repository (fetch it, "
                            "or give the full SHA of a source that was live)") from None


def _gates(p: Promotion, soak: str | None, since: dt.datetime | None, where: str,
           requires: Sequence[str], records: Sequence[notes.Record], record_with: str,
           to_live: live.Live, source: str, now: dt.datetime) -> tuple[gates.Gate, ...]:
    """Every gate of one step: the soak and checks `where` (the `from` environment, or
    the previous wave), the windows and freezes, and a hold on the source."""
    found = [gates.soak(clock.seconds(soak) if soak else 0, since, where, now),
             gates.checks(requires, [_check(r) for r in records], f"{source[:7]} on {where}",
                          record_with),
             *gates.timing(p.windows, p.freezes, now)]
    held = gates.hold(to_live.holds, source)
    return (*found, *([held] if held is not None else []))


def _first_wave(repo: pygit2.Repository, target: Environment, origin: Environment,
                p: Promotion, origin_head: pygit2.Commit | None, to_live: live.Live,
                wanted: str | None, now: dt.datetime) -> _Target | str:
    """Gates of a promotion from `origin` (a new source); a string: nothing to promote."""
    if wanted is not None:
        was = live.was_live(repo, origin_head, origin.name, wanted)
        if was is None:
            raise PipelineError(f"--source {wanted[:12]} was never live on {origin.name} "
                                f"({origin.branch}): only a source live on every cluster of "
                                f"{origin.name} can be promoted to {target.name}")
        source, since, carrier = wanted, was.since, was.commit
    else:
        now_live = live.live(repo, origin_head, origin.name)
        if now_live.source is None:
            state = ("nothing published yet" if origin_head is None
                     else "no source is live on all of its clusters (a rollout under way?)")
            return f"nothing to promote: {origin.name}: {state}"
        source, since, carrier = now_live.source, now_live.since, now_live.commit
    if to_live.source == source and not (to_live.rollout and to_live.rollout.pending):
        return f"nothing to promote: {source[:12]} is already live on {target.name}"
    found = _gates(p, p.soak, since, origin.name, p.requires,
                   live.checks(repo, origin_head, origin.name, source),
                   f"hydrate verify --env {origin.name}", to_live, source, now)
    return _Target(source, 0, found, str(carrier.id) if carrier else None)


def _check(record: notes.Record) -> gates.CheckRecord:
    return gates.CheckRecord(record.check, record.state, record.when, record.url,
                             record.description)


def _next_wave(repo: pygit2.Repository, target: Environment, p: Promotion,
               to_head: pygit2.Commit | None, to_live: live.Live, now: dt.datetime) -> _Target:
    """Gates of the next wave of the rollout under way on `target`."""
    rollout = to_live.rollout
    assert rollout is not None
    done = rollout.steps
    source = rollout.source
    if len(done) >= len(p.waves):
        raise PipelineError(
            f"{target.branch}: the rollout of {source[:7]} has done {counted(len(done), 'wave')}, but "
            f"fleet/environments.yaml now gives {target.name} {len(p.waves)}: the waves "
            "changed during the rollout; finish it with `hydrate promote --to "
            f"{target.name} --source {source[:12]}` after restoring the waves, or promote "
            "another source (a new rollout)")
    previous = p.waves[len(done) - 1]
    since = done[-1].built
    found = _gates(p, previous.soak, since, f"{target.name} wave {previous.name}",
                   previous.requires, live.checks(repo, to_head, target.name, source,
                                                  previous.name),
                   f"hydrate verify --env {target.name} --wave {previous.name}", to_live,
                   source, now)
    return _Target(source, len(done), found, None)


def _plan_clusters(inv: Inventory, target: Environment,
                   p: Promotion, wave_index: int) -> tuple[str, ...]:
    mine = [c for c in inv.clusters.values() if c.environment == target.name]
    if not p.waves:
        return tuple(sorted(c.name for c in mine))
    return promotion_mod.assign(p.waves, mine)[wave_index].clusters


def promote(ctx: Context, opts: PromoteOptions) -> PromoteReport:
    """Check the gates of promoting to `opts.to` and, unless blocked, commit it."""
    if opts.force and not (opts.reason or "").strip():
        raise PipelineError("--force needs --reason TEXT: a bypass is recorded with its reason")
    repo = open_repository(ctx.repo)
    root = config_root(repo, ctx.repo)
    config = inventory_mod.load(tree_at(repo, opts.main, root))
    target = config.environment(opts.to)
    p = target.promotion
    if p is None:
        raise PipelineError(f"environment {target.name} has no promotion in "
                            f"fleet/environments.yaml: it is fed by `hydrate publish --env "
                            f"{target.name}`")
    origin = config.environment(p.source)
    remote = _remote(ctx, repo, opts.remote)
    who = refs.signature(repo, ctx.environ, "committer")
    if remote is not None:
        remote.heads()
        notes.fetch(repo, remote, who)
    wanted = _resolve(repo, opts.source) if opts.source else None
    return landing.retrying(
        lambda n: _attempt(ctx, repo, root, config, target, origin, p, remote, who, opts,
                           wanted, n), target.branch, "writers", "promotion")


def _attempt(ctx: Context, repo: pygit2.Repository, root: str, config: Inventory,
             target: Environment, origin: Environment, p: Promotion, remote: Remote | None,
             who: pygit2.Signature, opts: PromoteOptions, wanted: str | None,
             attempt: int) -> PromoteReport | None:
    now = clock.now(ctx.environ)
    origin_head = branch_head(repo, origin, remote)
    to_head = branch_head(repo, target, remote)
    to_live = live.live(repo, to_head, target.name)
    under_way = bool(p.waves) and to_live.rollout is not None and to_live.rollout.pending and (
        wanted is None or wanted == to_live.rollout.source)
    chosen = (_next_wave(repo, target, p, to_head, to_live, now) if under_way else
              _first_wave(repo, target, origin, p, origin_head, to_live, wanted, now))
    base = PromoteReport(target.name, target.branch, origin.name, None, waves=len(p.waves),
                         dry_run=opts.dry_run, attempts=attempt)
    if isinstance(chosen, str):
        return replace(base, note=chosen)
    wave = p.waves[chosen.wave_index] if p.waves else None
    report = replace(base, source=chosen.source, wave=wave.name if wave else None,
                     wave_number=chosen.wave_index + 1 if wave else 0, gates=chosen.gates,
                     forced=opts.force)
    if report.blocked:
        return report
    if to_head is not None:
        check_head(repo, to_head, target, chosen.source, False)
    tree = tree_at(repo, chosen.source, root)
    inv = inventory_mod.load(tree)
    wave_clusters = _plan_clusters(inv, target, p, chosen.wave_index)
    built = _build(ctx, repo, root, tree, inv, target, origin, p, to_head, to_live, chosen,
                   wave_clusters, opts, who, now)
    if built.commit is None:
        # Nothing to commit, but the source is live on the target from now (a note on the
        # head), with a soak of its own for the next environment.
        recorded = not opts.dry_run and to_head is not None and record_live(
            repo, target, to_head, chosen.source, ctx.environ)
        if recorded and remote is not None and opts.push:
            notes.push(repo, remote, who)
        return replace(report, clusters=tuple(wave_clusters),
                       note=f"no change: the render equals the branch; {chosen.source[:7]} is "
                            f"live on {target.name} from now (a note on the head)")
    done = replace(report, commit=str(built.commit), changed=built.changed, added=built.added,
                   removed=built.removed, clusters=tuple(wave_clusters))
    if opts.dry_run:
        # Built, never referenced: what the promotion would change, against the branch.
        result = pullrequest.diff_against(repo, target, to_head, built.commit, "the promotion")
        return replace(done, commit=None, note=f"dry run: {diffviews.headline(result)}")
    log = f"hydrate promote {chosen.source[:7]} to {target.name}"
    if p.pull_request or opts.pull_request:
        step = f", wave {done.wave} ({done.wave_number} of {done.waves})" if done.wave else ""
        opened = pullrequest.open_or_update(
            repo, target, to_head, built.commit,
            f"Promote `{chosen.source[:7]}` {origin.name} → {target.name}{step}", done.gates,
            remote, opts.push, opts.output, log)
        return replace(done, pushed=opened.pushed, pr_branch=opened.branch, pr_body=opened.body)
    landed = landing.land(repo, built.commit, landing.Destination(target.branch, remote,
                                                                  opts.push),
                          to_head.id if to_head else None, log)
    return replace(done, pushed=landed.pushed) if landed is not None else None


def _build(ctx: Context, repo: pygit2.Repository, root: str, tree: GitTree, inv: Inventory,
           target: Environment, origin: Environment, p: Promotion,
           to_head: pygit2.Commit | None, to_live: live.Live, chosen: _Target,
           wave_clusters: Sequence[str], opts: PromoteOptions, who: pygit2.Signature,
           now: dt.datetime) -> branch.Built:
    with tempfile.TemporaryDirectory(prefix="hydrate-") as workdir:
        tools = discover(ctx.environ, Path(workdir), ctx.tools_memo())
    engine = engine_digest()
    since = Changes(repo, root, tree, inv, tools)
    led = ledger.read(repo, to_head)
    drifted = set(branch.drift(repo, to_head))
    same = led is not None and same_tools(led, tools, engine)
    wanted = set(wave_clusters)
    in_inventory = {c.name for c in inv.clusters.values() if c.environment == target.name}
    usable = reusable(to_head, led, in_inventory - drifted) if to_head and led else {}
    reuse: dict[str, ledger.Cluster] = {}
    render: list[str] = []
    for name in sorted(in_inventory):
        entry = usable.get(name)
        if name not in wanted:
            if entry is not None:
                reuse[name] = entry  # another wave: keeps its source
            continue
        if entry is not None and same:
            try:
                touched = {c for e, c in since(entry.source).clusters if e == target.name}
            except (PipelineError, KeyError):
                touched = {name}
            if name not in touched:
                reuse[name] = replace(entry, source=chosen.source)
                continue
        render.append(name)
    renders = Renders(ctx, tree, inv, opts.jobs, ctx.cache(), tools)
    outputs = [cluster_output(r, target) for r in renders.get(render).values()]
    commit = tree.commit
    source = branch.Source(branch.source_url(repo), chosen.source,
                           commit.message.splitlines()[0] if commit.message else "",
                           inputs_digest(tree), root)
    step = _step(repo, target, origin, p, to_head, to_live, chosen, wave_clusters, opts,
                 now, branch_head_id=chosen.origin_commit)
    versions = {"helm": tools.helm.version, "kustomize": tools.kustomize.version,
                "engine": engine}
    author = refs.signature(repo, ctx.environ, "author")
    return branch.build(repo, to_head, target, source, outputs, versions, author, who,
                        reused=reuse, step=step)


def _step(repo: pygit2.Repository, target: Environment, origin: Environment, p: Promotion,
          to_head: pygit2.Commit | None, to_live: live.Live, chosen: _Target,
          wave_clusters: Sequence[str], opts: PromoteOptions, at: dt.datetime,
          branch_head_id: str | None) -> branch.Step:
    trailers: list[tuple[str, str]] = []
    if chosen.wave_index == 0:
        trailers.append((ledger.PROMOTED_FROM, f"{origin.name} {branch_head_id or '-'}"))
    wave = p.waves[chosen.wave_index] if p.waves else None
    if wave is not None:
        trailers.append((ledger.WAVE, f"{wave.name} ({chosen.wave_index + 1} of "
                                      f"{len(p.waves)})"))
    verdict = "bypassed" if opts.force else "passed"
    trailers += [(ledger.GATE, f"{g.name} {verdict if not g.passed else 'passed'} "
                               f"{g.evidence}") for g in chosen.gates]
    if opts.force:
        trailers.append((ledger.BYPASS_REASON, opts.reason or ""))
    if opts.run_url:
        trailers.append((ledger.RUN, opts.run_url))
    rollout: ledger.Rollout | None = None
    if p.waves:
        done = list(to_live.rollout.steps) if chosen.wave_index and to_live.rollout else []
        done.append(ledger.Step(wave.name if wave else "", tuple(wave_clusters), at))
        rollout = ledger.Rollout(chosen.source, origin.name, tuple(done), len(p.waves),
                                 len(done) < len(p.waves))
    wave_words = f", wave {wave.name} ({chosen.wave_index + 1} of {len(p.waves)})" if wave else ""
    kind = "forced" if opts.force else "promote"
    return branch.Step(kind, f"Promotion of {chosen.source[:12]} from {origin.name} to "
                             f"{target.name}{wave_words}", tuple(trailers), rollout)


def auto(ctx: Context, opts: PromoteOptions) -> list[PromoteReport]:
    """`promote --auto`: every environment with `auto: true`, in order, whose gates pass;
    a held source is skipped (a hold is lifted only by a person, with --force)."""
    repo = open_repository(ctx.repo)
    config = inventory_mod.load(tree_at(repo, opts.main, config_root(repo, ctx.repo)))
    reports = []
    for env in config.environments:
        if env.promotion is None or not env.promotion.auto:
            continue
        reports.append(promote(ctx, replace(opts, to=env.name, force=False, reason=None)))
    return reports
