"""`hydrate rollback`: put an environment back on an earlier source, exactly as it was.

The cluster trees of the env-branch commit that last carried that source are restored as
a new commit on top of the head (never re-rendered at HEAD, never a force push), without
gates. The source it replaces gets a hold: automatic promotion skips it, and promoting it
by hand needs `--force --reason`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Environment
from pipeline.config.source import config_root, open_repository, tree_at
from pipeline.errors import PipelineError
from pipeline.promote import live
from pipeline.sinks import branch, landing, ledger, refs
from pipeline.sinks.credentials import Credentials, configure_tls
from pipeline.sinks.planning import check_head
from pipeline.sinks.remote import Remote


@dataclass(frozen=True)
class RollbackOptions:
    env: str
    reason: str
    to: str | None = None  # a source; default: the one live before the current one
    remote: str | None = None
    push: bool = False
    main: str = "HEAD"


@dataclass(frozen=True)
class RollbackReport:
    env: str
    branch: str
    replaced: str  # the source taken off (now held)
    restored: str  # the source put back
    carrier: str  # the env-branch commit whose trees were restored
    commit: str
    pushed: bool


def _carrier(repo: pygit2.Repository, head: pygit2.Commit, env: Environment,
             current: str, wanted: str | None) -> tuple[str, pygit2.Commit]:
    """The source to restore and the newest commit that carried it whole."""
    seen = []
    for commit in live.first_parents(head):
        sources = set(live.cluster_sources(repo, commit).values())
        carried = sources.pop() if len(sources) == 1 else None
        if carried is None or carried == current:
            continue
        if wanted is None or carried.startswith(wanted):
            return carried, commit
        seen.append(carried[:7])
    if wanted is not None:
        raise PipelineError(f"--to {wanted}: no commit of {env.branch} carries that source on "
                            f"all clusters (earlier sources there: {', '.join(seen[:10]) or 'none'})")
    raise PipelineError(f"{env.branch}: no earlier source to roll back to ({current[:7]} is the "
                        "only one it ever carried)")


def rollback(ctx: Context, opts: RollbackOptions) -> RollbackReport:
    if not opts.reason.strip():
        raise PipelineError("--reason TEXT is required: it is recorded, and held on the source")
    repo = open_repository(ctx.repo)
    inv = inventory_mod.load(tree_at(repo, opts.main, config_root(repo, ctx.repo)))
    env = inv.environment(opts.env)
    remote = None
    if opts.remote is not None:
        configure_tls(ctx.environ)
        remote = Remote(repo, opts.remote, Credentials.from_environ(ctx.environ), ctx.environ)
    dest = landing.Destination(env.branch, remote, opts.push)
    mine = sorted(c.name for c in inv.clusters.values() if c.environment == env.name)
    who = refs.signature(repo, ctx.environ, "committer")
    author = refs.signature(repo, ctx.environ, "author")
    reason = " ".join(opts.reason.split())

    def attempt(_: int) -> RollbackReport | None:
        head = dest.head(repo)
        if head is None:
            raise PipelineError(f"{env.branch}: nothing published to {env.name}, nothing to "
                                "roll back")
        state = live.live(repo, head, env.name)
        current = state.source or (state.rollout.source if state.rollout else "")
        check_head(repo, head, env, current or "0" * 40, False)
        restored, carrier = _carrier(repo, head, env, current, opts.to)
        now = ledger.read(repo, head)
        holds = dict(now.holds if now else {})
        if current:
            holds[current] = ledger.Hold(current, f"rolled back: {reason}", str(head.id))
        step = branch.Step(
            "rollback", f"Rollback of {env.name} from {current[:12] or 'a mixed rollout'} to "
            f"{restored[:12]}: the cluster trees of {str(carrier.id)[:12]}, restored as they "
            "were", ((ledger.ROLLBACK_OF, str(head.id)), (ledger.REASON, reason)),
            holds=holds, lines=(f"Reason: {reason}",))
        done = branch.restore(repo, head, carrier, env, mine, False, step, author, who)
        assert done.built.commit is not None
        landed = landing.land(repo, done.built.commit, dest, head.id,
                              f"hydrate rollback to {restored[:7]}")
        if landed is None:
            return None
        return RollbackReport(env.name, env.branch, current, restored, str(carrier.id),
                              landed.commit, landed.pushed)

    return landing.retrying(attempt, env.branch, "writers", "rollback")
