"""The render stage: inventory + packages → plan → tool runs (deduplicated) → objects.

`render()` takes the selected clusters through a fixed road:

1. materialise every (cluster, package) input and its key;
2. run each distinct key once (in parallel), unless the cache has its output:
   `helm template` / `kustomize build`;
3. for Helm packages with Components, run kustomize over the chart output (again once
   per distinct key);
4. learn each distinct output's CRDs and kinds once; build each cluster's graph (with
   CRD edges), once per distinct package list and CRD shape;
5. post-process per package (namespace, annotations, sync-wave), once per distinct
   (output, package, wave, scopes) — or take it from the cache — and check that no two
   packages render the same object.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipeline.config.model import Cluster, Inventory
from pipeline.config.source import Tree
from pipeline.errors import RenderError
from pipeline.render import graph
from pipeline.render.cache import Cache, NoCache
from pipeline.render.materialise import HELM_OUTPUT, Input, Materialiser, Run, blob, overlay_key
from pipeline.render.postprocess import Finisher, Origin
from pipeline.render.resources import ResId, Resource
from pipeline.render.runner import Runner
from pipeline.render.tools import Toolset
from pipeline.version import engine_digest

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PackageRender:
    name: str
    wave: int
    resources: tuple[Resource, ...]


@dataclass(frozen=True)
class ClusterRender:
    cluster: Cluster
    plan: graph.Plan
    packages: tuple[PackageRender, ...]

    @property
    def objects(self) -> int:
        return sum(len(p.resources) for p in self.packages)


@dataclass(frozen=True)
class Stats:
    clusters: int
    packages: int
    pairs: int  # (cluster, package) renders
    objects: int
    distinct: int  # distinct inputs (render keys), all stages
    tool_runs: Counter[str] = field(default_factory=Counter)  # inputs built, per tool
    processes: Counter[str] = field(default_factory=Counter)  # tool processes (batched builds)
    cache_hits: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class FleetRender:
    clusters: tuple[ClusterRender, ...]
    stats: Stats


def _where(inp: Input) -> str:
    return f"{inp.cluster}/{inp.package}"


def _owners(inputs: Sequence[Input], key_of: Callable[[Input], str]) -> dict[str, list[Input]]:
    owners: dict[str, list[Input]] = {}
    for inp in inputs:
        owners.setdefault(key_of(inp), []).append(inp)
    return owners


def _origin(inp: Input) -> Origin:
    """Where the files of an input's last run are in the repository."""
    if inp.overlay is None:
        return Origin(inp.run.places)
    return Origin(inp.overlay.places, (inp.run.key, inp.run.places))


def render(tree: Tree, inv: Inventory, clusters: Sequence[Cluster], tools: Toolset, *,
           jobs: int, workdir: Path, progress: Progress | None = None,
           cache: Cache | None = None) -> FleetRender:
    """Render `clusters`; RenderError/ConfigError/GraphError on the first problem."""
    start = time.monotonic()
    mat = Materialiser(tree, inv, tools)
    runner = Runner(tree, tools, workdir=workdir, jobs=jobs, progress=progress, cache=cache)
    lists = {c.name: graph.packages_for(inv, c) for c in clusters}
    inputs = [mat.input(c, p) for c in clusters for p in lists[c.name]]

    first = _owners(inputs, lambda i: i.run.key)
    outputs = runner.execute([(group[0].run, [_where(i) for i in group]) for group in first.values()])

    with_overlay = [i for i in inputs if i.overlay is not None]
    second_runs: dict[str, tuple[Run, list[str]]] = {}
    final_key: dict[tuple[str, str], str] = {(i.cluster, i.package): i.run.key for i in inputs}
    for inp in with_overlay:
        assert inp.overlay is not None
        chart_output = outputs[inp.run.key]
        key = overlay_key(tools.kustomize, inp.overlay, chart_output)
        final_key[(inp.cluster, inp.package)] = key
        if key not in second_runs:
            files = {**inp.overlay.files, HELM_OUTPUT: blob(chart_output)}
            second_runs[key] = (Run("kustomize", (".",), files, key, inp.overlay.probes,
                                    inp.overlay.places), [])
        second_runs[key][1].append(_where(inp))
    outputs.update(runner.execute(list(second_runs.values())))

    finisher = Finisher(outputs, cache if cache is not None else NoCache(), engine_digest())
    origins = {(i.cluster, i.package): _origin(i) for i in inputs}
    plans: dict[tuple[object, ...], graph.Plan] = {}
    results: list[ClusterRender] = []
    for index, cluster in enumerate(clusters):
        names = lists[cluster.name]
        keys = {p: final_key[(cluster.name, p)] for p in names}
        outs = {p: finisher.info(keys[p], f"{cluster.name}/{p}") for p in names}
        provides = {p: frozenset(o.crds) for p, o in outs.items()}
        signature = (names, tuple(sorted(provides.items())),
                     tuple(sorted((p, o.uses) for p, o in outs.items() if o.custom_kinds)))
        plan = plans.get(signature)
        if plan is None:
            plan = plans[signature] = graph.plan(inv, cluster, names, provides,
                                                 {p: o.uses for p, o in outs.items()})
        elif plan.cluster != cluster:
            plan = replace(plan, cluster=cluster)
        scopes = {gk: ns for o in outs.values() for gk, ns in o.crds.items()}
        seen: dict[ResId, str] = {}
        packages: list[PackageRender] = []
        for name in names:
            pkg = inv.packages[name]
            relevant = tuple((gk, scopes.get(gk, True)) for gk in outs[name].custom_kinds)
            resources = finisher.finish(
                keys[name], package=name, namespace=pkg.namespace, wave=plan.waves[name],
                scopes=relevant, origin=origins[(cluster.name, name)],
                where=f"{cluster.name}/{name}")
            for res in resources:
                other = seen.get(res.id)
                if other is not None:
                    raise RenderError(f"cluster {cluster.name}: {res.id} is rendered by both "
                                      f"{other} and {name}; keep it in one package")
                seen[res.id] = name
            packages.append(PackageRender(name, plan.waves[name], resources))
        results.append(ClusterRender(cluster, plan, tuple(packages)))
        if progress:
            progress("post-processing", index + 1, len(clusters))

    stats = Stats(
        clusters=len(results),
        packages=len({p for names in lists.values() for p in names}),
        pairs=len(inputs),
        objects=sum(r.objects for r in results),
        distinct=len(first) + len(second_runs),
        tool_runs=runner.runs,
        processes=runner.processes,
        cache_hits=runner.hits,
        seconds=time.monotonic() - start,
    )
    return FleetRender(tuple(results), stats)
