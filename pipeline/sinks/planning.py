"""What a publish builds on and what it renders: the branch head it may build on (never
one holding source history; one hydrate did not write only with --force), and the plan
of each attempt (re-render what the change since the branch's source touches, reuse the
rest, restore clusters edited on the branch; render everything when unsure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import pygit2

from pipeline.config.model import Environment, Inventory
from pipeline.config.source import GitTree, tree_at
from pipeline.errors import GitError, PipelineError
from pipeline.render import affected
from pipeline.render.tools import Toolset
from pipeline.sinks import branch, landing, ledger
from pipeline.sinks.remote import Remote
from pipeline.words import counted


@dataclass(frozen=True)
class Plan:
    """What one publish attempt renders, and what it takes from the branch as is."""

    render: frozenset[str]
    reuse: Mapping[str, ledger.Cluster]  # with the subtree they keep
    note: str  # why it is incremental or not, for the report
    drifted: frozenset[str] = frozenset()  # clusters edited on the branch, restored now


Since = Callable[[str], affected.Affected]  # source commit → what changed since it


class Changes:
    """What changed since a source commit, computed once per commit (a `Since`)."""

    def __init__(self, repo: pygit2.Repository, root: str, head: GitTree, inv: Inventory,
                 tools: Toolset) -> None:
        self._repo, self._root, self._head, self._inv, self._tools = repo, root, head, inv, tools
        self._found: dict[str, affected.Affected] = {}

    def __call__(self, commit: str) -> affected.Affected:
        if commit not in self._found:
            self._found[commit] = affected.compute(tree_at(self._repo, commit, self._root),
                                                   self._head, self._tools,
                                                   head_inventory=self._inv)
        return self._found[commit]


def plan(repo: pygit2.Repository, base: pygit2.Commit | None, env: Environment,
         inv: Inventory, tools: Toolset, engine: str, full: bool, since: Since) -> Plan:
    """Re-render only the clusters the change since the branch's source touches; reuse the
    rest from the branch. Anything uncertain (no branch, other tool versions or hydrate,
    an unknown source commit, an unreadable source) means a full render. Clusters edited
    on the branch (drift) are always rendered, which restores them."""
    names = frozenset(c.name for c in inv.clusters.values() if c.environment == env.name)
    if base is None:
        return Plan(names, {}, "first publish")
    if branch.foreign(repo, base, env.name):
        return Plan(names, {}, "full render on a head hydrate did not write (--force)")
    drifted = frozenset(branch.drift(repo, base))
    restore = ""
    if drifted:
        shown = ", ".join(sorted(drifted)[:10]) + (" …" if len(drifted) > 10 else "")
        restore = (f"; restores {counted(len(drifted), 'cluster')} edited on "
                   f"the branch: {shown}")
    chosen = (Plan(names, {}, "full render") if full else
              _incremental(repo, base, env, tools, engine, since, names, drifted))
    return Plan(chosen.render, chosen.reuse, chosen.note + restore, drifted)


def _incremental(repo: pygit2.Repository, base: pygit2.Commit, env: Environment, tools: Toolset,
                 engine: str, since: Since, names: frozenset[str],
                 drifted: frozenset[str]) -> Plan:
    led = ledger.read(repo, base)
    if led is None or not same_tools(led, tools, engine) or led.agent != env.agent:
        return Plan(names, {}, "full render: tools or hydrate changed since the last publish")
    try:
        found = since(led.source.commit)
    except (PipelineError, KeyError, TypeError):
        return Plan(names, {}, "full render: the branch's source commit is unknown here")
    touched = {c for e, c in found.clusters if e == env.name}
    reuse = reusable(base, led, names - touched - drifted)
    return Plan(names - frozenset(reuse), reuse,
                f"incremental: {len(names) - len(reuse)} of {counted(len(names), 'cluster')} rendered "
                f"since {led.source.commit[:7]}")


def same_tools(led: ledger.Ledger, tools: Toolset, engine: str) -> bool:
    """Whether the branch was rendered with these helm, kustomize and hydrate."""
    return (led.engine == engine and led.tools.get("helm") == tools.helm.version
            and led.tools.get("kustomize") == tools.kustomize.version)


def reusable(base: pygit2.Commit, led: ledger.Ledger,
             names: Iterable[str]) -> dict[str, ledger.Cluster]:
    """Of `names`, the clusters whose subtree on `base` is the one hydrate recorded, with
    their entries (pointing at that subtree)."""
    subtrees = branch.subtrees(base)
    found = {}
    for name in names:
        entry = led.clusters.get(name)
        if name in subtrees and entry is not None and entry.digest:
            found[name] = replace(entry, output=ledger.InTree(str(subtrees[name])))
    return found


def check_head(repo: pygit2.Repository, base: pygit2.Commit, env: Environment, source: str,
               force: bool) -> None:
    """Refuse to build on `base` unless hydrate wrote it for `env`: never on a branch that
    holds source history (that would rewrite the source), on another head only if `force`."""
    problem = branch.foreign(repo, base, env.name)
    if problem is None:
        return
    try:
        shared = repo.merge_base(base.id, pygit2.Oid(hex=source)) is not None
    except (pygit2.GitError, ValueError, KeyError):
        shared = False  # e.g. a shallow clone: the foreign head alone decides
    if shared:
        raise GitError(f"environment {env.name}: branch {env.branch} holds source history "
                       f"(its head {str(base.id)[:7]} shares commits with the source "
                       f"{source[:7]}), so publishing would replace the configuration with its "
                       f"render; give {env.name} a branch only hydrate writes in "
                       f"fleet/environments.yaml (`branch: env/{env.name}`, the default)")
    if not force:
        raise GitError(f"environment {env.name}: branch {env.branch} is not a hydrate "
                       f"environment branch ({problem}); publish refuses to build on it: check "
                       f"the branch name in fleet/environments.yaml, or pass --force to build "
                       "on that head anyway")


def source_branches(repo: pygit2.Repository, rev: str, remote: Remote | None) -> set[str]:
    """Branches that hold the dry configuration: the checked-out one, the one `rev` names,
    and the remote's default branch."""
    found = set()
    if not repo.head_is_unborn and not repo.head_is_detached:
        found.add(repo.head.shorthand)
    if rev in repo.branches.local:
        found.add(rev)
    for name in repo.remotes.names():
        if rev.startswith(f"{name}/") and rev in repo.branches.remote:
            found.add(rev.removeprefix(f"{name}/"))
        default = repo.references.get(f"refs/remotes/{name}/HEAD")
        if default is not None and isinstance(default.target, str) and (
                remote is None or remote.name == name):
            found.add(default.target.removeprefix(f"refs/remotes/{name}/"))
    return found


def refuse_source_branches(repo: pygit2.Repository, envs: Iterable[Environment], rev: str,
                           remote: Remote | None) -> None:
    """GitError if an environment's branch is a branch that holds the configuration."""
    sources = source_branches(repo, rev, remote)
    for env in envs:
        if env.branch in sources:
            raise GitError(f"fleet/environments.yaml: environment {env.name}: branch {env.branch} "
                           "is the source branch (it holds the configuration hydrate renders); "
                           f"give {env.name} a branch only hydrate writes (`branch: env/"
                           f"{env.name}`, the default)")


def branch_head(repo: pygit2.Repository, env: Environment,
                remote: Remote | None) -> pygit2.Commit | None:
    """The head an attempt builds on: the remote's (fetched now) or the local branch's."""
    return landing.Destination(env.branch, remote).head(repo)
