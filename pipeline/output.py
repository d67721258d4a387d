"""The directory sink: a cluster's render as files, and writing them without half-states.

Layout (DESIGN.md section 5):

    <out>/<environment>/<cluster>/kustomization.yaml      resources: the package dirs
    <out>/<environment>/<cluster>/<package>/kustomization.yaml
    <out>/<environment>/<cluster>/<package>/<object file>.yaml
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.render import ClusterRender

MARKER = ".hydrate-render"  # marks a directory that `hydrate render` owns


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


def _claim(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise PipelineError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise PipelineError(f"--out {out}: exists, is not empty and was not written by "
                            "hydrate render; choose another directory or empty it")


@dataclass(frozen=True)
class Written:
    written: tuple[str, ...]  # "env/cluster" directories (re)written
    unchanged: tuple[str, ...]  # left as they were: same digest as recorded
    removed: tuple[str, ...]


def cluster_entry(render: ClusterRender, files_digest: str) -> dict[str, Any]:
    """What the manifest records of a cluster (enough for a fan-in publish)."""
    return {"environment": render.cluster.environment, "class": render.cluster.class_name,
            "site": render.cluster.site, "objects": render.objects, "digest": files_digest,
            "edges": [[e.dependency, e.dependent, e.reason] for e in render.plan.edges]}


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of an output directory ({} if none, or an older plain marker)."""
    try:
        data = json.loads((out / MARKER).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("schemaVersion") == 1 else {}


def _write_manifest(root: Path, manifest: Mapping[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=root)
    with os.fdopen(fd, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, root / MARKER)


def _write_files(base: Path, files: Mapping[str, bytes]) -> None:
    made: set[Path] = set()
    for rel, data in files.items():
        target = base / rel
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        target.write_bytes(data)


def write(out: Path, renders: Sequence[ClusterRender], *, prune_envs: Mapping[str, set[str]],
          known_envs: set[str] | None, meta: Mapping[str, Any] | None = None) -> Written:
    """Write the clusters' directories under `out`, never leaving a half-written state.

    A cluster whose files have the digest the manifest (`.hydrate-render`) records is
    left as it is. The others are written to a staging folder first and swapped in; a
    new `out` is written beside its place and renamed into it. `prune_envs` maps
    environments rendered in full to their clusters: other cluster directories there are
    removed. With `known_envs`, other environment directories go too. `meta` (source,
    tools) is recorded in the manifest.
    """
    _claim(out)
    fresh = not out.exists()
    old = {} if fresh else read_manifest(out).get("clusters", {})
    clusters: dict[str, Any] = {k: v for k, v in old.items() if isinstance(v, dict)}
    root = out.parent if fresh else out
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-" if fresh else ".staging-",
                                    dir=root))
    trash = None if fresh else Path(tempfile.mkdtemp(prefix=".trash-", dir=out))
    written: list[str] = []
    unchanged: list[str] = []
    removed: list[str] = []
    try:
        for render in renders:
            name = f"{render.cluster.environment}/{render.cluster.name}"
            files = cluster_files(render)
            entry = cluster_entry(render, digest(files))
            previous = clusters.get(name, {})
            clusters[name] = entry
            if not fresh and previous.get("digest") == entry["digest"] and (out / name).is_dir():
                unchanged.append(name)
                continue
            _write_files(staging / name, files)
            written.append(name)
        if fresh:
            _write_manifest(staging, {"schemaVersion": 1, **(meta or {}), "clusters": clusters})
            os.rename(staging, out)
            return Written(tuple(written), (), ())
        assert trash is not None
        for name in written:
            final = out / name
            final.parent.mkdir(exist_ok=True)
            if final.exists():
                os.replace(final, trash / name.replace("/", "--"))
            os.replace(staging / name, final)
        for env, keep in prune_envs.items():
            for old_dir in (out / env).iterdir() if (out / env).is_dir() else ():
                if old_dir.name not in keep:
                    os.replace(old_dir, trash / f"{env}--{old_dir.name}")
                    removed.append(f"{env}/{old_dir.name}")
        if known_envs is not None:
            for old_dir in out.iterdir():
                if old_dir.is_dir() and not old_dir.name.startswith(".") and \
                        old_dir.name not in known_envs:
                    removed.extend(f"{old_dir.name}/{c.name}" for c in old_dir.iterdir())
                    os.replace(old_dir, trash / old_dir.name)
        present = {k: v for k, v in clusters.items() if (out / k).is_dir()}
        _write_manifest(out, {"schemaVersion": 1, **(meta or {}), "clusters": present})
        return Written(tuple(written), tuple(unchanged), tuple(removed))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
