"""Environment branch commits, built as git trees in memory (no checkout, no work tree).

    env/<environment>:
      README.md                what the branch is, its source commit, how to reproduce it
      hydrator.metadata        {"drySha": ...} as Argo CD's Source Hydrator writes it
      .hydrate/metadata.json   provenance: source, environment, tool versions, digests
      clusters/<cluster>/...   the hydrated manifests

A cluster whose digest equals the one recorded by the parent commit reuses the parent's
subtree as is, unless that subtree is not the one recorded (edited on the branch: drift);
only blobs missing from the object database are written. A build whose `clusters/` tree
equals the parent's makes no commit.

hydrate builds only on heads it wrote: a head without `.hydrate/metadata.json` for its
environment (a source commit, another tool's branch) is `foreign`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pygit2

from pipeline import __version__
from pipeline.config.model import Environment
from pipeline.sinks import hydrator, ledger, output
from pipeline.sinks.credentials import redact
from pipeline.words import counted

LISTED = 40  # clusters named per category in a commit body
BLOB = pygit2.enums.FileMode.BLOB
TREE = pygit2.enums.FileMode.TREE

Source = ledger.Source


@dataclass(frozen=True)
class ClusterOutput:
    """One cluster's files as they go on the branch (agent layout applied)."""

    name: str
    files: Mapping[str, bytes]
    digest: str
    info: Mapping[str, Any] = field(default_factory=dict)  # class, site, objects


@dataclass(frozen=True)
class Step:
    """What kind of commit a build makes, beyond a publish of the whole environment: a
    promotion (of one wave, perhaps), a forced publish, a rollback or a release, with its
    trailers and the rollout state and holds to record. Clusters it keeps keep the source
    they were rendered from."""

    kind: str  # promote | rollback | forced (a publish that bypassed promotion) | release
    headline: str  # the body's first line
    trailers: tuple[tuple[str, str], ...] = ()
    rollout: ledger.Rollout | None = None
    holds: Mapping[str, ledger.Hold] | None = None  # None: the parent's
    released: tuple[ledger.Release, ...] | None = None  # None: the parent's
    whole: bool = False  # the whole environment is at the source (a forced publish)
    lines: tuple[str, ...] = ()  # more of the body, after the summary


@dataclass(frozen=True)
class Built:
    commit: pygit2.Oid | None  # None: nothing changed, no commit made
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    blobs_written: int = 0
    clusters_reused: int = 0


class _Writer:
    """Writes nested trees, counting the blobs it had to add to the object database."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.blobs_written = 0

    def blob(self, data: bytes) -> pygit2.Oid:
        oid = pygit2.hash(data)
        if not self.repo.odb.exists(oid):
            self.repo.create_blob(data)
            self.blobs_written += 1
        return oid

    def tree(self, files: Mapping[str, bytes]) -> pygit2.Oid:
        nested: dict[str, Any] = {}
        for path, data in files.items():
            node = nested
            *dirs, name = path.split("/")
            for d in dirs:
                node = node.setdefault(d, {})
            node[name] = data
        return self._write(nested)

    def _write(self, node: Mapping[str, Any]) -> pygit2.Oid:
        builder = self.repo.TreeBuilder()
        for name in sorted(node):
            value = node[name]
            if isinstance(value, dict):
                builder.insert(name, self._write(value), TREE)
            else:
                builder.insert(name, self.blob(value), BLOB)
        return builder.write()


def foreign(repo: pygit2.Repository, commit: pygit2.Commit, env: str) -> str | None:
    """Why `commit` is not the head of a hydrate branch of environment `env` (None if it
    is). A hand-made commit on top of hydrate's keeps the metadata, so it still is one."""
    found = ledger.load(repo, commit)
    if found is None:
        return f"its head {str(commit.id)[:7]} has no {ledger.PATH}: hydrate did not write it"
    if isinstance(found, str):
        return f"its head {str(commit.id)[:7]} has a {ledger.PATH} hydrate cannot read ({found})"
    trailer = ledger.trailers(commit).environment or found.environment
    if found.environment != env or trailer != env:
        other = found.environment if found.environment != env else trailer
        return f"its head {str(commit.id)[:7]} was written for environment {other}, not {env}"
    return None


def head(repo: pygit2.Repository, name: str) -> tuple[pygit2.Commit, str] | None:
    """The head of branch `name` and the ref it was read from: the local branch, else a
    remote-tracking one (origin's first), as left by `publish --remote R --push`."""
    remotes = sorted(repo.remotes.names(), key=lambda r: (r != "origin", r))
    for ref in (f"refs/heads/{name}", *(f"refs/remotes/{r}/{name}" for r in remotes)):
        found = repo.references.get(ref)
        if found is not None:
            return repo[found.target].peel(pygit2.Commit), ref
    return None


def tree_files(repo: pygit2.Repository, oid: pygit2.Oid) -> dict[str, bytes] | None:
    """Every file below the tree `oid`, by relative path (None if `oid` is not a tree)."""
    tree = repo[oid]
    if not isinstance(tree, pygit2.Tree):
        return None
    found: dict[str, bytes] = {}
    for entry in tree:
        obj = repo[entry.id]
        if isinstance(obj, pygit2.Tree):
            found.update((f"{entry.name}/{k}", v) for k, v in (tree_files(repo, entry.id)
                                                               or {}).items())
        elif isinstance(obj, pygit2.Blob):
            found[str(entry.name)] = obj.data
    return found


def drift(repo: pygit2.Repository, commit: pygit2.Commit | None) -> tuple[str, ...]:
    """Clusters whose directory on the branch is not what hydrate recorded for it: edited,
    added or deleted by hand. The recorded tree id decides; metadata older than tree ids
    is compared by the digest of the files."""
    if commit is None:
        return ()
    actual = subtrees(commit)
    led = ledger.read(repo, commit)
    recorded = led.clusters if led is not None else {}
    found = set(actual).symmetric_difference(recorded)
    for name in set(actual) & set(recorded):
        entry = recorded[name]
        if entry.tree is not None:
            if entry.tree != str(actual[name]):
                found.add(name)
            continue
        files = tree_files(repo, actual[name])
        if files is None or output.digest(files) != entry.digest:
            found.add(name)
    return tuple(sorted(found))


def subtrees(commit: pygit2.Commit | None) -> dict[str, pygit2.Oid]:
    """The cluster directories of an env branch commit: name → tree id."""
    if commit is None or "clusters" not in commit.tree:
        return {}
    tree = commit.tree["clusters"]
    assert isinstance(tree, pygit2.Tree)
    return {e.name: e.id for e in tree if e.name is not None}


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f", … and {len(names) - LISTED} more" if len(names) > LISTED else "")


def message(env: Environment, source: Source, built: Built, total: int,
            restored: Sequence[str] = (), step: Step | None = None,
            kept: Sequence[str] = ()) -> str:
    """Subject `<sha7>: <source subject>`, a body of what changed, then the trailers."""
    headline = step.headline if step is not None else (
        f"Render of {source.commit[:12]} for environment {env.name}")
    lines = [f"{source.commit[:7]}: {source.subject}", "",
             f"{headline}: "
             f"{counted(len(built.changed), 'cluster')} changed, {len(built.added)} added, "
             f"{len(built.removed)} removed (of {total}).", *(step.lines if step else ()), ""]
    for label, names in (("added", built.added), ("changed", built.changed),
                         ("removed", built.removed),
                         ("restored (edited on the branch)", tuple(restored)),
                         ("kept (not in the restored commit)", tuple(kept))):
        if names:
            lines.append(f"{label}: {_names(names)}")
    pairs = [(ledger.SOURCE, source.commit), (ledger.ENVIRONMENT, env.name),
             *(step.trailers if step is not None else ())]
    return "\n".join([*lines, "", *ledger.trailer_lines(pairs), ""])


def readme(env: Environment, source: Source, clusters: int) -> bytes:
    root = ("lists one Flux Kustomization per package (in `_flux/`), ordered by dependsOn"
            if env.agent == "flux" else
            "lists the package directories; `argocd.argoproj.io/sync-wave` orders them")
    repo_option = f"--repo {source.path} " if source.path else ""
    out = f"{source.path}/rendered" if source.path else "rendered"
    same = ("holds these manifests, except for the Flux layout: on this branch each cluster "
            "directory also has `_flux/<package>.yaml`, and its root `kustomization.yaml` lists "
            "those files instead of the package directories" if env.agent == "flux" else
            "holds exactly these manifests")
    text = f"""# Environment `{env.name}`: hydrated manifests

This branch is written by hydrate. Do not edit it by hand: each publish builds the next
commit from the dry configuration, and changes made here are replaced.

| | |
|---|---|
| environment | `{env.name}` (applied by {"Flux" if env.agent == "flux" else "Argo CD"}) |
| source | `{source.repo}` at `{source.commit}` |
| source subject | {source.subject} |
| clusters | {clusters} |

## Layout

* `clusters/<cluster>/`: everything one cluster runs, plain YAML, one object per file;
  point that cluster's agent at this path. Its `kustomization.yaml` {root}.
* `clusters/<cluster>/<package>/`: one directory per package.
* `{ledger.PATH}`: source commit, tool versions and a digest per cluster.

## Reproduce

With hydrate installed (`pip install hydrate-gitops` at the version the configuration pins,
then `hydrate tools install` for the helm and kubectl versions named in
`{ledger.PATH}`):

```sh
git checkout {source.commit}
hydrate {repo_option}render --env {env.name}
```

`{out}/{env.name}/<cluster>/` then {same}.
"""
    return text.encode()


def build(repo: pygit2.Repository, parent: pygit2.Commit | None, env: Environment, source: Source,
          clusters: Sequence[ClusterOutput], tools: Mapping[str, str],
          author: pygit2.Signature, committer: pygit2.Signature,
          reused: Mapping[str, ledger.Cluster] | None = None,
          restored: Sequence[str] = (), step: Step | None = None,
          artifacts: Mapping[str, ledger.Artifact] | None = None) -> Built:
    """The next commit of `env`'s branch on top of `parent` (not attached to any ref).

    `clusters` are rendered now; `reused` clusters keep the subtree and entry their ledger
    entry names (they were not touched by the change since the parent's source).
    `restored`: clusters that drifted on the branch, named in the message. `artifacts`:
    an OCI environment's, by cluster (already in the registry); the branch keeps the files
    too."""
    writer = _Writer(repo)
    previous = subtrees(parent)
    before = ledger.read(repo, parent)
    recorded = before.clusters if before is not None else {}
    entries: dict[str, pygit2.Oid] = {}
    reuse_count = 0
    for out in clusters:
        old = recorded.get(out.name)
        # Reuse only the very tree hydrate recorded: a subtree edited on the branch (or one
        # recorded before tree ids were) is written again, which restores it.
        if (out.name in previous and old is not None and old.digest == out.digest
                and old.tree == str(previous[out.name])):
            entries[out.name] = previous[out.name]
            reuse_count += 1
        else:
            entries[out.name] = writer.tree(out.files)
    kept = dict(reused or {})
    for name, entry in kept.items():
        assert entry.tree is not None, name
        entries[name] = pygit2.Oid(hex=entry.tree)
        reuse_count += 1
    builder = repo.TreeBuilder()
    for name in sorted(entries):
        builder.insert(name, entries[name], TREE)
    clusters_tree = builder.write()
    added = tuple(sorted(n for n in entries if n not in previous))
    changed = tuple(sorted(n for n in entries if n in previous and previous[n] != entries[n]))
    removed = tuple(sorted(n for n in previous if n not in entries))
    parent_clusters = parent.tree["clusters"].id if parent and "clusters" in parent.tree else None
    # A rollout's step is a commit even when no cluster changed: it records the progress;
    # so is a landing that lifts a hold.
    progress = step is not None and (step.rollout is not None or (
        step.released is not None and step.released != (before.released if before else ())))
    placed = _placing(artifacts or {}, entries)
    # A cluster's artifact is part of what the ledger records: a new one is a change even
    # where the files are not (an environment switched to OCI, or back).
    progress = progress or any(placed(n) != recorded[n].output for n in entries
                               if n in recorded and (n in (artifacts or {})
                                                     or recorded[n].artifact is not None))
    if parent is not None and parent_clusters == clusters_tree and not progress:
        return Built(None, blobs_written=writer.blobs_written, clusters_reused=reuse_count)
    now = {c.name: ledger.Cluster(source.commit, c.digest, placed(c.name),
                                  str(c.info.get("class", "")), str(c.info.get("site", "")),
                                  _objects(c.info)) for c in clusters}
    # A publish renders the whole environment at the source: a cluster it reuses (the
    # change did not touch it) is the source's render too. A promotion's kept clusters
    # (other waves) keep the source they were rendered from.
    keep_source = step is not None and not step.whole
    now.update((name, replace(entry, source=entry.source if keep_source else source.commit,
                              output=(placed(name) if artifacts is not None or entry.artifact is not None
                                      else entry.output)))
               for name, entry in kept.items())
    engine = tools.get("engine")
    led = ledger.Ledger(
        environment=env.name, branch=env.branch, agent=env.agent, source=source,
        clusters={name: now[name] for name in sorted(now)},
        kind=step.kind if step is not None else "publish",
        tools={"hydrate": __version__, **{k: v for k, v in tools.items() if k != "engine"}},
        engine=engine, rollout=step.rollout if step is not None else None,
        holds=_carried(step.holds if step else None, before.holds if before else {}),
        released=_carried(step.released if step else None, before.released if before else ()))
    built = Built(None, added, changed, removed, writer.blobs_written, reuse_count)
    restored = [n for n in restored if n in entries]
    text = message(env, source, built, len(entries), restored, step)
    oid = commit(repo, writer, parent, led, clusters_tree,
                 writer.blob(readme(env, source, len(entries))),
                 writer.blob(hydrator_metadata(repo, source)), text, author, committer)
    return replace(built, commit=oid, blobs_written=writer.blobs_written)


def _placing(artifacts: Mapping[str, ledger.Artifact],
             entries: Mapping[str, pygit2.Oid]) -> Callable[[str], ledger.Output]:
    """Where a cluster's manifests go: its artifact (with the subtree the branch keeps),
    else the subtree alone."""
    def placed(name: str) -> ledger.Output:
        tree = str(entries[name])
        found = artifacts.get(name)
        return replace(found, tree=tree) if found is not None else ledger.InTree(tree)
    return placed


T = TypeVar("T")


def _carried(given: T | None, parents: T) -> T:
    """What a step gives, or else what the parent had."""
    return parents if given is None else given


def _objects(info: Mapping[str, Any]) -> int | None:
    found = info.get("objects")
    return found if isinstance(found, int) else None


def commit(repo: pygit2.Repository, writer: _Writer, parent: pygit2.Commit | None,
           led: ledger.Ledger, clusters_tree: pygit2.Oid, readme_blob: pygit2.Oid,
           hydrator_blob: pygit2.Oid, text: str, author: pygit2.Signature,
           committer: pygit2.Signature) -> pygit2.Oid:
    """Write the commit: README, the ledger, `clusters/` and `hydrator.metadata`."""
    root = repo.TreeBuilder()
    root.insert("README.md", readme_blob, BLOB)
    folder, name = ledger.PATH.split("/")
    root.insert(folder, writer.tree({name: ledger.dump(led)}), TREE)
    root.insert("clusters", clusters_tree, TREE)
    root.insert("hydrator.metadata", hydrator_blob, BLOB)
    return repo.create_commit(None, author, committer, text, root.write(),
                              [parent.id] if parent is not None else [])


@dataclass(frozen=True)
class Restored:
    """A rollback's commit and what it did to each cluster."""

    built: Built
    kept: tuple[str, ...]  # not in the restored commit, still in the inventory: left as is
    not_restored: tuple[str, ...]  # in the restored commit, no longer in the inventory


Placing = Callable[[Mapping[str, ledger.Cluster]], Mapping[str, ledger.Artifact]]


def restore(repo: pygit2.Repository, head: pygit2.Commit, carrier: pygit2.Commit,
            env: Environment, inventory: Iterable[str], remove_added: bool, step: Step,
            author: pygit2.Signature, committer: pygit2.Signature,
            place: Placing | None = None) -> Restored:
    """A commit on `head` that puts back the cluster trees of `carrier` exactly as they
    were (never re-rendered). A cluster the carrier does not have keeps its tree while it
    is in the inventory (unless `remove_added`); one the inventory no longer has is not
    brought back. `place`: an OCI environment's, the artifact of each cluster the commit
    records (in the registry before the commit exists)."""
    now, then = ledger.read(repo, head), ledger.read(repo, carrier)
    assert now is not None
    assert then is not None
    wanted = set(inventory)
    current, old = subtrees(head), subtrees(carrier)
    entries: dict[str, pygit2.Oid] = {}
    clusters: dict[str, ledger.Cluster] = {}
    kept: list[str] = []
    for name, oid in old.items():
        if name in wanted or name in current:
            entries[name] = oid
            clusters[name] = then.clusters.get(name, ledger.Cluster(then.source.commit, ""))
    for name, oid in current.items():
        if name in old or name not in wanted or remove_added:
            continue
        entries[name] = oid
        clusters[name] = now.clusters.get(name, ledger.Cluster(now.source.commit, ""))
        kept.append(name)
    writer = _Writer(repo)
    builder = repo.TreeBuilder()
    for name in sorted(entries):
        builder.insert(name, entries[name], TREE)
    built = Built(None, tuple(sorted(n for n in entries if n not in current)),
                  tuple(sorted(n for n in entries if n in current and current[n] != entries[n])),
                  tuple(sorted(n for n in current if n not in entries)))
    if place is not None:
        placed = _placing(place(clusters), entries)
        clusters = {n: replace(c, output=placed(n)) for n, c in clusters.items()}
    led = replace(then, clusters={n: clusters[n] for n in sorted(clusters)}, kind=step.kind,
                  rollout=step.rollout, environment=env.name, branch=env.branch,
                  holds=_carried(step.holds, now.holds),
                  released=_carried(step.released, now.released))
    text = message(env, then.source, built, len(entries), (), step, sorted(kept))
    oid = commit(repo, writer, head, led, builder.write(),
                 _kept_blob(writer, carrier, "README.md", readme(env, then.source, len(entries))),
                 _kept_blob(writer, carrier, "hydrator.metadata",
                            hydrator_metadata(repo, then.source)), text, author, committer)
    return Restored(replace(built, commit=oid, blobs_written=writer.blobs_written), tuple(kept),
                    tuple(sorted(n for n in old if n not in wanted and n not in current)))


def record(repo: pygit2.Repository, head: pygit2.Commit, env: Environment, step: Step,
           author: pygit2.Signature, committer: pygit2.Signature) -> pygit2.Oid:
    """A commit on `head` that changes only the ledger (a hold released): the clusters,
    README and `hydrator.metadata` stay as they are."""
    now = ledger.read(repo, head)
    assert now is not None
    writer = _Writer(repo)
    led = replace(now, kind=step.kind, holds=_carried(step.holds, now.holds),
                  released=_carried(step.released, now.released))
    built = Built(None)
    text = message(env, now.source, built, len(now.clusters), (), step)
    tree = head.tree
    clusters_tree = tree["clusters"].id if "clusters" in tree else repo.TreeBuilder().write()
    return commit(repo, writer, head, led, clusters_tree,
                  _kept_blob(writer, head, "README.md", readme(env, now.source, len(now.clusters))),
                  _kept_blob(writer, head, "hydrator.metadata",
                             hydrator_metadata(repo, now.source)), text, author, committer)


def _kept_blob(writer: _Writer, commit: pygit2.Commit, name: str, fallback: bytes) -> pygit2.Oid:
    """The file `name` of `commit` as it is (written afresh if it is missing)."""
    entry = commit.tree[name] if name in commit.tree else None
    return entry.id if entry is not None and entry.filemode == BLOB else writer.blob(fallback)


def hydrator_metadata(repo: pygit2.Repository, source: Source) -> bytes:
    """The root `hydrator.metadata` Argo CD's Source Hydrator writes on a hydrated branch
    (`pipeline.sinks.hydrator`), so GitOps Promoter and Argo CD tooling can work on
    hydrate's branches; the same for every environment of one source."""
    try:
        dry = repo[source.commit].peel(pygit2.Commit)
    except (KeyError, ValueError):
        dry = None
    return hydrator.metadata(source.repo, source.commit, dry)


def source_url(repo: pygit2.Repository) -> str:
    """Where the source lives, for provenance: origin's URL (redacted), else the path."""
    if "origin" in repo.remotes.names():
        url = repo.remotes["origin"].url
        if url:
            return redact(url)
    return (repo.workdir or repo.path).rstrip("/")
