"""The directory sink: a cluster's render as files, and writing them without half-states.

Layout (docs/output.md):

    <out>/<environment>/<cluster>/kustomization.yaml      resources: the package dirs
    <out>/<environment>/<cluster>/<package>/kustomization.yaml
    <out>/<environment>/<cluster>/<package>/<object file>.yaml

How an output directory stays right whatever happens to the writer or to the files
(docs/output.md, "Updating an output directory"):

* hydrate writes only into a directory it made (marked by the manifest), or a new or
  empty one: never the repository, a link, or someone else's files (`claim`);
* one writer at a time: `write` holds a lock (`.hydrate-render.lock`) while it reads the
  manifest and changes the directory;
* the manifest (`.hydrate-render`) records per cluster the digest of its files, the
  fingerprint of those files as written (`ondisk.scan`) and the key of the render they
  came from (a render with that key has those files: they are not serialised again).
  A cluster directory counts as unchanged only if its fingerprint is the recorded one,
  or if its files, read back, have the new render's digest: a hand edit or deletion, and
  a directory swapped in by a writer killed before it recorded it, are seen and rewritten;
* changed clusters are first staged in full (a full disk or a permission problem stops
  there, nothing changed), then swapped in by renames with SIGINT and SIGTERM held back;
  a rename that fails undoes the ones before it;
* what a killed writer leaves (`.staging`, `.trash`) is removed by the next one.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import PipelineError
from pipeline.sinks import ondisk, places

if TYPE_CHECKING:
    from pipeline.render.engine import ClusterRender

MARKER = ".hydrate-render"  # the manifest; marks a directory that `hydrate render` owns
LOCK = MARKER + ".lock"
DEFAULT_LOCK_TIMEOUT = 60.0  # seconds a writer waits for another one
_NEXT = MARKER + ".tmp"  # the next manifest, renamed over MARKER
_STAGING = ".staging"
_TRASH = ".trash"
# What a killed writer may leave (older versions: `.staging-*`, `.trash-*`, `.manifest-*`).
_LEFTOVERS = (_STAGING, _TRASH, ".manifest-", _NEXT)
# All a new output directory holds before its first manifest.
_BEFORE_MANIFEST = frozenset({LOCK, _NEXT})


def kustomization(resources: Iterable[str]) -> bytes:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization"]
    items = list(resources)
    lines.append("resources:" if items else "resources: []")
    lines.extend(f"- {item}" for item in items)
    return ("\n".join(lines) + "\n").encode()


def cluster_files(render: ClusterRender) -> dict[str, bytes]:
    """Every file of one cluster's directory, by path relative to it."""
    ordered = sorted(render.packages, key=lambda p: (p.wave, p.name))
    files = {"kustomization.yaml": kustomization(p.name for p in ordered)}
    for pkg in ordered:
        names = sorted(r.filename for r in pkg.resources)
        files[f"{pkg.name}/kustomization.yaml"] = kustomization(names)
        for res in pkg.resources:
            files[f"{pkg.name}/{res.filename}"] = res.text
    return files


def digest(files: Mapping[str, bytes]) -> str:
    """A digest of a file set (paths and contents)."""
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
    return h.hexdigest()


def claim(out: Path, protect: Sequence[Path] = ()) -> None:
    """PipelineError unless `out` may be written: new, empty, or marked by its manifest as
    `hydrate render`'s (pipeline.sinks.places); never a link, nor the repository."""
    places.claim_dir(out, what="--out", stamp=MARKER, protect=protect, ignore=_BEFORE_MANIFEST)


@dataclass(frozen=True)
class Written:
    written: tuple[str, ...]  # "env/cluster" directories (re)written
    unchanged: tuple[str, ...]  # left as they were: same files as the render's
    removed: tuple[str, ...]


def cluster_entry(render: ClusterRender, files_digest: str) -> dict[str, Any]:
    """What the manifest records of a cluster (enough for a fan-in publish)."""
    return {"environment": render.cluster.environment, "class": render.cluster.class_name,
            "site": render.cluster.site, "objects": render.objects, "digest": files_digest,
            "edges": [[e.dependency, e.dependent, e.reason] for e in render.plan.edges]}


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of an output directory; {} if there is none, or none this version
    can read (unreadable, corrupt, older): such a manifest vouches for nothing."""
    try:
        data = json.loads((out / MARKER).read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("schemaVersion") != 1:
        return {}
    clusters = data.get("clusters", {})
    if not isinstance(clusters, dict):
        return {}
    return {**data, "clusters": {k: v for k, v in clusters.items() if isinstance(v, dict)}}


def _prepare_manifest(out: Path, manifest: Mapping[str, Any]) -> Path:
    """Write the next manifest beside the current one (with the umask's mode)."""
    path = out / _NEXT
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e
    return path


def _write_files(base: Path, files: Mapping[str, bytes]) -> None:
    made: set[Path] = set()
    for rel, data in files.items():
        target = base / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        try:
            target.write_bytes(data)
        except OSError as e:  # a failed write() does not say which file
            raise OSError(e.errno, e.strerror, str(target)) from e


def _clear_leftovers(out: Path) -> None:
    """Remove what a writer that was killed left behind (we hold the lock)."""
    for path in out.iterdir():
        if path.name.startswith(_LEFTOVERS):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    # Older versions staged a new output directory beside it.
    for path in out.parent.glob(f".{glob.escape(out.name)}.staging-*"):
        shutil.rmtree(path, ignore_errors=True)


def _stamp_if_same(directory: Path, recorded: Mapping[str, Any], new_digest: str) -> str | None:
    """The fingerprint of `directory` if it holds exactly the files of `new_digest`;
    None if it must be written. Files are read only when the fingerprint is not the
    recorded one (edited, restored from a cache, swapped in by a killed writer)."""
    found = ondisk.scan(directory)
    if found is None:
        return None
    if found.stamp == recorded.get("stamp"):
        on_disk = recorded.get("digest")
    else:
        contents = ondisk.read_files(directory, found.files)
        on_disk = digest(contents) if contents is not None else None
    return found.stamp if on_disk == new_digest else None


def _stamp(directory: Path) -> str:
    found = ondisk.scan(directory)
    if found is None:  # only if someone removed it under our feet
        raise FileNotFoundError(2, "vanished while being written", str(directory))
    return found.stamp


def _removals(out: Path, prune_envs: Mapping[str, set[str]],
              known_envs: set[str] | None) -> tuple[list[Path], list[str]]:
    """Directories to remove, and the clusters ("env/cluster") they hold."""
    paths: list[Path] = []
    names: list[str] = []
    for env, keep in prune_envs.items():
        for old in sorted((out / env).iterdir()) if (out / env).is_dir() else ():
            if old.name not in keep:
                paths.append(old)
                names.append(f"{env}/{old.name}")
    if known_envs is not None:
        for old in sorted(out.iterdir()):
            if old.is_dir() and not old.name.startswith(".") and old.name not in known_envs:
                paths.append(old)
                names.extend(f"{old.name}/{c.name}" for c in sorted(old.iterdir()))
    return paths, names


def _swap(out: Path, staging: Path, trash: Path, written: Sequence[str],
          removals: Sequence[Path], manifest: Path) -> None:
    """Put the staged clusters in place, move `removals` away and the manifest in: all,
    with SIGINT/SIGTERM held back; on an error, none (the renames done are undone)."""
    done: list[tuple[Path, Path]] = []

    def move(src: Path, dst: Path) -> None:
        os.replace(src, dst)
        done.append((src, dst))

    with ondisk.signals_deferred():
        try:
            for name in written:
                final = out / name
                final.parent.mkdir(exist_ok=True)
                if os.path.lexists(final):
                    move(final, trash / str(len(done)))
                move(staging / name, final)
            for path in removals:
                move(path, trash / str(len(done)))
            os.replace(manifest, out / MARKER)
        except BaseException as e:
            # Any failure, not only the disk's (a bug is one too): undo what was done.
            undone = True
            for src, dst in reversed(done):
                try:
                    os.replace(dst, src)
                except OSError:
                    undone = False
            if not undone and isinstance(e, OSError):
                raise PipelineError(f"--out {out}: cannot write: {ondisk.describe(e)}; it is "
                                    "left partly updated (each cluster whole): fix the cause "
                                    "and render again") from e
            raise


def _update(out: Path, renders: Sequence[ClusterRender], prune_envs: Mapping[str, set[str]],
            known_envs: set[str] | None, meta: Mapping[str, Any]) -> Written:
    _clear_leftovers(out)
    if not (out / MARKER).exists():  # a new directory: mark it as ours first
        os.replace(_prepare_manifest(out, {"schemaVersion": 1, **meta, "clusters": {}}),
                   out / MARKER)
    current = read_manifest(out)
    clusters: dict[str, Any] = dict(current.get("clusters", {}))
    staging, trash = out / _STAGING, out / _TRASH
    written: list[str] = []
    unchanged: list[str] = []
    try:
        os.mkdir(staging)
        for render in renders:
            name = f"{render.cluster.environment}/{render.cluster.name}"
            recorded = clusters.get(name, {})
            # A render made of what the recorded one was made of has its files' digest.
            files = None
            known = recorded.get("digest") if render.key and recorded.get("render") == render.key \
                else None
            if not isinstance(known, str):
                files = cluster_files(render)
                known = digest(files)
            entry = cluster_entry(render, known)
            stamp = _stamp_if_same(out / name, recorded, known)
            if stamp is None:
                _write_files(staging / name, files if files is not None else cluster_files(render))
                stamp = _stamp(staging / name)  # moving the directory keeps its files' stamps
                written.append(name)
            else:
                unchanged.append(name)
            clusters[name] = {**entry, "stamp": stamp, **({"render": render.key} if render.key else {})}
        removals, removed = _removals(out, prune_envs, known_envs)
        gone = set(removed)
        fresh = set(written)
        present = {k: v for k, v in clusters.items()
                   if k not in gone and (k in fresh or (out / k).is_dir())}
        document = {"schemaVersion": 1, **meta, "clusters": present}
        if not written and not removals and document == current:
            return Written((), tuple(unchanged), ())  # nothing changed: nothing to write
        manifest = _prepare_manifest(out, document)
        os.mkdir(trash)
        _swap(out, staging, trash, written, removals, manifest)
        return Written(tuple(written), tuple(unchanged), tuple(removed))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
        with contextlib.suppress(OSError):
            (out / _NEXT).unlink(missing_ok=True)


def write(out: Path, renders: Sequence[ClusterRender], *, prune_envs: Mapping[str, set[str]],
          known_envs: set[str] | None, meta: Mapping[str, Any] | None = None,
          lock_timeout: float = DEFAULT_LOCK_TIMEOUT, warn: ondisk.Warn | None = None,
          protect: Sequence[Path] = ()) -> Written:
    """Write the clusters' directories under `out`, never leaving a half-written cluster.

    A cluster directory that holds exactly the render's files is left as it is; the others
    are staged and swapped in. `prune_envs` maps environments rendered in full to their
    clusters: other cluster directories there are removed. With `known_envs`, other
    environment directories go too. `meta` (source, tools) is recorded in the manifest.
    Another writer is waited for up to `lock_timeout` seconds (`warn` says so). A disk
    problem is a PipelineError naming the path, with the directory as it was. `out` must
    pass `claim` (`protect`: the repository).
    """
    out = places.absolute(out)
    try:
        claim(out, protect)
        out.mkdir(parents=True, exist_ok=True)
        with ondisk.locked(out / LOCK, timeout=lock_timeout, what=f"--out {out}", warn=warn):
            claim(out, protect)  # again, now that no other writer can change it
            return _update(out, renders, prune_envs, known_envs, meta or {})
    except OSError as e:
        raise PipelineError(f"--out {out}: cannot write: {ondisk.describe(e)}; the output is "
                            "as it was (check permissions and free space, or choose another "
                            "--out)") from e
