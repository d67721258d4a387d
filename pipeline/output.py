"""The directory sink: a cluster's render as files, and writing them without half-states.

Layout (DESIGN.md section 5):

    <out>/<environment>/<cluster>/kustomization.yaml      resources: the package dirs
    <out>/<environment>/<cluster>/<package>/kustomization.yaml
    <out>/<environment>/<cluster>/<package>/<object file>.yaml
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

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
        files[f"{pkg.name}/kustomization.yaml"] = kustomization(
            sorted(r.id.filename for r in pkg.resources))
        for res in pkg.resources:
            files[f"{pkg.name}/{res.id.filename}"] = res.text
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


def _write_tree(root: Path, renders: Sequence[ClusterRender]) -> None:
    for render in renders:
        base = root / render.cluster.environment / render.cluster.name
        for rel, data in cluster_files(render).items():
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    (root / MARKER).write_text("This directory is written by `hydrate render`.\n")


def write(out: Path, renders: Sequence[ClusterRender], *, prune_envs: Mapping[str, set[str]],
          known_envs: set[str] | None) -> None:
    """Write the clusters' directories under `out`, never leaving a half-written state.

    A new `out` is written beside its place and renamed into it. An existing one gets
    each cluster directory written to a staging folder first and then swapped in.
    `prune_envs` maps environments rendered in full to their clusters: other cluster
    directories there are removed. With `known_envs`, other environment directories go.
    """
    _claim(out)
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
        try:
            _write_tree(fresh, renders)
            os.rename(fresh, out)
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        return
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=out))
    try:
        _write_tree(staging, renders)
        os.replace(staging / MARKER, out / MARKER)
        for render in renders:
            env, name = render.cluster.environment, render.cluster.name
            final = out / env / name
            final.parent.mkdir(exist_ok=True)
            if final.exists():
                os.replace(final, trash / f"{env}--{name}")
            os.replace(staging / env / name, final)
        for env, keep in prune_envs.items():
            for old in (out / env).iterdir() if (out / env).is_dir() else ():
                if old.name not in keep:
                    os.replace(old, trash / f"{env}--{old.name}")
        if known_envs is not None:
            for old in out.iterdir():
                if old.is_dir() and not old.name.startswith(".") and old.name not in known_envs:
                    os.replace(old, trash / old.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(trash, ignore_errors=True)
