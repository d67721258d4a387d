"""`hydrate status` and `hydrate history`: what each environment branch holds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pygit2

from pipeline import branch
from pipeline import inventory as inventory_mod
from pipeline.app import Context
from pipeline.errors import GitError
from pipeline.remote import Credentials, Remote, configure_tls
from pipeline.source import open_repository, tree_at


@dataclass(frozen=True)
class Publish:
    """One commit of an env branch."""

    commit: str
    time: dt.datetime
    source: str | None
    subject: str
    clusters: int | None  # clusters on the branch after it
    changed: str  # the body's summary line ("3 clusters changed, …")


@dataclass(frozen=True)
class EnvStatus:
    env: str
    branch: str
    agent: str
    head: Publish | None
    behind: int | None  # commits on the main revision since the source; None if unknown


def _publish(repo: pygit2.Repository, commit: pygit2.Commit) -> Publish:
    trailers = commit.message_trailers
    lines = commit.message.splitlines()
    summary = next((ln for ln in lines[1:] if ln.startswith("Render of ")), "")
    meta = branch.metadata_of(repo, commit)
    clusters = meta.get("clusters")
    when = dt.datetime.fromtimestamp(commit.commit_time, dt.timezone(
        dt.timedelta(minutes=commit.commit_time_offset)))
    return Publish(str(commit.id), when, trailers.get(branch.SOURCE_TRAILER),
                   lines[0] if lines else "", len(clusters) if isinstance(clusters, dict) else None,
                   summary.split(": ", 1)[1] if ": " in summary else summary)


def _head(repo: pygit2.Repository, name: str, remote: Remote | None) -> pygit2.Commit | None:
    if remote is not None:
        return remote.fetch(name)
    ref = repo.references.get(f"refs/heads/{name}")
    return repo[ref.target].peel(pygit2.Commit) if ref is not None else None


def _remote(ctx: Context, repo: pygit2.Repository, spec: str | None) -> Remote | None:
    if spec is None:
        return None
    configure_tls(ctx.environ)
    return Remote(repo, spec, Credentials.from_environ(ctx.environ))


def status(ctx: Context, main: str, remote: str | None = None) -> list[EnvStatus]:
    """Each environment's branch head, its source, and how far `main` is ahead of it."""
    repo = open_repository(ctx.repo)
    main_tree = tree_at(repo, main)
    tip = main_tree.commit
    inv = inventory_mod.load(main_tree)
    rem = _remote(ctx, repo, remote)
    found = []
    for env in inv.environments:
        head = _head(repo, env.branch, rem)
        pub = _publish(repo, head) if head is not None else None
        behind = None
        if pub is not None and pub.source is not None:
            try:
                ahead, _ = repo.ahead_behind(tip.id, pygit2.Oid(hex=pub.source))
                behind = ahead
            except (ValueError, KeyError, pygit2.GitError):
                behind = None
        found.append(EnvStatus(env.name, env.branch, env.agent, pub, behind))
    return found


def history(ctx: Context, env_name: str, main: str, remote: str | None = None,
            limit: int = 50) -> list[Publish]:
    """The publishes of an environment branch, newest first."""
    repo = open_repository(ctx.repo)
    env = inventory_mod.load(tree_at(repo, main)).environment(env_name)
    head = _head(repo, env.branch, _remote(ctx, repo, remote))
    if head is None:
        raise GitError(f"{env.branch}: no such branch (nothing published to {env.name} yet"
                       f"{'' if remote else '; use --remote to read a remote'})")
    entries = []
    for commit in repo.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL):
        entries.append(_publish(repo, commit))
        if len(entries) >= limit:
            break
    return entries
