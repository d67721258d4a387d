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
from pipeline.sinks import refs
from pipeline.sinks.credentials import Credentials, configure_tls
from pipeline.sinks.planning import branch_head
from pipeline.sinks.remote import Remote


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
    repo = open_repository(ctx.repo)
    inv = inventory_mod.load(tree_at(repo, opts.main, config_root(repo, ctx.repo)))
    env = inv.environment(opts.env)
    waves = [w.name for w in env.promotion.waves] if env.promotion else []
    if opts.wave is not None and opts.wave not in waves:
        known = f"its waves are {', '.join(waves)}" if waves else "it has no waves"
        raise PipelineError(f"--wave {opts.wave}: not a wave of {env.name} ({known})")
    remote = None
    if opts.remote is not None:
        configure_tls(ctx.environ)
        remote = Remote(repo, opts.remote, Credentials.from_environ(ctx.environ), ctx.environ)
    who = refs.signature(repo, ctx.environ, "committer")
    if remote is not None:
        notes.fetch(repo, remote, who)
    head = branch_head(repo, env, remote)
    if head is None:
        raise PipelineError(f"{env.branch}: nothing published to {env.name} yet, so there is "
                            "nothing to verify")
    state = live.live(repo, head, env.name)
    source = opts.source or state.source or (state.rollout.source if state.rollout else None)
    if source is None:
        raise PipelineError(f"{env.branch}: no single source is live on {env.name}; give "
                            "--source SHA")
    if opts.source is not None:
        try:
            source = str(repo.revparse_single(opts.source).peel(pygit2.Commit).id)
        except (KeyError, ValueError):
            raise PipelineError(f"--source {opts.source}: no such commit") from None
    record = notes.Record("check", env.name, source, notes.stamp(clock.now(ctx.environ)),
                          opts.wave or "", opts.check, opts.state, opts.url, opts.description)
    notes.add(repo, head.id, [record], who)
    if remote is not None and opts.push:
        notes.push(repo, remote, who)
    elif opts.push:
        raise PipelineError("--push needs --remote")
    return VerifyReport(record, str(head.id), remote is not None and opts.push)
