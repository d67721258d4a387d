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

from pipeline import agents, branch, output
from pipeline.errors import PipelineError
from pipeline.graph import Edge
from pipeline.inventory import Environment, Inventory
from pipeline.tools import Toolset


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
            files = {str(p.relative_to(directory)): p.read_bytes()
                     for p in sorted(directory.rglob("*")) if p.is_file()}
            if output.digest(files) != entry.get("digest"):
                raise PipelineError(f"--from-shards: {directory}: files do not match the "
                                    "manifest's digest (changed after the render?)")
            edges = [Edge(*e) for e in entry.get("edges", [])]
            laid_out = agents.layout(env, name, files, edges)
            found.append(branch.ClusterOutput(
                name, laid_out, output.digest(laid_out),
                {"class": entry["class"], "site": entry["site"], "objects": entry["objects"]}))
        return found


def load(directories: Sequence[Path], commit: str) -> Shards:
    """Read and cross-check the shards' manifests; they must be renders of `commit`."""
    clusters: dict[str, tuple[Path, dict[str, Any]]] = {}
    seen: dict[str, str] = {}
    versions: set[tuple[str, str, str]] = set()
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
        versions.add((str(tools.get("helm")), str(tools.get("kustomize")),
                      str(manifest.get("engine"))))
        for key, entry in (manifest.get("clusters") or {}).items():
            if key in seen:
                raise PipelineError(f"--from-shards: cluster {key} is in both {seen[key]} and "
                                    f"{directory}; shards must not overlap")
            seen[key] = str(directory)
            clusters[key] = (directory / key, entry)
    if len(versions) != 1:
        raise PipelineError("--from-shards: the shards were rendered with different tool or "
                            f"hydrate versions: {sorted(versions)}")
    helm, kustomize, engine = versions.pop()
    return Shards(clusters, helm, kustomize, engine)
