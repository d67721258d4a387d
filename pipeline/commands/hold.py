"""`hydrate hold`: hold a source, or lift the holds on it, without changing any cluster.

A hold is recorded in the ledger of an environment branch (a rollback puts one on the
source it replaces) and holds everywhere: no promotion or publish lands the source
without `--force --reason`. Lifting is recorded too, on the branch named, so that every
hold and its end can be read back from git; the commit changes the ledger only.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.source import config_root, open_repository, tree_at
from pipeline.errors import PipelineError
from pipeline.promote import live, notes, record
from pipeline.sinks import branch, landing, ledger, refs
from pipeline.sinks.planning import check_head


@dataclass(frozen=True)
class HoldOptions:
    source: str
    env: str
    reason: str
    release: bool = False
    remote: str | None = None
    push: bool = False
    main: str = "HEAD"


@dataclass(frozen=True)
class HoldReport:
    env: str
    branch: str
    source: str
    commit: str
    pushed: bool
    where: tuple[str, ...]  # the holds lifted ("on <env>: <reason>"), or the one put


def _resolve(repo: pygit2.Repository, rev: str, known: set[str]) -> str:
    """`rev` as a full SHA: a commit of this repository, or a source a ledger names."""
    found = sorted(s for s in known if s.startswith(rev.lower())) if len(rev) >= 4 else []
    if len(found) == 1:
        return found[0]
    try:
        return str(repo.revparse_single(rev).peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError):
        raise PipelineError(f"{rev}: no such commit here, and no held source starts with it "
                            "(give the full SHA)") from None


def hold(ctx: Context, opts: HoldOptions) -> HoldReport:
    if not opts.reason.strip():
        raise PipelineError("--reason TEXT is required: it is recorded")
    repo = open_repository(ctx.repo)
    inv = inventory_mod.load(tree_at(repo, opts.main, config_root(repo, ctx.repo)))
    env = inv.environment(opts.env)
    remote = ctx.remote(repo, opts.remote)
    dest = landing.Destination(env.branch, remote, opts.push)
    who = refs.signature(repo, ctx.environ, "committer")
    author = refs.signature(repo, ctx.environ, "author")
    reason = " ".join(opts.reason.split())

    def attempt(_: int) -> HoldReport | None:
        ledgers = {e.name: ledger.read(repo, landing.Destination(e.branch, remote).head(repo))
                   for e in inv.environments}
        head = dest.head(repo)
        if head is None:
            raise PipelineError(f"{env.branch}: nothing published to {env.name}: a hold is "
                                "recorded on an environment branch")
        in_force = ledger.holds_in_force(ledgers)
        source = _resolve(repo, opts.source, set(in_force))
        check_head(repo, head, env, source, False)
        before = ledger.read(repo, head)
        held = in_force.get(source, ())
        if opts.release:
            if not held:
                raise PipelineError(f"{source[:7]} is not held on any environment: nothing "
                                    "to release")
            holds, lifted = ledger.lifting(env.name, before, held, reason)
            step = branch.Step("release", f"Release of the holds on {source[:12]}",
                               ((ledger.REASON, reason), *record.released(held, reason)),
                               holds=holds, released=lifted)
            where = tuple(f"on {h.env}: {h.hold.reason}" for h in held)
        else:
            if any(h.env == env.name for h in held):
                raise PipelineError(f"{source[:7]} is already held on {env.name}")
            holds = dict(before.holds if before else {})
            holds[source] = ledger.Hold(source, f"held: {reason}", str(head.id))
            step = branch.Step("hold", f"Hold on {source[:12]}", ((ledger.REASON, reason),),
                               holds=holds)
            where = (f"on {env.name}: held: {reason}",)
        commit = branch.record(repo, head, env, step, author, who)
        # Promoter's note names what is live, which a publish that changed nothing may have
        # made newer than the source the copied ledger names.
        evidence = notes.judged(repo, remote, ctx.warn)
        run = live.Timeline(repo, head, env.name, evidence).current()
        landed = landing.land(repo, commit, dest, head.id,
                              f"hydrate hold {'--release ' if opts.release else ''}"
                              f"{source[:7]}", run.source if run is not None else None)
        if landed is None:
            return None
        return HoldReport(env.name, env.branch, source, landed.commit, landed.pushed, where)

    return landing.retrying(attempt, env.branch, "writers", "hold")
