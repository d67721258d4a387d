"""The render stage: inventory + packages → plan → tool runs (deduplicated) → objects.

`render()` takes the selected clusters through a fixed road:

1. materialise every (cluster, package) input and its key (or recall the key from an
   earlier render of the same input: `pipeline.render.recall`);
2. run each distinct key once (in parallel), unless the cache has its output:
   `helm template` / `kustomize build`;
3. for Helm packages with Components, run kustomize over the chart output (again once
   per distinct key);
4. learn each distinct output's CRDs and kinds once; build each cluster's graph (with
   CRD edges), once per distinct package list and CRD shape (kept in the cache);
5. post-process per package (namespace, annotations, sync-wave), once per distinct
   (output, package, wave, scopes) — or take it from the cache — and check that no two
   packages render the same object.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.config.model import Cluster, Inventory
from pipeline.config.source import Tree
from pipeline.errors import RenderError
from pipeline.render import determinism, graph
from pipeline.render.cache import Cache, NoCache
from pipeline.render.graph import GroupKind
from pipeline.render.materialise import HELM_OUTPUT, Input, Materialiser, Run, blob, digest, overlay_key
from pipeline.render.postprocess import Finisher, Origin, name_hooks
from pipeline.render.recall import Known, Recall
from pipeline.render.resources import ResId, Resource
from pipeline.render.runner import Runner
from pipeline.render.tools import Toolset
from pipeline.version import engine_digest

Progress = Callable[[str, int, int], None]


class Unstable(NamedTuple):
    """A field that differed between two renders of the package's chart input: the
    position of its object in `resources` (-1: Components renamed it), the object as the
    chart wrote it, the field, and the functions the chart calls."""

    position: int
    object: str
    field: str
    functions: tuple[str, ...]


@dataclass(frozen=True)
class PackageRender:
    name: str
    wave: int
    resources: tuple[Resource, ...]
    unstable: tuple[Unstable, ...] = ()  # see `pipeline.render.determinism`


@dataclass(frozen=True)
class ClusterRender:
    cluster: Cluster
    plan: graph.Plan
    packages: tuple[PackageRender, ...]
    # What the cluster's files are made of (each package's name, wave and objects, by
    # their post-processing keys): equal keys, equal files. "": not known.
    key: str = ""

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


Pair = tuple[str, str]  # (cluster, package)


def _owners(pairs: Sequence[Pair], key_of: Callable[[Pair], str]) -> dict[str, list[Pair]]:
    owners: dict[str, list[Pair]] = {}
    for pair in pairs:
        owners.setdefault(key_of(pair), []).append(pair)
    return owners


def _origin(known: Known) -> Origin:
    """Where the files of an input's last run are in the repository."""
    if known.overlay is None:
        return Origin(known.places)
    return Origin(known.overlay_places, (known.run, known.places))


class _Runs:
    """The tool-run stages. Each pair's `Known` keys are recalled from earlier renders by
    identity, or materialised; a pair is materialised (once) only when a tool must run
    for it, or when the output its recalled key names has left the cache."""

    def __init__(self, mat: Materialiser, recall: Recall, runner: Runner, tools: Toolset,
                 clusters: Sequence[Cluster], lists: Mapping[str, tuple[str, ...]]) -> None:
        self._mat = mat
        self._recall = recall
        self._runner = runner
        self._tools = tools
        self._clusters = {c.name: c for c in clusters}
        self._made: dict[Pair, Input] = {}
        self._overlay_keys: dict[tuple[str, str], str] = {}
        self.outputs: dict[str, bytes] = {}
        self.identities = {(c.name, p): mat.identity(c, p) for c in clusters for p in lists[c.name]}
        self.known: dict[Pair, Known] = {}
        for pair, identity in self.identities.items():
            found = recall.get(identity)
            self.known[pair] = found if found is not None else Known.of(self.full(pair))

    def full(self, pair: Pair) -> Input:
        found = self._made.get(pair)
        if found is None:
            found = self._made[pair] = self._mat.input(self._clusters[pair[0]], pair[1])
            self.known[pair] = Known.of(found)
        return found

    def _stage(self, chosen: Sequence[Pair], key_of: Callable[[Pair], str],
               run_of: Callable[[Pair, str], Run]) -> int:
        """Outputs of the distinct keys of `chosen`, from the cache or run; their number."""
        owners = _owners(chosen, key_of)
        self.outputs.update(self._runner.cached(owners))
        stale = [pair for key, group in owners.items() if key not in self.outputs for pair in group]
        if stale:
            for pair in stale:
                self.full(pair)
            owners = _owners(chosen, key_of)
        self.outputs.update(self._runner.execute(
            [(run_of(group[0], key), [f"{c}/{p}" for c, p in group])
             for key, group in owners.items() if key not in self.outputs]))
        return len(owners)

    def _overlay_run(self, pair: Pair, key: str) -> Run:
        overlay = self.full(pair).overlay
        assert overlay is not None
        files = {**overlay.files,
                 HELM_OUTPUT: blob(name_hooks(self.outputs[self.known[pair].run], "/".join(pair)))}
        return Run("kustomize", (".",), files, key, overlay.probes, overlay.places)

    def final(self, pair: Pair) -> str:
        """The key of the pair's last run (the Components over a chart, if any)."""
        run, overlay = self.known[pair].run, self.known[pair].overlay
        if overlay is None:
            return run
        found = self._overlay_keys.get((run, overlay))
        if found is None:
            if run not in self.outputs:  # materialised afresh in the second stage: a new chart key
                self.outputs.update(self._runner.execute([(self.full(pair).run, ["/".join(pair)])]))
            found = overlay_key(self._tools.kustomize, overlay, self.outputs[run])
            self._overlay_keys[(run, overlay)] = found
        return found

    def run(self) -> int:
        """Both stages (charts and kustomize builds, then Components over charts); the
        number of distinct inputs."""
        pairs = list(self.identities)
        distinct = self._stage(pairs, lambda pair: self.known[pair].run,
                               lambda pair, _key: self.full(pair).run)
        return distinct + self._stage([p for p in pairs if self.known[p].overlay is not None],
                                      self.final, self._overlay_run)

    def remember(self) -> None:
        for pair, identity in self.identities.items():
            self._recall.put(identity, self.known[pair])
        self._recall.save()


def _plan(inv: Inventory, cluster: Cluster, names: tuple[str, ...],
          provides: Mapping[str, frozenset[GroupKind]], uses: Mapping[str, frozenset[GroupKind]],
          cache: Cache, engine: str) -> graph.Plan:
    """`graph.plan`, kept in the cache: a warm render needs no graph library (networkx
    alone takes a quarter of a second to import). Only plans without a cycle are kept."""
    key = digest("plan v1", engine,
                 [(n, inv.packages[n].depends_on, sorted(provides.get(n, ())),
                   sorted(uses.get(n, ()))) for n in names])
    raw = cache.get(key)
    if raw is not None:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            kept = json.loads(raw)
            edges = tuple(graph.Edge(*e) for e in kept["edges"])
            waves = {n: kept["waves"][n] for n in names}
            if all(type(w) is int for w in waves.values()) and all(
                    e.dependency in waves and e.dependent in waves and isinstance(e.reason, str)
                    for e in edges):
                return graph.Plan(cluster, names, edges, waves)
    found = graph.plan(inv, cluster, names, provides, uses)
    cache.put(key, json.dumps({"edges": [[e.dependency, e.dependent, e.reason] for e in found.edges],
                               "waves": dict(found.waves)}).encode())
    return found


class _Variances:
    """What differed between two renders of a chart input, by run key: this render's runs,
    else the cache (a miss: the input renders the same every time, or calls nothing that
    varies). Read once per key."""

    def __init__(self, fresh: Mapping[str, bytes], cache: Cache) -> None:
        self._fresh, self._cache = fresh, cache
        self._read: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        if key not in self._read:
            raw = self._fresh.get(key) or self._cache.get(determinism.cache_key(key))
            try:
                self._read[key] = json.loads(raw) if raw is not None else None
            except ValueError:
                self._read[key] = None
        return self._read[key]


def _unstable(variances: _Variances, key: str, resources: Sequence[Resource]) -> tuple[Unstable, ...]:
    """The varying fields of a chart input, on the package's objects."""
    found = variances.get(key)
    if not isinstance(found, dict):
        return ()
    functions = tuple(found.get("functions") or ())
    out: list[Unstable] = []
    for obj in found.get("objects") or ():
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        matches = [i for i, r in enumerate(resources) if (r.id.group, r.id.kind, r.id.name) ==
                   (group, obj.get("kind"), obj.get("name"))
                   and obj.get("namespace") in ("", r.id.namespace)]
        ref = "/".join(p for p in (obj.get("kind"), obj.get("namespace"), obj.get("name")) if p)
        for field_path in obj.get("fields") or ():
            out.append(Unstable(matches[0] if matches else -1, ref, str(field_path), functions))
    return tuple(out)


def render(tree: Tree, inv: Inventory, clusters: Sequence[Cluster], tools: Toolset, *,
           jobs: int, workdir: Path, progress: Progress | None = None,
           cache: Cache | None = None) -> FleetRender:
    """Render `clusters`; RenderError/ConfigError/GraphError on the first problem."""
    start = time.monotonic()
    store: Cache = cache if cache is not None else NoCache()
    runner = Runner(tree, tools, workdir=workdir, jobs=jobs, progress=progress, cache=store)
    lists = {c.name: graph.packages_for(inv, c) for c in clusters}
    engine = engine_digest()
    runs = _Runs(Materialiser(tree, inv, tools), Recall(store, tools, engine), runner,
                 tools, clusters, lists)
    distinct = runs.run()
    final_key = {pair: runs.final(pair) for pair in runs.identities}

    finisher = Finisher(runs.outputs, store, engine)
    origins = {pair: _origin(runs.known[pair]) for pair in runs.identities}
    plans: dict[tuple[object, ...], graph.Plan] = {}
    results: list[ClusterRender] = []
    variances = _Variances(runner.variance, store)
    for index, cluster in enumerate(clusters):
        names = lists[cluster.name]
        keys = {p: final_key[(cluster.name, p)] for p in names}
        outs = {p: finisher.info(keys[p], f"{cluster.name}/{p}") for p in names}
        provides = {p: frozenset(o.crds) for p, o in outs.items()}
        signature = (names, tuple(sorted(provides.items())),
                     tuple(sorted((p, o.uses) for p, o in outs.items() if o.custom_kinds)))
        plan = plans.get(signature)
        if plan is None:
            plan = plans[signature] = _plan(inv, cluster, names, provides,
                                            {p: o.uses for p, o in outs.items()}, store, engine)
        elif plan.cluster != cluster:
            plan = replace(plan, cluster=cluster)
        scopes = {gk: ns for o in outs.values() for gk, ns in o.crds.items()}
        seen: dict[ResId, str] = {}
        packages: list[PackageRender] = []
        made: list[str] = []  # the post-processing keys, in package order
        for name in names:
            pkg = inv.packages[name]
            relevant = tuple((gk, scopes.get(gk, True)) for gk in outs[name].custom_kinds)
            memo, resources = finisher.finish(
                keys[name], package=name, namespace=pkg.namespace, wave=plan.waves[name],
                scopes=relevant, origin=origins[(cluster.name, name)],
                where=f"{cluster.name}/{name}")
            for res in resources:
                other = seen.get(res.id)
                if other is not None:
                    raise RenderError(f"cluster {cluster.name}: {res.id} is rendered by both "
                                      f"{other} and {name}; keep it in one package")
                seen[res.id] = name
            unstable = _unstable(variances, runs.known[(cluster.name, name)].run, resources) \
                if pkg.type == "helm" else ()
            packages.append(PackageRender(name, plan.waves[name], resources, unstable))
            made.append(memo)
        results.append(ClusterRender(cluster, plan, tuple(packages), digest(made)))
        if progress:
            progress("post-processing", index + 1, len(clusters))

    stats = Stats(
        clusters=len(results),
        packages=len({p for names in lists.values() for p in names}),
        pairs=len(final_key),
        objects=sum(r.objects for r in results),
        distinct=distinct,
        tool_runs=runner.runs,
        processes=runner.processes,
        cache_hits=runner.hits,
        seconds=time.monotonic() - start,
    )
    runs.remember()
    return FleetRender(tuple(results), stats)
