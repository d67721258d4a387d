"""`hydrate promote`: move a source from an environment to the next, behind its gates.

This module loads, loops and lands; what to promote and behind which gates is the
promotion domain's (`pipeline.promote`: `attempt.decide`, the gates, the waves, the
reuse plan and the record a step writes). The gates are read from the configuration at
`--main` (HEAD), never from the source being promoted, so a change cannot loosen its own
gates. Each try reads every environment's head and the evidence afresh; the commit lands
compare-and-swap, and a lost race is tried again, as a publish is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pygit2

from pipeline import clock
from pipeline.commands import artifacts, pullrequest
from pipeline.commands.context import Context
from pipeline.commands.publish import Renders, cluster_output
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Inventory
from pipeline.config.source import config_root, inputs_digest, open_repository, tree_at
from pipeline.errors import PipelineError, UsageError
from pipeline.promote import gates, live, notes, record, reuse
from pipeline.promote.attempt import Attempt, Decision, decide
from pipeline.review import diffviews
from pipeline.sinks import branch, landing, ledger, places, refs, scratch
from pipeline.sinks.planning import Changes, check_head
from pipeline.sinks.remote import Remote
from pipeline.version import engine_digest


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
    released: tuple[str, ...] = ()  # holds a forced promotion lifts ("<sha7> on <env>")
    oci: artifacts.OciResult | None = None  # an OCI environment: what the registry got

    @property
    def blocked(self) -> bool:
        return not self.forced and any(not g.passed for g in self.gates)


def _resolve(repo: pygit2.Repository, rev: str) -> str:
    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        raise PipelineError(f"--source {rev}: no such commit in this repository (fetch it, "
                            "or give the full SHA of a source that was live)") from None


def heads(repo: pygit2.Repository, config: Inventory,
          remote: Remote | None) -> dict[str, pygit2.Commit | None]:
    """Every environment's branch head: the remote's (fetched now) or the local one."""
    return {env.name: landing.Destination(env.branch, remote).head(repo)
            for env in config.environments}


def promote(ctx: Context, opts: PromoteOptions) -> PromoteReport:
    """Check the gates of promoting to `opts.to` and, unless blocked, commit it. A dry run
    works in a scratch view of the repository: it leaves nothing behind."""
    if opts.force and not (opts.reason or "").strip():
        raise UsageError("--force needs --reason TEXT: a bypass is recorded with its reason")
    if opts.output is not None and not opts.dry_run:  # refused before the work, not after it
        places.claim_file(opts.output, what="--output", repo=ctx.repo)
    real = open_repository(ctx.repo)
    root = config_root(real, ctx.repo)
    if opts.dry_run:
        with scratch.view(real) as repo:
            return _promote(ctx, repo, root, opts)
    return _promote(ctx, real, root, opts)


def _promote(ctx: Context, repo: pygit2.Repository, root: str,
             opts: PromoteOptions) -> PromoteReport:
    config = inventory_mod.load(tree_at(repo, opts.main, root))
    target = config.environment(opts.to)
    p = target.promotion
    if p is None:
        raise PipelineError(f"environment {target.name} has no promotion in "
                            f"fleet/environments.yaml: it is fed by `hydrate publish --env "
                            f"{target.name}`")
    origin = config.environment(p.source)
    remote = ctx.remote(repo, opts.remote)
    who = refs.signature(repo, ctx.environ, "committer")
    if remote is not None:
        remote.heads()  # reach the remote before any work
    wanted = _resolve(repo, opts.source) if opts.source else None
    # An OCI target: its registry reached before any work; the tags brought to what its
    # branch records first (a promotion merged through a pull request, a run that stopped).
    target_oci = artifacts.connect(target, ctx.environ, (
        c.name for c in config.clusters.values() if c.environment == target.name))
    earlier = None
    if target_oci is not None and not opts.dry_run:
        head = landing.Destination(target.branch, remote).head(repo)
        earlier = artifacts.finish(repo, target_oci, str(head.id) if head else None,
                                   artifacts.Pushed(), True)
    loaded: dict[str, Inventory] = {}

    def inventory_at(sha: str) -> Inventory:
        if sha not in loaded:
            loaded[sha] = inventory_mod.load(tree_at(repo, sha, root))
        return loaded[sha]

    def attempt(n: int) -> PromoteReport | None:
        evidence = notes.judged(repo, remote, ctx.warn)
        found = Attempt(repo, config, target, origin, heads(repo, config, remote), evidence,
                        clock.now(ctx.environ), inventory_at, wanted)
        return _try(ctx, repo, root, found, remote, who, opts, n, target_oci)

    report = landing.retrying(attempt, target.branch, "writers", "promotion")
    return report if report.oci is not None or earlier is None else replace(report, oci=earlier)


def _try(ctx: Context, repo: pygit2.Repository, root: str, a: Attempt, remote: Remote | None,
         who: pygit2.Signature, opts: PromoteOptions, n: int,
         target_oci: artifacts.Target | None = None) -> PromoteReport | None:
    target, origin, p = a.target, a.origin, a.promotion
    chosen = decide(a)
    base = PromoteReport(target.name, target.branch, origin.name, None, waves=len(p.waves),
                         dry_run=opts.dry_run, attempts=n)
    if isinstance(chosen, str):
        return replace(base, note=chosen)
    nxt = chosen.step
    report = replace(base, source=chosen.source, wave=nxt.wave.name if nxt.wave else None,
                     wave_number=nxt.index + 1 if nxt.wave else 0, gates=chosen.gates,
                     forced=opts.force, clusters=nxt.clusters,
                     released=tuple(f"{h.hold.source[:7]} on {h.env}" for h in chosen.held)
                     if opts.force else ())
    if report.blocked:
        return report
    to_head = a.heads[target.name]
    if to_head is not None:
        check_head(repo, to_head, target, chosen.source, False)
    built, stamped = _build(ctx, repo, root, a, chosen, opts, who, target_oci)
    if built.commit is None:
        # Nothing to commit, but the source is live on the target from now (a note on the
        # head), with a soak of its own for the next environment.
        if not opts.dry_run and to_head is not None:
            live.make_live(repo, target.name, to_head, chosen.source, a.evidence, a.now, who,
                           remote, opts.push)
        return replace(report, note=f"no change: the render equals the branch; "
                                    f"{chosen.source[:7]} is live on {target.name} from now "
                                    "(a note on the head)")
    done = replace(report, commit=str(built.commit), changed=built.changed, added=built.added,
                   removed=built.removed)
    if opts.dry_run:
        # Built in the scratch view, never referenced: what it would change.
        result = pullrequest.diff_against(repo, target, to_head, built.commit, "the promotion")
        return replace(done, commit=None, note=f"dry run: {diffviews.headline(result)}")
    log = f"hydrate promote {chosen.source[:7]} to {target.name}"
    if p.pull_request or opts.pull_request:
        step = f", wave {done.wave} ({done.wave_number} of {done.waves})" if done.wave else ""
        opened = pullrequest.open_or_update(
            repo, target, to_head, built.commit,
            f"Promote `{chosen.source[:7]}` {origin.name} → {target.name}{step}", done.gates,
            remote, opts.push, opts.output, log, ctx.repo)
        return replace(done, pushed=opened.pushed, pr_branch=opened.branch, pr_body=opened.body)
    landed = landing.land(repo, built.commit, landing.Destination(target.branch, remote,
                                                                  opts.push),
                          to_head.id if to_head else None, log)
    if landed is None:
        return None
    # Each wave's commit changes only its clusters' digests: only their tags move.
    return replace(done, pushed=landed.pushed,
                   oci=artifacts.finish(repo, target_oci, landed.commit, stamped, True))


def _build(ctx: Context, repo: pygit2.Repository, root: str, a: Attempt, chosen: Decision,
           opts: PromoteOptions, who: pygit2.Signature,
           target_oci: artifacts.Target | None) -> tuple[branch.Built,
                                                          artifacts.Pushed]:
    target = a.target
    to_head = a.heads[target.name]
    tree = tree_at(repo, chosen.source, root)
    inv = a.inventory_at(chosen.source)
    tools = ctx.tools()
    engine = engine_digest()
    planned = reuse.plan(repo, to_head, target.name, chosen.members, chosen.step.clusters,
                         chosen.source, tools, engine, Changes(repo, root, tree, inv, tools))
    renders = Renders(ctx, tree, inv, opts.jobs, ctx.cache(), tools)
    outputs = [cluster_output(r, target) for r in renders.get(planned.render).values()]
    commit = tree.commit
    source = branch.Source(branch.source_url(repo), chosen.source,
                           commit.message.splitlines()[0] if commit.message else "",
                           inputs_digest(tree), root)
    step = record.step(chosen, target, a.origin, a.now, ledger.read(repo, to_head), opts.force,
                       opts.reason, opts.run_url)
    versions = {"helm": tools.helm.version, "kustomize": tools.kustomize.version,
                "engine": engine}
    author = refs.signature(repo, ctx.environ, "author")
    # The wave's artifacts are in the registry before the commit recording them exists
    # (a dry run packs them only, to know their digests).
    placed, stamped = artifacts.stamp(repo, target_oci, to_head, outputs, planned.reuse, source,
                                      ctx.environ, {n: e.source for n, e in planned.reuse.items()},
                                      push=not opts.dry_run)
    return branch.build(repo, to_head, target, source, outputs, versions, author, who,
                        reused=planned.reuse, step=step, artifacts=placed), stamped


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
