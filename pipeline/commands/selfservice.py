"""`hydrate add` and `hydrate remove`: a package added to or taken out of a class, a site's
clusters or one cluster, as a round-trip edit of the fleet files (pipeline.config.edits).

The edited fleet is loaded, its dependencies checked, and the clusters whose packages
change are rendered and validated before anything is written. Then the files are written
in the working tree, or committed on a new branch made from HEAD (the working tree, the
index and the current branch stay as they were).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import pygit2

from pipeline.commands.context import Context
from pipeline.commands.render import render_fleet
from pipeline.config import edits
from pipeline.config import inventory as inventory_mod
from pipeline.config.model import CLASSES, CLUSTERS, Cluster, Inventory, suggest
from pipeline.config.source import Tree, config_root, open_repository, tree_at
from pipeline.errors import ConfigError, GitError, GraphError, PipelineError
from pipeline.sinks import ondisk, refs
from pipeline.words import counted

Action = Literal["add", "remove"]
Kind = Literal["class", "site", "cluster"]
Table = tuple[tuple[str, tuple[str, ...]], ...]  # (environment, clusters), in promotion order
Plan = dict[str, dict[tuple[str, ...], edits.ListEdit]]  # the list edits, per file
Why = tuple[str, str]  # how a package needs another: the verb for one, for several
DEPENDS: Why = ("depends on it", "depend on it")


@dataclass(frozen=True)
class ChangeOptions:
    action: Action
    package: str
    kind: Kind  # what --class, --site or --cluster named
    target: str
    with_deps: bool = False
    branch: str | None = None  # commit on this new branch instead of editing the files
    message: str | None = None  # the commit message (with `branch`)
    jobs: int = 1


@dataclass(frozen=True)
class FileChange:
    path: str
    lines: tuple[edits.Line, ...]


@dataclass(frozen=True)
class Moved:
    package: str
    started: Table  # the clusters that now run it
    stopped: Table  # the clusters that no longer run it


@dataclass(frozen=True)
class ChangeReport:
    subject: str  # "Add pos-app to class pop"
    notes: tuple[str, ...]  # what was already so, what else the edit had to change
    files: tuple[FileChange, ...]  # none: nothing to change
    moved: tuple[Moved, ...] = ()
    validated: int = 0  # clusters rendered and validated
    clusters: tuple[str, ...] = ()  # the clusters whose own file was edited
    branch: str | None = None
    commit: str | None = None


def change(ctx: Context, opts: ChangeOptions) -> ChangeReport:
    """Make the change `opts` describes, validated; see the module's docstring."""
    repo, root, tree = None, "", ctx.tree()
    if opts.branch is not None:
        repo = open_repository(ctx.repo)
        root = config_root(repo, ctx.repo)
        _check_branch(repo, opts.branch)
    base: Tree = tree_at(repo, "HEAD", root) if repo is not None else tree
    inv = inventory_mod.load(base)
    if opts.package not in inv.packages:
        raise ConfigError(f"unknown package {opts.package!r}{suggest(opts.package, inv.packages)} "
                          "(packages are the directories in bases/; `hydrate catalog` lists them)")
    clusters = _targets(inv, opts.kind, opts.target)
    where = f"{opts.kind} {opts.target}"
    plan: Plan = {}
    notes: list[str] = []
    names = _plan(inv, opts, clusters, plan, notes)
    deps = f" (with {_and(list(names[:-1]))})" if names[:-1] else ""
    subject = (f"Add {opts.package}{deps} to {where}" if opts.action == "add"
               else f"Remove {opts.package} from {where}")
    if not plan:
        return ChangeReport(subject, tuple(notes), ())
    if repo is not None:
        _check_clean(repo, root, plan)
    before = {path: base.read(path) for path in plan}  # bytes: compared as bytes when writing
    after = {path: edits.apply(path, before[path].decode(), list(plan[path].values())).encode()
             for path in plan}
    edited = edits.Edited(base, after)
    try:
        new = inventory_mod.load(edited)
    except ConfigError as e:
        raise ConfigError(f"{subject}: the edited fleet would not load: {e}") from None
    changed = tuple(c for c in sorted(new.clusters)
                    if new.packages_of(new.clusters[c]) != inv.packages_of(inv.clusters[c]))
    if changed and opts.action == "remove":
        _check_users(ctx, base, inv, new, changed, opts, where, clusters)
    if changed:
        render_fleet(ctx, edited, new, (), changed, opts.jobs)  # ValidationError: nothing written
    report = ChangeReport(
        subject, tuple(notes),
        tuple(FileChange(p, edits.changed_lines(before[p].decode(), after[p].decode()))
              for p in sorted(after)),
        tuple(_moved(inv, new, name) for name in names), len(changed),
        tuple(sorted(c.name for c in inv.clusters.values() if c.path in after)))
    if repo is None or opts.branch is None:
        _write(ctx.repo, before, after)
        return report
    commit = _commit(ctx, repo, root, opts.branch, after, opts.message or _message(opts, report))
    return replace(report, branch=opts.branch, commit=commit)


def _targets(inv: Inventory, kind: Kind, name: str) -> tuple[Cluster, ...]:
    """The clusters the change is for; ConfigError naming what is unknown."""
    if kind == "cluster":
        return (inv.cluster(name),)
    if kind == "class" and name not in inv.classes:
        raise ConfigError(f"unknown class {name!r}{suggest(name, inv.classes)} (classes are the "
                          f"files in {CLASSES}/)")
    found = tuple(c for c in inv.clusters.values()
                  if (c.class_name if kind == "class" else c.site) == name)
    if kind == "site" and not found:
        raise ConfigError(f"unknown site {name!r}{suggest(name, {c.site for c in inv.clusters.values()})}"
                          f" (a site is what the site: of a cluster in {CLUSTERS}/ says; by "
                          "default the cluster's name)")
    return found


def _plan(inv: Inventory, opts: ChangeOptions, clusters: tuple[Cluster, ...], plan: Plan,
          notes: list[str]) -> tuple[str, ...]:
    """Fill `plan` and `notes`; the packages whose clusters change, dependencies first.
    GraphError for a dependency the target lacks (without --with-deps)."""
    package = opts.package
    missing: list[str] = []
    if opts.action == "add":
        needed = _closure(inv, package)
        has = ([inv.classes[opts.target].packages] if opts.kind == "class"
               else [inv.packages_of(c) for c in clusters])  # at the level of the target
        missing = [d for d in needed if any(d not in h for h in has)]
        removed = [f"{c.name} takes {d} out ({c.path} packages.remove)" for c in clusters
                   for d in needed if opts.kind == "class" and d in c.remove]
        if removed:
            raise GraphError(f"{package} depends on {_and(missing)}, but {'; '.join(removed)}: "
                             "add it there first (hydrate add DEPENDENCY --cluster CLUSTER)")
        if missing and not opts.with_deps:
            lacks = {"class": f"class {opts.target} does not list",
                     "cluster": f"cluster {opts.target} does not run",
                     "site": f"clusters of site {opts.target} do not run"}[opts.kind]
            raise GraphError(f"{package} depends on {_and(missing)}, which {lacks}: add "
                             f"{'them' if len(missing) > 1 else 'it'} too with --with-deps "
                             f"(hydrate add {package} --{opts.kind} {opts.target} --with-deps)")
    for name in (*missing, package):
        _change(inv, opts, clusters, name, plan, notes if name == package else [])
    return (*missing, package)


def _change(inv: Inventory, opts: ChangeOptions, clusters: tuple[Cluster, ...], name: str,
            plan: Plan, notes: list[str]) -> None:
    """The edits that make `clusters` run `name` (or not), at the level of the target."""
    adding = opts.action == "add"
    ours, others = ((name,), ()) if adding else ((), (name,))
    if opts.kind == "class":
        cls = inv.classes[opts.target]
        if (name in cls.packages) == adding:
            own = [c.name for c in clusters if name in c.add]
            notes.append(f"class {cls.name} {'already lists' if adding else 'does not list'} "
                         f"{name} ({cls.path}); nothing to change" + (
                             f" (the clusters {_some(own)} add it themselves: use --cluster "
                             "or --site)" if own else ""))
            return
        _edit(plan, cls.path, ("packages",), ours, others, prune=False)
        key = "add" if adding else "remove"
        for c in clusters:  # a cluster's own change to the class's list is now the class's
            if name in (c.add if adding else c.remove):
                _edit(plan, c.path, ("packages", key), (), (name,))
                notes.append(f"{c.name} {'added' if adding else 'removed'} {name} itself: "
                             f"taken out of its packages.{key}, the class now does it")
        return
    for c in clusters:
        in_class = name in inv.classes[c.class_name].packages
        if (name in inv.packages_of(c)) == adding:
            how = (f"class {c.class_name} lists it" if in_class else "its packages.add lists it"
                   ) if adding else ("its packages.remove lists it" if in_class
                                     else f"class {c.class_name} does not list it")
            notes.append(f"{c.name} {'already runs' if adding else 'does not run'} {name} "
                         f"({how}); nothing to change")
        elif in_class:  # the class decides; the cluster's packages.remove makes the exception
            _edit(plan, c.path, ("packages", "remove"), others, ours)
        else:
            _edit(plan, c.path, ("packages", "add"), ours, others)


def _edit(plan: Plan, path: str, keys: tuple[str, ...], add: tuple[str, ...],
          remove: tuple[str, ...], prune: bool = True) -> None:
    old = plan.setdefault(path, {}).get(keys, edits.ListEdit(keys, prune=prune))
    plan[path][keys] = edits.ListEdit(keys, old.add + add, old.remove + remove, prune)


def _closure(inv: Inventory, name: str) -> list[str]:
    """`name`'s dependencies, transitively, each after its own."""
    order: list[str] = []
    seen = {name}

    def visit(n: str) -> None:
        for dep in inv.packages[n].depends_on:
            if dep not in seen:  # (a cycle is the graph stage's error to report)
                seen.add(dep)
                visit(dep)
                order.append(dep)

    visit(name)
    return order


def _check_users(ctx: Context, tree: Tree, inv: Inventory, new: Inventory,
                 changed: tuple[str, ...], opts: ChangeOptions, where: str,
                 targets: tuple[Cluster, ...]) -> None:
    """GraphError if a package left on a changed cluster needs the removed one: by
    dependsOn, or by rendering objects of a kind whose CRD it provides (the graph's edges
    from a render of the clusters as they are)."""
    users: dict[tuple[str, Why], list[str]] = {}
    for name in changed:
        for p in new.packages_of(new.clusters[name]):
            if opts.package in new.packages[p].depends_on:
                users.setdefault((p, DEPENDS), []).append(name)
    try:  # (no need when dependsOn already says it)
        renders = () if users else render_fleet(ctx, tree, inv, (), changed, opts.jobs,
                                                validate=False).fleet.clusters
    except PipelineError:  # the fleet as it is does not render: the edit may be the fix
        renders = ()
    for r in renders:
        for e in r.plan.edges:
            if e.dependency == opts.package and e.reason != "dependsOn" and e.dependent in (
                    new.packages_of(new.clusters[r.cluster.name])):
                kind = f"{e.reason.removeprefix('crd ')} objects, whose CRD {opts.package} provides"
                users.setdefault((e.dependent, (f"renders {kind}", f"render {kind}")), []).append(
                    r.cluster.name)
    if not users:
        return
    every = tuple(sorted(c.name for c in targets))
    groups: dict[tuple[Why, tuple[str, ...]], list[str]] = {}
    for (user, why), found in sorted(users.items()):
        groups.setdefault((why, tuple(sorted(found))), []).append(user)
    parts = [f"{_and(names)} {why[len(names) > 1]}" + (
        "" if len(every) == 1 else f" (on all {counted(len(every), 'cluster')} of {where})"
        if on == every else f" (on {_some(list(on))})") for (why, on), names in groups.items()]
    raise GraphError(f"cannot remove {opts.package} from {where}: {'; '.join(parts)}; remove "
                     f"{_and(sorted({user for user, _ in users}))} first")


def _moved(old: Inventory, new: Inventory, package: str) -> Moved:
    found: dict[bool, dict[str, list[str]]] = {True: {}, False: {}}
    for name, c in sorted(new.clusters.items()):
        now = package in new.packages_of(c)
        if now != (package in old.packages_of(old.clusters[name])):
            found[now].setdefault(c.environment, []).append(name)
    started, stopped = (tuple((e, tuple(found[side][e])) for e in new.env_names
                              if e in found[side]) for side in (True, False))
    return Moved(package, started, stopped)


def describe(report: ChangeReport) -> list[str]:
    """Where each package now runs, or no longer runs, per environment."""
    lines = []
    for m in report.moved:
        for verb, table in (("now runs on", m.started), ("no longer runs on", m.stopped)):
            if table:
                width = max(len(env) for env, _ in table)
                total = counted(sum(len(names) for _, names in table), "cluster")
                lines += [f"{m.package} {verb} {total}:",
                          *(f"  {env:<{width}}  {', '.join(names)}" for env, names in table)]
    return lines


def _message(opts: ChangeOptions, report: ChangeReport) -> str:
    command = " ".join(["hydrate", opts.action, opts.package, f"--{opts.kind}", opts.target,
                        *(["--with-deps"] if opts.with_deps else [])])
    body = "".join(f"{line}\n" for line in [*describe(report), *report.notes])
    return f"{report.subject}\n\n{body}\nMade with `{command}`.\n"


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _some(names: list[str]) -> str:
    return _and(names) if len(names) <= 4 else f"{', '.join(names[:3])} and {len(names) - 3} more"


def _write(repo: Path, before: Mapping[str, bytes], after: Mapping[str, bytes]) -> None:
    """Every file replaced, or none: the new contents are written beside the files first,
    then each file is checked to hold the bytes read (else nothing is changed) and the
    new ones renamed over them, with SIGINT/SIGTERM held; a rename that fails puts the
    files renamed before it back (their old content is kept under a second name)."""
    targets = {path: Path(os.path.realpath(repo / path)) for path in sorted(after)}
    staged: dict[str, str] = {}
    kept: dict[str, str] = {}
    try:
        with ondisk.signals_deferred():  # (small files: a kill waits a moment, never halfway)
            for path, target in targets.items():
                fd, staged[path] = ondisk.new_file(target.parent, f".{target.name}.")
                with os.fdopen(fd, "wb") as f:
                    f.write(after[path])
                os.chmod(staged[path], target.stat().st_mode & 0o7777)
            for path, target in targets.items():
                if target.read_bytes() != before[path]:
                    raise PipelineError(f"{path} changed while hydrate was checking the edit; "
                                        "nothing was written: run the command again")
                kept[path] = f"{staged[path]}.old"
                os.link(target, kept[path])  # the old content, to put back
            done: list[str] = []
            try:
                for path, target in targets.items():
                    os.replace(staged[path], target)
                    del staged[path]
                    done.append(path)
            except BaseException:
                for path in reversed(done):
                    os.replace(kept.pop(path), targets[path])
                raise
    except OSError as e:
        raise PipelineError(f"cannot write the edit: {ondisk.describe(e)}; nothing was "
                            "changed") from None
    finally:
        for leftover in [*staged.values(), *kept.values()]:
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def _check_branch(repo: pygit2.Repository, name: str) -> None:
    """GitError unless `name` is a new branch git accepts as `git check-ref-format
    --branch` does (not `HEAD`, not starting with `-`, which git reads as an option), and
    whose ref does not collide with an existing one (`a` beside `a/b`, or the reverse)."""
    problem = refs.branch_name_problem(name)
    if problem is not None:
        raise GitError(f"--branch {name!r}: {problem}; choose another name")
    ref = f"refs/heads/{name}"
    if ref in repo.references:
        raise GitError(f"branch {name} already exists; choose another name (or delete it: "
                       f"git branch -D {name})")
    clash = next((r for r in repo.references if r.startswith(f"{ref}/")
                  or ref.startswith(f"{r}/")), None)
    if clash is not None:
        other = clash.removeprefix("refs/heads/")
        raise GitError(f"--branch {name!r}: the branch {other} exists, and git cannot have both "
                       f"{name} and {other} (one would be a folder of the other); choose another "
                       "name")


def _check_clean(repo: pygit2.Repository, root: str, files: Iterable[str]) -> None:
    """The branch is made from HEAD: a file to edit must not have changes HEAD lacks."""
    dirty = [p for p in sorted(files)
             if repo.status_file(f"{root}/{p}" if root else p) != pygit2.enums.FileStatus.CURRENT]
    if dirty:
        raise GitError(f"{_and(dirty)} {'has' if len(dirty) == 1 else 'have'} uncommitted "
                       "changes; commit or stash them first (--branch builds on HEAD)")


def _commit(ctx: Context, repo: pygit2.Repository, root: str, branch: str,
            files: Mapping[str, bytes], message: str) -> str:
    """A commit of HEAD's tree with `files` replaced, on the new branch `branch`, built in
    an index of its own: no checkout, the repository's index and working tree untouched."""
    head = repo.head.peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(head.tree)
    for path, data in files.items():
        full = f"{root}/{path}" if root else path
        index.add(pygit2.IndexEntry(full, repo.create_blob(data), index[full].mode))
    author = refs.signature(repo, ctx.environ, "author")
    committer = refs.signature(repo, ctx.environ, "committer")
    commit = repo.create_commit(None, author, committer, message, index.write_tree(repo),
                                [head.id])
    try:
        made = refs.update_ref(repo, f"refs/heads/{branch}", commit, None, f"hydrate: {message}")
    except (OSError, pygit2.GitError) as e:  # e.g. a branch `a` made meanwhile beside `a/b`
        raise GitError(f"--branch {branch}: git could not create it ({_one_line(e)}); choose "
                       "another name") from None
    if not made:
        raise GitError(f"branch {branch} was created by someone else meanwhile; choose another "
                       "name")
    return str(commit)


def _one_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
