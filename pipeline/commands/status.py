"""`hydrate status` and `hydrate history`: what each environment branch holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pygit2

from pipeline import clock
from pipeline.commands.context import Context
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Cluster, Environment, Inventory
from pipeline.config.source import config_root, open_repository, tree_at
from pipeline.errors import GitError, PipelineError
from pipeline.promote import live, notes, waves
from pipeline.sinks import branch, ledger
from pipeline.sinks.oci import publishing
from pipeline.sinks.remote import Remote
from pipeline.words import counted

# How the source of a branch relates to the main revision:
#   in        the source is in main's history (`behind` says how far main is ahead)
#   outside   the source is not in main's history (published from another branch)
#   missing   the source commit is not in this repository
#   shallow   this clone's history is cut, so it cannot tell
#   unknown   the branch records no source
Lineage = Literal["in", "outside", "missing", "shallow", "unknown"]


@dataclass(frozen=True)
class Publish:
    """One commit of an env branch."""

    commit: str
    time: dt.datetime
    source: str | None
    subject: str
    clusters: int | None  # clusters on the branch after it
    changed: str  # the body's summary line ("3 clusters changed, …")
    by_hydrate: bool = True  # False: a commit made by hand on the branch
    kind: str = "publish"  # publish | promote | forced | rollback | by hand
    promoted_from: str = ""  # "<env> <env-branch sha>"
    wave: str = ""
    gates: tuple[str, ...] = ()  # "<gate> <passed|bypassed> <evidence>"
    bypass: str = ""  # the reason of a forced commit
    rollback_of: str = ""
    checks: tuple[notes.Record, ...] = ()  # recorded on this commit (verify)
    reason: str = ""  # why a person rolled back or released a hold
    released: tuple[str, ...] = ()  # holds lifted: "<source> on <env>: <reason>"
    made_live: tuple[notes.Record, ...] = ()  # sources a no-op publish made live on it


@dataclass(frozen=True)
class EnvStatus:
    env: str
    branch: str
    agent: str
    head: Publish | None
    behind: int | None  # commits on the main revision since the source; None if unknown
    lineage: Lineage = "unknown"
    read: str = ""  # the ref the head was read from, or the remote's URL
    foreign: str | None = None  # why the head is not a hydrate branch head (None: it is)
    drift: tuple[str, ...] = ()  # clusters edited on the branch since hydrate wrote them
    retired: bool = False  # a hydrate branch of an environment the inventory no longer has
    waits: str = ""  # a rollout under way: what the next wave waits for
    rollout: ledger.Rollout | None = None  # a rollout in waves, if any
    holds: Mapping[str, str] = field(default_factory=dict)  # held sources and why
    live: str | None = None  # the source live on every cluster (a no-op publish's too)
    live_since: dt.datetime | None = None
    noted: bool = False  # `live` was made live by a note (a publish that changed nothing)
    lacking: tuple[str, ...] = ()  # a rollout under way: the clusters without its source
    landed: dt.datetime | None = None  # a rollout under way: when its last step landed
    live_subject: str = ""  # the subject of `live`, when a note made it live
    registry: str | None = None  # an OCI environment: its repository
    tags: tuple[publishing.Drift, ...] = ()  # moving tags not on the ledger's digest
    registry_error: str = ""  # the registry could not be read
    registry_empty: bool = False  # the ledger records no artifact in it yet


def _publish(repo: pygit2.Repository, commit: pygit2.Commit,
             evidence: notes.Evidence) -> Publish:
    said = ledger.trailers(commit)
    lines = commit.message.splitlines()
    summary = next((ln for ln in lines[1:] if ln.startswith(("Render of ", "Promotion of ",
                                                              "Rollback of ", "Release of ", "Hold on "))),
                   "")
    led = ledger.read(repo, commit)
    # A commit made by hand keeps the metadata: its source is still the last render's.
    source = said.source or (led.source.commit if led is not None else None)
    when = dt.datetime.fromtimestamp(commit.commit_time, dt.timezone(
        dt.timedelta(minutes=commit.commit_time_offset)))
    kind = (led.kind if led is not None else "publish") if said.by_hydrate else "by hand"
    if said.by_hydrate and said.rollback_of:
        kind = "rollback"
    records = evidence.records(commit.id)
    return Publish(str(commit.id), when, source, lines[0] if lines else "",
                   len(led.clusters) if led is not None else None,
                   summary.split(": ", 1)[1] if ": " in summary else summary,
                   said.by_hydrate, kind, said.promoted_from, said.wave, said.gates,
                   said.bypass_reason, said.rollback_of,
                   tuple(r for r in records if r.kind == "check"), said.reason, said.released,
                   tuple(r for r in records if r.kind == "live"))


def _head(repo: pygit2.Repository, name: str,
          remote: Remote | None) -> tuple[pygit2.Commit, str] | None:
    if remote is not None:
        found = remote.fetch(name)
        return (found, remote.url) if found is not None else None
    return branch.head(repo, name)


def lineage(repo: pygit2.Repository, tip: pygit2.Commit, source: str | None,
            shallow: bool) -> tuple[Lineage, int | None]:
    """How `source` relates to `tip`, and how many commits `tip` is ahead of it. `shallow`:
    whether the clone's history is cut."""
    try:
        oid = pygit2.Oid(hex=source or "")
    except ValueError:
        return "unknown", None
    if not repo.odb.exists(oid):
        return ("shallow" if shallow else "missing"), None
    try:
        ahead, behind = repo.ahead_behind(tip.id, oid)
    except (ValueError, KeyError, pygit2.GitError):
        return ("shallow" if shallow else "unknown"), None
    if behind:
        # Not an ancestor; in a shallow clone the cut history may hide that it is one.
        return ("shallow" if shallow else "outside"), None
    return "in", ahead


def status(ctx: Context, main: str, remote: str | None = None) -> list[EnvStatus]:
    """Each environment's branch head, the source live there, how far `main` is ahead of
    it, a rollout under way and the clusters edited on the branch."""
    repo = open_repository(ctx.repo)
    root = config_root(repo, ctx.repo)
    main_tree = tree_at(repo, main, root)
    tip = main_tree.commit
    # Read before any fetch: libgit2 forgets a clone's shallow roots when it fetches an
    # unrelated branch such as an env branch.
    shallow = repo.is_shallow
    inv = inventory_mod.load(main_tree)
    rem = ctx.remote(repo, remote)
    evidence = (notes.of_remote(repo, rem, ctx.warn) if rem is not None
                else notes.local(repo, ctx.warn))
    heads = {env.name: _head(repo, env.branch, rem) for env in inv.environments}
    held = ledger.holds_in_force({e: ledger.read(repo, h[0] if h else None)
                                  for e, h in heads.items()})
    found = []
    for env in inv.environments:
        head = heads[env.name]
        if head is None:
            found.append(EnvStatus(env.name, env.branch, env.agent, None, None))
            continue
        commit, read = head
        pub = _publish(repo, commit, evidence)
        problem = branch.foreign(repo, commit, env.name)
        if problem is not None:
            found.append(EnvStatus(env.name, env.branch, env.agent, pub, None, "unknown", read,
                                   problem))
            continue
        timeline = live.Timeline(repo, commit, env.name, evidence)
        run = timeline.current()
        live_source = run.source if run is not None else None
        how, behind = lineage(repo, tip, live_source or pub.source, shallow)
        rollout = timeline.ledger.rollout if timeline.ledger is not None else None
        lacking = _lacking(repo, root, inv, env, timeline, rollout)
        holds = {h.hold.source: h.hold.reason for hs in held.values() for h in hs
                 if h.env == env.name}
        last = timeline.landing(len(rollout.steps) - 1) if rollout and rollout.steps else None
        found.append(EnvStatus(
            env.name, env.branch, env.agent, pub, behind, how, read, None,
            branch.drift(repo, commit),
            waits=_waits(env, timeline, rollout, lacking, _members(repo, root, inv, env, rollout)),
            rollout=rollout if lacking else None, holds=holds, live=live_source,
            live_since=run.since if run is not None else None,
            noted=run is not None and run.start[1] >= 0, lacking=lacking,
            landed=last.since if last is not None else None,
            live_subject=_subject(repo, live_source) if run and run.start[1] >= 0 else "",
            **_tags(ctx, env, timeline.ledger)))
    return found + _retired(repo, inv, rem, tip, shallow, evidence)


def registry_line(row: EnvStatus) -> str:
    """What `status` says of an OCI environment's moving tags."""
    if row.registry_error:
        return f"registry {row.registry}: cannot read the tags ({row.registry_error})"
    if row.registry_empty:
        return (f"registry {row.registry}: the branch records no artifact there yet; the next "
                "publish (or promotion) pushes every cluster's")
    if not row.tags:
        return f"registry {row.registry}: every cluster's tag is on the ledger's digest"
    shown = "; ".join(f"{d.cluster} at {d.tag[:19] + '…' if d.tag else 'no tag'}, the ledger "
                      f"records {d.recorded[:19]}…" for d in row.tags[:10])
    more = f"; … and {len(row.tags) - 10} more" if len(row.tags) > 10 else ""
    return (f"registry {row.registry}: drift: {counted(len(row.tags), 'tag')} not on the "
            f"ledger's digest ({shown}{more}); the next publish or promotion puts them back, "
            "or `hydrate rollback` if someone moved them on purpose")


def _tags(ctx: Context, env: Environment, led: ledger.Ledger | None) -> dict[str, Any]:
    """An OCI environment's moving tags against its ledger (drift: someone retagged by
    hand, or a run stopped before it moved them)."""
    if env.oci is None:
        return {}
    try:
        target = publishing.open_target(env, ctx.environ)
        assert target is not None
        if not publishing.recorded(target, led):
            return {"registry": env.oci.repository, "registry_empty": True}
        return {"registry": env.oci.repository, "tags": tuple(publishing.drift(target, led))}
    except PipelineError as e:
        return {"registry": env.oci.repository, "registry_error": str(e)}


def _subject(repo: pygit2.Repository, sha: str | None) -> str:
    """The subject of commit `sha` ("" if it is not in this repository)."""
    try:
        return repo[sha].peel(pygit2.Commit).message.splitlines()[0] if sha else ""
    except (KeyError, ValueError, IndexError):
        return ""


def _members(repo: pygit2.Repository, root: str, inv: Inventory, env: Environment,
             rollout: ledger.Rollout | None) -> list[Cluster]:
    """The environment's clusters in the rollout source's configuration (the one it is
    rendered from), else in main's."""
    config = inv
    if rollout is not None:
        try:
            config = inventory_mod.load(tree_at(repo, rollout.source, root))
        except PipelineError:
            config = inv  # the source is not in this repository (a shallow clone)
    return sorted((c for c in config.clusters.values() if c.environment == env.name),
                  key=lambda c: c.name)


def _lacking(repo: pygit2.Repository, root: str, inv: Inventory, env: Environment,
             timeline: live.Timeline, rollout: ledger.Rollout | None) -> tuple[str, ...]:
    """A rollout's clusters that do not carry its source yet (none: it is done)."""
    if rollout is None or timeline.ledger is None:
        return ()
    members = _members(repo, root, inv, env, rollout)
    return tuple(sorted(waves.lacking((c.name for c in members), timeline.carried(),
                                      rollout.source)))


def _waits(env: Environment, timeline: live.Timeline, rollout: ledger.Rollout | None,
           lacking: tuple[str, ...], members: list[Cluster]) -> str:
    """What the next step of a rollout under way waits for (from the configuration)."""
    p = env.promotion
    if rollout is None or not lacking or p is None or not p.waves or timeline.ledger is None:
        return ""
    nxt = waves.next_step(p.waves, members, timeline.carried(), rollout.source,
                          rollout.steps)
    if nxt is None or nxt.wave is None:
        return ""
    previous = nxt.gated_by
    if previous is None:
        return f"wave {nxt.wave.name} waits for the gates of {p.source}"
    landed = timeline.latest_landing(previous.name)
    since = clock.rfc3339(landed.since) if landed is not None else "?"
    needs = [f"{previous.soak} after {since}"] if previous.soak else []
    needs += [f"{check} recorded for wave {previous.name}" for check in previous.requires]
    return f"wave {nxt.wave.name} waits for {', '.join(needs) or 'nothing but windows'}"


def _retired(repo: pygit2.Repository, inv: Inventory, rem: Remote | None,
             tip: pygit2.Commit, shallow: bool, evidence: notes.Evidence) -> list[EnvStatus]:
    """Branches hydrate wrote for environments the inventory no longer has: agents that
    read them keep applying what they hold. Local and remote-tracking branches are all
    looked at; of a remote's, those beside the environment branches (e.g. `env/*`)."""
    known = {env.branch for env in inv.environments}
    known |= {f"{b}-next" for b in known}  # pull-request branches of a promotion
    if rem is not None:
        folders = {b.rsplit("/", 1)[0] + "/" for b in known if "/" in b}
        names = sorted(n for ref in rem.heads() if ref.startswith("refs/heads/")
                       and (n := ref.removeprefix("refs/heads/")) not in known
                       and n.startswith(tuple(folders)))
    else:
        names = sorted({name for ref in repo.references
                        if (name := _branch_name(repo, ref)) is not None and name not in known})
    found = []
    for name in names:
        head = _head(repo, name, rem)
        if head is None:
            continue
        commit, read = head
        led = ledger.read(repo, commit)
        if led is None or branch.foreign(repo, commit, led.environment) is not None:
            continue  # not a hydrate branch: none of our business
        pub = _publish(repo, commit, evidence)
        how, behind = lineage(repo, tip, pub.source, shallow)
        found.append(EnvStatus(led.environment, name, led.agent, pub, behind, how, read,
                               retired=True))
    return found


def _branch_name(repo: pygit2.Repository, ref: str) -> str | None:
    """`env/prod` for refs/heads/env/prod and refs/remotes/origin/env/prod, else None."""
    if ref.startswith("refs/heads/"):
        return ref.removeprefix("refs/heads/")
    for remote in repo.remotes.names():
        if ref.startswith(f"refs/remotes/{remote}/") and not ref.endswith("/HEAD"):
            return ref.removeprefix(f"refs/remotes/{remote}/")
    return None


def history(ctx: Context, env_name: str, main: str, remote: str | None = None,
            limit: int | None = None) -> list[Publish]:
    """The commits of an environment branch, first parents, newest first (all, or the
    `limit` newest)."""
    repo = open_repository(ctx.repo)
    env = inventory_mod.load(tree_at(repo, main, config_root(repo, ctx.repo))).environment(
        env_name)
    rem = ctx.remote(repo, remote)
    evidence = (notes.of_remote(repo, rem, ctx.warn) if rem is not None
                else notes.local(repo, ctx.warn))
    head = _head(repo, env.branch, rem)
    if head is None:
        hint = "" if remote else (", no local or remote-tracking branch; use --remote to "
                                  "read a remote")
        raise GitError(f"{env.branch}: no such branch (nothing published to {env.name} yet"
                       f"{hint})")
    entries = []
    walker = repo.walk(head[0].id, pygit2.enums.SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    for commit in walker:
        entries.append(_publish(repo, commit, evidence))
        if limit is not None and len(entries) >= limit:
            break
    return entries
