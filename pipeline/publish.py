"""`hydrate publish`: render a source commit and commit it to environment branches.

The source is read from the object database (never the working tree). Each selected
environment gets one commit (or none, when nothing changed) built on its branch's head:
the remote's when `--remote` is given, the local branch's otherwise. Pushes are never
forced: a push that loses a race fetches the new head, rebuilds on it and tries again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pygit2

from pipeline import agents, branch, output
from pipeline import inventory as inventory_mod
from pipeline.app import Context, render_fleet
from pipeline.errors import GitError, PipelineError
from pipeline.inventory import Environment, Inventory
from pipeline.remote import Credentials, Remote, configure_tls, redact
from pipeline.render import FleetRender, Stats
from pipeline.source import GitTree, inputs_digest, open_repository, tree_at

MAX_ATTEMPTS = 6


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


@dataclass(frozen=True)
class PublishReport:
    source: str
    subject: str
    remote: str | None
    results: tuple[EnvResult, ...]
    stats: Stats
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def source_url(repo: pygit2.Repository) -> str:
    """Where the source lives, for provenance: origin's URL (redacted), else the path."""
    if "origin" in repo.remotes.names():
        url = repo.remotes["origin"].url
        if url:
            return redact(url)
    return (repo.workdir or repo.path).rstrip("/")


def select_envs(inv: Inventory, opts: PublishOptions) -> list[Environment]:
    if opts.all_envs:
        return list(inv.environments)
    if not opts.envs:
        return [inv.environments[0]]
    return [inv.environment(e) for e in dict.fromkeys(opts.envs)]


def outputs_for(fleet: FleetRender, env: Environment) -> list[branch.ClusterOutput]:
    outs = []
    for render in fleet.clusters:
        if render.cluster.environment != env.name:
            continue
        files = agents.cluster_files(render, env)
        outs.append(branch.ClusterOutput(
            render.cluster.name, files, output.digest(files),
            {"class": render.cluster.class_name, "site": render.cluster.site,
             "objects": render.objects}))
    return outs


def _backoff(attempt: int, sleep: Callable[[float], None]) -> None:
    sleep(min(2.0, 0.1 * 2 ** attempt) * (0.5 + random.random()))


def publish_env(repo: pygit2.Repository, env: Environment, source: branch.Source,
                outs: Sequence[branch.ClusterOutput], tools: dict[str, str], remote: Remote | None,
                push: bool, author: pygit2.Signature, committer: pygit2.Signature,
                sleep: Callable[[float], None] = time.sleep) -> EnvResult:
    """Commit `outs` to `env`'s branch, retrying when a concurrent publisher wins."""
    local_ref = f"refs/heads/{env.branch}"
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if remote is not None:
            base = remote.fetch(env.branch)
        else:
            ref = repo.references.get(local_ref)
            base = repo[ref.target].peel(pygit2.Commit) if ref is not None else None
        built = branch.build(repo, base, env, source, outs, tools, author, committer)

        def result(head: str | None, pushed: bool = False, b: branch.Built = built,
                   n: int = attempt) -> EnvResult:
            return EnvResult(env.name, env.branch, str(b.commit) if b.commit else None, head,
                             b.added, b.changed, b.removed, b.blobs_written, b.clusters_reused,
                             n, pushed)

        if built.commit is None:
            return result(str(base.id) if base is not None else None)
        log = f"hydrate publish {source.commit[:7]}"
        if remote is not None and push:
            if remote.push(built.commit, env.branch):
                return result(str(built.commit), pushed=True)
        elif remote is not None:
            # Without --push the commit stays local: the branch follows the remote's head.
            repo.create_reference_direct(local_ref, built.commit, True, message=log)
            return result(str(built.commit))
        elif branch.update_ref(repo, local_ref, built.commit, base.id if base else None, log):
            return result(str(built.commit))
        _backoff(attempt, sleep)
    raise GitError(f"{env.branch}: gave up after {MAX_ATTEMPTS} attempts: other publishers kept "
                   "moving the branch; run the publish again")


def publish(ctx: Context, opts: PublishOptions) -> PublishReport:
    """Render `opts.source` and publish it to the selected environments' branches."""
    start = time.monotonic()
    if opts.push and not opts.remote:
        raise PipelineError("--push needs --remote (a remote name such as origin, or a URL)")
    repo = open_repository(ctx.repo)
    tree: GitTree = tree_at(repo, opts.source)
    inv = inventory_mod.load(tree)
    envs = select_envs(inv, opts)
    remote = None
    if opts.remote:
        configure_tls(ctx.environ)
        remote = Remote(repo, opts.remote, Credentials.from_environ(ctx.environ))
        remote.heads()  # reach the remote before any work: a bad URL or token writes nothing
    loaded = time.monotonic()
    fleet, tools = render_fleet(ctx, tree, inv, tuple(e.name for e in envs), (), opts.jobs)
    rendered = time.monotonic()
    commit = tree.commit
    source = branch.Source(source_url(repo), str(commit.id), commit.message.splitlines()[0]
                           if commit.message else "", inputs_digest(tree))
    versions = {"helm": tools.helm.version, "kustomize": tools.kustomize.version}
    author = branch.signature(repo, ctx.environ, "author", opts.author)
    committer = branch.signature(repo, ctx.environ, "committer", opts.committer or opts.author)
    results = tuple(
        publish_env(repo, env, source, outputs_for(fleet, env), versions, remote, opts.push,
                    author, committer)
        for env in envs
    )
    end = time.monotonic()
    timings = {"load": loaded - start, "render": rendered - loaded, "git": end - rendered}
    return PublishReport(str(commit.id), source.subject, remote.url if remote else None, results,
                         fleet.stats, end - start, timings)
