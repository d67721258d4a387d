"""Publishing the outputs of several `hydrate render --shard i/N` runs as one commit per
environment: the fan-in job of a sharded CI matrix.

Each shard's output directory has a manifest (`.hydrate-render`) naming the source commit,
tool versions, hydrate's engine digest and, per cluster, its digest, class, site, object
count and dependency edges. The shards must agree on all of those, and together hold
every cluster of each published environment exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline.config.model import Environment, Inventory
from pipeline.errors import PipelineError
from pipeline.render.graph import Edge
from pipeline.render.tools import Toolset
from pipeline.sinks import agents, branch, output


@dataclass(frozen=True)
class Shards:
    clusters: dict[str, tuple[Path, dict[str, Any]]]  # "env/name" → (its directory, entry)
    helm: str
    kustomize: str
    engine: str

    def tools(self, found: Toolset) -> Toolset:
        """The tool versions the shards rendered with (recorded as the branch's)."""
        return replace(found, helm=replace(found.helm, version=self.helm),
                       kustomize=replace(found.kustomize, version=self.kustomize))

    def outputs(self, env: Environment, inv: Inventory,
                names: Iterable[str]) -> list[branch.ClusterOutput]:
        wanted = sorted(names)
        missing = [n for n in wanted if f"{env.name}/{n}" not in self.clusters]
        if missing:
            raise PipelineError(
                f"--from-shards: environment {env.name} has clusters no shard rendered: "
                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''} "
                "(did every shard of the matrix finish, from the same commit?)")
        found = []
        for name in wanted:
            directory, entry = self.clusters[f"{env.name}/{name}"]
            files = _files(directory)
            if output.digest(files) != entry.get("digest"):
                raise PipelineError(f"--from-shards: {directory}: files do not match the "
                                    "manifest's digest (changed after the render?)")
            laid_out = agents.layout(env, name, files, [Edge(*e) for e in entry["edges"]])
            found.append(branch.ClusterOutput(
                name, laid_out, output.digest(laid_out),
                {"class": entry["class"], "site": entry["site"], "objects": entry["objects"]}))
        return found


def _files(directory: Path) -> dict[str, bytes]:
    """A cluster's files in a shard. A render writes only directories and regular files;
    a link (which could make the publish read, and push, a file of the machine running
    it) or anything else means the shard was not left as `hydrate render` wrote it."""
    if directory.is_symlink() or not directory.is_dir():
        raise PipelineError(f"--from-shards: {directory}: not a directory as `hydrate render` "
                            "writes it (was the shard changed after the render?)")
    files = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise PipelineError(f"--from-shards: {path}: not a regular file (a render writes "
                                "only files and directories; was the shard changed after the "
                                "render?)")
        if path.is_file():
            files[str(path.relative_to(directory))] = path.read_bytes()
    return files


def _check_entry(directory: Path, key: str, entry: dict[str, Any]) -> None:
    """A manifest entry has what the fan-in reads from it, of the types a render writes."""
    wanted = {"digest": str, "class": str, "site": str, "objects": int, "edges": list}
    wrong = [k for k, kind in wanted.items() if not isinstance(entry.get(k), kind)]
    edges = entry.get("edges")
    if not wrong and not all(isinstance(e, list) and len(e) == 3
                             and all(isinstance(x, str) for x in e) for e in edges or ()):
        wrong = ["edges"]
    if wrong:
        raise PipelineError(f"--from-shards: {directory}: the manifest entry of cluster {key} "
                            f"has no valid {', '.join(wrong)} (was the shard changed after "
                            "the render?)")


def load(directories: Sequence[Path], commit: str) -> Shards:
    """Read and cross-check the shards' manifests; they must be renders of `commit`."""
    clusters: dict[str, tuple[Path, dict[str, Any]]] = {}
    seen: dict[str, str] = {}
    versions: dict[tuple[str, str, str], list[str]] = {}
    for directory in directories:
        manifest = output.read_manifest(directory)
        if not manifest:
            raise PipelineError(f"--from-shards: {directory}: not a `hydrate render` output "
                                f"(no {output.MARKER} manifest)")
        source = (manifest.get("source") or {}).get("commit")
        if source != commit:
            raise PipelineError(
                f"--from-shards: {directory} is a render of {source or 'a working tree'}, not "
                f"of {commit[:12]}; render the shards with --source {commit[:12]}")
        tools = manifest.get("tools") or {}
        made_with = (str(tools.get("helm")), str(tools.get("kustomize")),
                     str(manifest.get("engine")))
        versions.setdefault(made_with, []).append(str(directory))
        for key, entry in (manifest.get("clusters") or {}).items():
            _check_entry(directory, key, entry)
            if key in seen:
                raise PipelineError(f"--from-shards: cluster {key} is in both {seen[key]} and "
                                    f"{directory}; shards must not overlap")
            seen[key] = str(directory)
            clusters[key] = (directory / key, entry)
    if len(versions) != 1:
        groups = "; ".join(f"{', '.join(dirs)}: helm {h}, kustomize {k}, hydrate {e[:12]}"
                           for (h, k, e), dirs in sorted(versions.items()))
        raise PipelineError("--from-shards: the shards were rendered with different tool or "
                            f"hydrate versions ({groups}); render all shards in one job "
                            "definition (same tools, same hydrate)")
    ((helm, kustomize, engine),) = versions
    return Shards(clusters, helm, kustomize, engine)
