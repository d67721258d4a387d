"""`hydrate verify`: record the state of a check on an environment's branch head (a git
note under `refs/notes/hydrate`), for a source and, in a waved rollout, a wave. Gates
read the latest state per check."""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from pipeline import clock
from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.source import config_root, open_repository, tree_at
from pipeline.errors import PipelineError
from pipeline.promote import live, notes
from pipeline.sinks import landing, refs


@dataclass(frozen=True)
class VerifyOptions:
    env: str
    check: str
    state: str
    wave: str | None = None
    source: str | None = None  # default: the source live on the environment (or rolling out)
    url: str = ""
    description: str = ""
    remote: str | None = None
    push: bool = False
    main: str = "HEAD"


@dataclass(frozen=True)
class VerifyReport:
    record: notes.Record
    commit: str  # the env-branch commit the note is on
    pushed: bool


def verify(ctx: Context, opts: VerifyOptions) -> VerifyReport:
    if opts.state not in notes.STATES:
        raise PipelineError(f"--state {opts.state}: one of {', '.join(notes.STATES)}")
    if opts.push and opts.remote is None:
        raise PipelineError("--push needs --remote")
    repo = open_repository(ctx.repo)
    inv = inventory_mod.load(tree_at(repo, opts.main, config_root(repo, ctx.repo)))
    env = inv.environment(opts.env)
    waves = [w.name for w in env.promotion.waves] if env.promotion else []
    if opts.wave is not None and opts.wave not in waves:
        known = f"its waves are {', '.join(waves)}" if waves else "it has no waves"
        raise PipelineError(f"--wave {opts.wave}: not a wave of {env.name} ({known})")
    remote = ctx.remote(repo, opts.remote)
    who = refs.signature(repo, ctx.environ, "committer")
    head = landing.Destination(env.branch, remote).head(repo)
    if head is None:
        raise PipelineError(f"{env.branch}: nothing published to {env.name} yet, so there is "
                            "nothing to verify")
    evidence = notes.judged(repo, remote, ctx.warn)
    wanted = _resolve(repo, opts.source) if opts.source is not None else None
    source = _judged(live.Timeline(repo, head, env.name, evidence), env.name, opts.wave, wanted)
    record = notes.Record("check", env.name, source, notes.stamp(clock.now(ctx.environ)),
                          opts.wave or "", opts.check, opts.state, opts.url, opts.description)
    if remote is not None and opts.push:
        notes.publish(repo, remote, head.id, [record], who)
    else:
        notes.add(repo, head.id, [record], who)
        if remote is not None and ctx.warn is not None:
            ctx.warn(f"the record is kept in this repository only: a promotion with --remote "
                     f"reads {remote.url}'s notes alone (add --push)")
    return VerifyReport(record, str(head.id), remote is not None and opts.push)


def _resolve(repo: pygit2.Repository, rev: str) -> str:
    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        raise PipelineError(f"--source {rev}: no such commit") from None


def live_words(timeline: live.Timeline) -> str:
    """What is live on the branch, in words."""
    run = timeline.current()
    rollout = timeline.ledger.rollout if timeline.ledger is not None else None
    if rollout is not None and (run is None or run.source != rollout.source or rollout.pending):
        landed = ", ".join(s.wave for s in rollout.steps) or "none"
        return (f"a rollout of {rollout.source[:7]} is there (waves landed: {landed})"
                + (f"; {run.source[:7]} is live on all clusters" if run is not None else ""))
    if run is not None:
        return f"{run.source[:7]} is live there"
    return "no single source is live there"


def _judged(timeline: live.Timeline, env: str, wave: str | None, wanted: str | None) -> str:
    """The source a check judges: one live on `env` (on `wave`'s clusters, with a wave).
    A check for a source or wave that is not live there would be evidence about nothing."""
    run = timeline.current()
    rollout = timeline.ledger.rollout if timeline.ledger is not None else None
    if wave is not None:
        source = wanted or (rollout.source if rollout is not None else None)
        if (source is None or rollout is None or rollout.source != source
                or wave not in {s.wave for s in rollout.steps}):
            what = f"{source[:7]}'s wave {wave}" if source else f"wave {wave}"
            raise PipelineError(f"--wave {wave}: {what} has not landed on {env}; "
                                f"{live_words(timeline)}")
        return source
    if run is None:
        raise PipelineError(f"{env}: no single source is live on all its clusters, so a check "
                            f"would judge nothing; {live_words(timeline)} (give --wave W for "
                            "a wave that landed)")
    if wanted is not None and wanted != run.source:
        raise PipelineError(f"--source {wanted[:7]} is not live on {env}; "
                            f"{live_words(timeline)}")
    return run.source
