"""`hydrate rollback`: put an environment back on an earlier source, exactly as it was.

The cluster trees of the env-branch commit that last carried that source are restored as
a new commit on top of the head (never re-rendered at HEAD, never a force push), without
gates. The source it replaces gets a hold: automatic promotion skips it, and promoting it
by hand needs `--force --reason`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pygit2

from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Environment
from pipeline.config.source import config_root, open_repository, tree_at
from pipeline.errors import GitError, PipelineError
from pipeline.promote import live
from pipeline.sinks import branch, refs
from pipeline.sinks.credentials import Credentials, configure_tls
from pipeline.sinks.planning import branch_head, check_head
from pipeline.sinks.remote import Remote

ROLLBACK_TRAILER = "Hydrate-Rollback-Of"
ATTEMPTS = 6


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
    for _ in range(ATTEMPTS):
        head = branch_head(repo, env, remote)
        if head is None:
            raise PipelineError(f"{env.branch}: nothing published to {env.name}, nothing to "
                                "roll back")
        state = live.live(repo, head, env.name)
        current = state.source or str(state.rollout.get("source") or "")
        check_head(repo, head, env, current or "0" * 40, False)
        restored, carrier = _carrier(repo, head, env, current, opts.to)
        commit = _commit(repo, ctx, env, head, carrier, restored, current, opts.reason)
        report = RollbackReport(env.name, env.branch, current, restored, str(carrier.id),
                                str(commit), False)
        if remote is not None and opts.push:
            if remote.push(commit, env.branch):
                return replace(report, pushed=True)
            continue
        if remote is not None:
            repo.create_reference_direct(f"refs/heads/{env.branch}", commit, True,
                                         message=f"hydrate rollback to {restored[:7]}")
            return report
        if refs.update_ref(repo, f"refs/heads/{env.branch}", commit, head.id,
                             f"hydrate rollback to {restored[:7]}"):
            return report
    raise GitError(f"{env.branch}: gave up after {ATTEMPTS} attempts: other writers kept moving "
                   "the branch; run the rollback again")


def _commit(repo: pygit2.Repository, ctx: Context, env: Environment, head: pygit2.Commit,
            carrier: pygit2.Commit, restored: str, current: str, reason: str) -> pygit2.Oid:
    meta = branch.metadata_of(repo, carrier)
    holds = dict(branch.metadata_of(repo, head).get("holds") or {})
    if current:
        holds[current] = f"rolled back: {' '.join(reason.split())}"
    meta.update(kind="rollback", holds=holds)
    meta.pop("rollout", None)
    blob = repo.create_blob((json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    folder = repo.TreeBuilder()
    folder.insert("metadata.json", blob, pygit2.enums.FileMode.BLOB)
    root = repo.TreeBuilder(carrier.tree)
    root.insert(".hydrate", folder.write(), pygit2.enums.FileMode.TREE)
    subject = str((meta.get("source") or {}).get("subject", ""))
    message = "\n".join([
        f"{restored[:7]}: {subject}", "",
        f"Rollback of {env.name} from {current[:12] or 'a mixed rollout'} to {restored[:12]}: "
        f"the cluster trees of {str(carrier.id)[:12]}, restored as they were.",
        f"Reason: {' '.join(reason.split())}", "",
        f"{branch.SOURCE_TRAILER}: {restored}", f"{branch.ENV_TRAILER}: {env.name}",
        f"{ROLLBACK_TRAILER}: {head.id}", ""])
    who = refs.signature(repo, ctx.environ, "committer")
    author = refs.signature(repo, ctx.environ, "author")
    return repo.create_commit(None, author, who, message, root.write(), [head.id])
