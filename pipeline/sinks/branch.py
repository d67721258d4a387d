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

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pygit2

from pipeline import __version__
from pipeline.config.model import Environment
from pipeline.sinks import hydrator, output
from pipeline.sinks.credentials import redact
from pipeline.words import counted

SOURCE_TRAILER = "Hydrate-Source-Commit"
ENV_TRAILER = "Hydrate-Environment"
METADATA = ".hydrate/metadata.json"
LISTED = 40  # clusters named per category in a commit body
BLOB = pygit2.enums.FileMode.BLOB
TREE = pygit2.enums.FileMode.TREE


@dataclass(frozen=True)
class Source:
    """The dry commit a branch is rendered from."""

    repo_url: str
    commit: str
    subject: str
    inputs_digest: str
    path: str = ""  # the configuration's folder in the source repository ("" at the top)


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
    promotion (of one wave, perhaps) or a rollback, with its trailers and the rollout
    state and holds to record. Clusters it keeps keep the source they were rendered from."""

    kind: str  # promote | rollback | forced (a publish that bypassed promotion)
    headline: str  # the body's first line
    trailers: tuple[tuple[str, str], ...] = ()
    rollout: Mapping[str, Any] | None = None
    holds: Mapping[str, str] = field(default_factory=dict)
    whole: bool = False  # the whole environment is at the source (a forced publish)


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


def metadata_of(repo: pygit2.Repository, commit: pygit2.Commit | None) -> dict[str, Any]:
    """The `.hydrate/metadata.json` of an env branch commit ({} if absent or unreadable)."""
    if commit is None:
        return {}
    try:
        blob = repo[commit.tree[METADATA].id]
        assert isinstance(blob, pygit2.Blob)
        data = json.loads(blob.data)
    except (KeyError, ValueError, AssertionError):
        return {}
    return data if isinstance(data, dict) else {}


def foreign(repo: pygit2.Repository, commit: pygit2.Commit, env: str) -> str | None:
    """Why `commit` is not the head of a hydrate branch of environment `env` (None if it
    is). A hand-made commit on top of hydrate's keeps the metadata, so it still is one."""
    meta = metadata_of(repo, commit)
    if not meta or not isinstance(meta.get("clusters"), dict):
        return f"its head {str(commit.id)[:7]} has no {METADATA}: hydrate did not write it"
    written_for = meta.get("environment")
    trailer = commit.message_trailers.get(ENV_TRAILER, written_for)
    if written_for != env or trailer != env:
        other = written_for if written_for != env else trailer
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
    recorded = metadata_of(repo, commit).get("clusters")
    recorded = recorded if isinstance(recorded, dict) else {}
    found = set(actual).symmetric_difference(recorded)
    for name in set(actual) & set(recorded):
        entry = recorded[name] if isinstance(recorded[name], dict) else {}
        if "tree" in entry:
            if entry["tree"] != str(actual[name]):
                found.add(name)
            continue
        files = tree_files(repo, actual[name])
        if files is None or output.digest(files) != entry.get("digest"):
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
            restored: Sequence[str] = (), step: Step | None = None) -> str:
    """Subject `<sha7>: <source subject>`, a body of what changed, then the trailers."""
    headline = step.headline if step is not None else (
        f"Render of {source.commit[:12]} for environment {env.name}")
    lines = [f"{source.commit[:7]}: {source.subject}", "",
             f"{headline}: "
             f"{counted(len(built.changed), 'cluster')} changed, {len(built.added)} added, "
             f"{len(built.removed)} removed (of {total}).", ""]
    for label, names in (("added", built.added), ("changed", built.changed),
                         ("removed", built.removed),
                         ("restored (edited on the branch)", tuple(restored))):
        if names:
            lines.append(f"{label}: {_names(names)}")
    lines += ["", f"{SOURCE_TRAILER}: {source.commit}", f"{ENV_TRAILER}: {env.name}"]
    lines += [f"{key}: {value}" for key, value in (step.trailers if step is not None else ())]
    return "\n".join([*lines, ""])


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
| source | `{source.repo_url}` at `{source.commit}` |
| source subject | {source.subject} |
| clusters | {clusters} |

## Layout

* `clusters/<cluster>/`: everything one cluster runs, plain YAML, one object per file;
  point that cluster's agent at this path. Its `kustomization.yaml` {root}.
* `clusters/<cluster>/<package>/`: one directory per package.
* `.hydrate/metadata.json`: source commit, tool versions and a digest per cluster.

## Reproduce

With hydrate installed (`pip install hydrate-gitops` at the version the configuration pins,
then `hydrate tools install` for the helm and kubectl versions named in
`.hydrate/metadata.json`):

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
          reused: Mapping[str, tuple[pygit2.Oid, Mapping[str, Any]]] | None = None,
          restored: Sequence[str] = (), step: Step | None = None) -> Built:
    """The next commit of `env`'s branch on top of `parent` (not attached to any ref).

    `clusters` are rendered now; `reused` clusters keep the given subtree and metadata
    entry (they were not touched by the change since the parent's source). `restored`:
    clusters that drifted on the branch, named in the message."""
    writer = _Writer(repo)
    previous = subtrees(parent)
    recorded = metadata_of(repo, parent).get("clusters", {})
    entries: dict[str, pygit2.Oid] = {}
    reuse_count = 0
    for out in clusters:
        old = recorded.get(out.name, {})
        # Reuse only the very tree hydrate recorded: a subtree edited on the branch (or one
        # recorded before tree ids were) is written again, which restores it.
        if (out.name in previous and isinstance(old, dict) and old.get("digest") == out.digest
                and old.get("tree") == str(previous[out.name])):
            entries[out.name] = previous[out.name]
            reuse_count += 1
        else:
            entries[out.name] = writer.tree(out.files)
    kept = dict(reused or {})
    for name, (oid, _) in kept.items():
        entries[name] = oid
        reuse_count += 1
    builder = repo.TreeBuilder()
    for name in sorted(entries):
        builder.insert(name, entries[name], TREE)
    clusters_tree = builder.write()
    added = tuple(sorted(n for n in entries if n not in previous))
    changed = tuple(sorted(n for n in entries if n in previous and previous[n] != entries[n]))
    removed = tuple(sorted(n for n in previous if n not in entries))
    parent_clusters = parent.tree["clusters"].id if parent and "clusters" in parent.tree else None
    # A rollout's step is a commit even when no cluster changed: it records the progress.
    progress = step is not None and step.rollout is not None
    if parent is not None and parent_clusters == clusters_tree and not progress:
        return Built(None, blobs_written=writer.blobs_written, clusters_reused=reuse_count)
    recorded_now = {c.name: {**c.info, "digest": c.digest, "tree": str(entries[c.name]),
                             "source": source.commit} for c in clusters}
    # A publish renders the whole environment at the source: a cluster it reuses (the
    # change did not touch it) is the source's render too. A promotion's kept clusters
    # (other waves) keep the source they were rendered from.
    recorded_now.update((name, {**entry, "tree": str(oid),
                                "source": entry.get("source", source.commit)
                                if step is not None and not step.whole else source.commit})
                        for name, (oid, entry) in kept.items())
    engine = tools.get("engine")
    meta = {
        "schemaVersion": 1,
        "environment": env.name,
        "branch": env.branch,
        "agent": env.agent,
        "source": {"repo": source.repo_url, "commit": source.commit, "subject": source.subject,
                   **({"path": source.path} if source.path else {})},
        "inputsDigest": source.inputs_digest,
        "tools": {"hydrate": __version__, **{k: v for k, v in tools.items() if k != "engine"}},
        "engine": engine,
        "clusters": {name: recorded_now[name] for name in sorted(recorded_now)},
        "kind": step.kind if step is not None else "publish",
    }
    if step is not None and step.rollout is not None:
        meta["rollout"] = dict(step.rollout)
    holds = dict(step.holds) if step is not None else dict(
        metadata_of(repo, parent).get("holds") or {})
    if holds:
        meta["holds"] = holds
    root = repo.TreeBuilder()
    root.insert("README.md", writer.blob(readme(env, source, len(entries))), BLOB)
    root.insert(".hydrate", writer.tree({"metadata.json": (json.dumps(meta, indent=2, sort_keys=True)
                                                           + "\n").encode()}), TREE)
    root.insert("clusters", clusters_tree, TREE)
    root.insert("hydrator.metadata", writer.blob(hydrator_metadata(repo, env, source)), BLOB)
    built = Built(None, added, changed, removed, writer.blobs_written, reuse_count)
    restored = [n for n in restored if n in entries]
    oid = repo.create_commit(None, author, committer,
                             message(env, source, built, len(entries), restored, step),
                             root.write(), [parent.id] if parent is not None else [])
    return Built(oid, added, changed, removed, writer.blobs_written, reuse_count)


def hydrator_metadata(repo: pygit2.Repository, env: Environment, source: Source) -> bytes:
    """The root `hydrator.metadata` Argo CD's Source Hydrator writes on a hydrated branch
    (`pipeline.sinks.hydrator`), so GitOps Promoter and Argo CD tooling can work on
    hydrate's branches; the same for every environment of one source."""
    try:
        dry = repo[source.commit].peel(pygit2.Commit)
    except (KeyError, ValueError):
        dry = None
    return hydrator.metadata(source.repo_url, source.commit, dry)


def source_url(repo: pygit2.Repository) -> str:
    """Where the source lives, for provenance: origin's URL (redacted), else the path."""
    if "origin" in repo.remotes.names():
        url = repo.remotes["origin"].url
        if url:
            return redact(url)
    return (repo.workdir or repo.path).rstrip("/")
