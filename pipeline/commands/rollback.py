"""`hydrate rollback`: put an environment back on an earlier source, exactly as it was.

The cluster trees of the env-branch commit that last carried that source are restored as
a new commit on top of the head (never re-rendered at HEAD, never a force push), without
gates. The source it replaces gets a hold: automatic promotion skips it, and promoting it
by hand needs `--force --reason`. A cluster the restored commit does not have (added
since) keeps its tree while the inventory still has it, unless `--remove-added`; the
report names every cluster changed, added, removed or kept. A held source is never put
back (that would land it without `--force`): lift its hold first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pygit2

from pipeline.commands import artifacts
from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Environment
from pipeline.config.source import config_root, open_repository, tree_at
from pipeline.errors import PipelineError
from pipeline.promote import live, notes
from pipeline.sinks import branch, landing, ledger, refs
from pipeline.sinks.planning import check_head


@dataclass(frozen=True)
class RollbackOptions:
    env: str
    reason: str
    to: str | None = None  # a source; default: the one live before the current one
    remote: str | None = None
    push: bool = False
    main: str = "HEAD"
    remove_added: bool = False  # remove clusters the restored commit does not have


@dataclass(frozen=True)
class RollbackReport:
    env: str
    branch: str
    replaced: str  # the source taken off (now held)
    restored: str  # the source put back
    carrier: str  # the env-branch commit whose trees were restored
    commit: str
    pushed: bool
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # not in the restored commit, still in the inventory
    not_restored: tuple[str, ...] = ()  # in the restored commit, no longer in the inventory
    oci: artifacts.OciResult | None = None  # an OCI environment: the tags moved back


def _carrier(repo: pygit2.Repository, head: pygit2.Commit, env: Environment,
             current: str, wanted: str | None,
             held: Mapping[str, tuple[ledger.HeldOn, ...]]) -> tuple[str, pygit2.Commit]:
    """The source to restore and the newest commit that carried it whole. The default
    skips held sources; one asked for by name is refused if held."""
    seen: list[str] = []
    for commit in live.first_parents(head):
        sources = set(live.cluster_sources(repo, commit).values())
        carried = sources.pop() if len(sources) == 1 else None
        if carried is None or carried == current:
            continue
        if wanted is not None and not carried.startswith(wanted):
            if carried[:7] not in seen:
                seen.append(carried[:7])
            continue
        if carried in held:
            where = "; ".join(f"on {h.env}: {h.hold.reason}" for h in held[carried])
            if wanted is not None:
                raise PipelineError(
                    f"--to {wanted}: {carried[:7]} is held ({where}); putting it back would "
                    "land it past its hold: lift the hold first (hydrate hold --release "
                    f"{carried[:12]} --env {held[carried][0].env} --reason TEXT)")
            if carried[:7] not in seen:
                seen.append(carried[:7])
            continue
        return carried, commit
    if wanted is not None:
        raise PipelineError(f"--to {wanted}: no commit of {env.branch} carries that source on "
                            f"all clusters (earlier sources there: {', '.join(seen[:10]) or 'none'})")
    skipped = f" that is not held (held: {', '.join(seen[:10])})" if seen else ""
    raise PipelineError(f"{env.branch}: no earlier source to roll back to{skipped} "
                        f"({current[:7] or 'the rollout'} is the only other one it carried)")


def rollback(ctx: Context, opts: RollbackOptions) -> RollbackReport:
    if not opts.reason.strip():
        raise PipelineError("--reason TEXT is required: it is recorded, and held on the source")
    repo = open_repository(ctx.repo)
    inv = inventory_mod.load(tree_at(repo, opts.main, config_root(repo, ctx.repo)))
    env = inv.environment(opts.env)
    remote = ctx.remote(repo, opts.remote)
    dest = landing.Destination(env.branch, remote, opts.push)
    mine = sorted(c.name for c in inv.clusters.values() if c.environment == env.name)
    who = refs.signature(repo, ctx.environ, "committer")
    author = refs.signature(repo, ctx.environ, "author")
    reason = " ".join(opts.reason.split())
    # An OCI environment: its tags go back to the digests the restored commit recorded
    # (nothing is packed again, unless the registry lost one or it predates the registry).
    target = artifacts.connect(env, ctx.environ, mine)

    def attempt(_: int) -> RollbackReport | None:
        heads = {e.name: landing.Destination(e.branch, remote).head(repo)
                 for e in inv.environments}
        head = heads[env.name]
        if head is None:
            raise PipelineError(f"{env.branch}: nothing published to {env.name}, nothing to "
                                "roll back")
        evidence = notes.judged(repo, remote, ctx.warn)
        timeline = live.Timeline(repo, head, env.name, evidence)
        run = timeline.current()
        rollout = timeline.ledger.rollout if timeline.ledger is not None else None
        current = run.source if run is not None else (rollout.source if rollout else "")
        check_head(repo, head, env, current or "0" * 40, False)
        held = ledger.holds_in_force({e: ledger.read(repo, c) for e, c in heads.items()})
        restored, carrier = _carrier(repo, head, env, current, opts.to, held)
        holds = dict(timeline.ledger.holds if timeline.ledger else {})
        if current:
            holds[current] = ledger.Hold(current, f"rolled back: {reason}", str(head.id))
        step = branch.Step(
            "rollback", f"Rollback of {env.name} from {current[:12] or 'a mixed rollout'} to "
            f"{restored[:12]}: the cluster trees of {str(carrier.id)[:12]}, restored as they "
            "were", ((ledger.ROLLBACK_OF, str(head.id)), (ledger.REASON, reason)),
            holds=holds, lines=(f"Reason: {reason}",))
        place, pushed = artifacts.placing(repo, target, head, ctx.environ)
        done = branch.restore(repo, head, carrier, env, mine, opts.remove_added, step, author,
                              who, place)
        assert done.built.commit is not None
        landed = landing.land(repo, done.built.commit, dest, head.id,
                              f"hydrate rollback to {restored[:7]}")
        if landed is None:
            return None
        b = done.built
        oci = artifacts.finish(repo, target, landed.commit,
                               pushed[-1] if pushed else artifacts.Pushed(), True)
        return RollbackReport(env.name, env.branch, current, restored, str(carrier.id),
                              landed.commit, landed.pushed, b.changed, b.added, b.removed,
                              done.kept, done.not_restored, oci)

    return landing.retrying(attempt, env.branch, "writers", "rollback")
