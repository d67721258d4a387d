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

from pipeline.config import yamlio
from pipeline.config.model import Cluster, Inventory
from pipeline.config.source import Tree
from pipeline.errors import RenderError, ToolError
from pipeline.render import determinism, graph, schemaerrors
from pipeline.render.cache import Cache, NoCache
from pipeline.render.graph import GroupKind
from pipeline.render.materialise import (
    HELM_OUTPUT,
    Input,
    Materialiser,
    Run,
    blob,
    digest,
    overlay_key,
    run_key,
)
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
    # Per (cluster, package): the API versions its chart checks by name that the cluster
    # does not serve (so what the check gates is not rendered). Only charts with some.
    false_checks: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    # Per (cluster, package) whose chart reads them: the API versions it was given.
    api_versions: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)


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
                 clusters: Sequence[Cluster], lists: Mapping[str, tuple[str, ...]],
                 apis: Mapping[Pair, tuple[str, ...]]) -> None:
        self._mat = mat
        self._recall = recall
        self._runner = runner
        self._tools = tools
        self._clusters = {c.name: c for c in clusters}
        self._made: dict[Pair, Input] = {}
        self._overlay_keys: dict[tuple[str, str], str] = {}
        self.outputs: dict[str, bytes] = {}
        self.apis = dict(apis)  # the API versions passed to charts that read them
        self.identities: dict[Pair, str] = {}
        self.known: dict[Pair, Known] = {}
        self._learn([(c.name, p) for c in clusters for p in lists[c.name]])
        self._remembered: dict[str, Known] = {}  # every round's, for the recall

    def _learn(self, pairs: Sequence[Pair]) -> None:
        """Each pair's identity (with its API versions), and its keys: recalled, or made."""
        for pair in pairs:
            identity = self._mat.identity(self._clusters[pair[0]], pair[1], self.apis.get(pair, ()))
            self.identities[pair] = identity
            found = self._recall.get(identity)
            self.known[pair] = found if found is not None else Known.of(self.full(pair))

    def full(self, pair: Pair) -> Input:
        found = self._made.get(pair)
        if found is None:
            found = self._made[pair] = self._mat.input(self._clusters[pair[0]], pair[1],
                                                       self.apis.get(pair, ()))
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
        try:
            self.outputs.update(self._runner.execute(
                [(run_of(group[0], key), [f"{c}/{p}" for c, p in group])
                 for key, group in owners.items() if key not in self.outputs]))
        except ToolError as e:
            raise self._schema_error(e) from None
        return len(owners)

    def _schema_error(self, error: ToolError) -> ToolError:
        """A chart's values.schema.json refusing the values: the layer that wrote each
        offending key, named (see `schemaerrors`)."""
        text = str(error)
        first, _, rest = text.partition("\n")
        pair = tuple(first.split(" ", 1)[0].rstrip(":").split("/", 1))
        if schemaerrors.MARKER not in first or len(pair) != 2 or pair[0] not in self._clusters:
            return error
        cluster, package = self._clusters[pair[0]], pair[1]
        pkg = self._mat.inventory.packages.get(package)
        if pkg is None or pkg.type != "helm":
            return error
        where = schemaerrors.explain(text, self._mat.chart_name(pkg),
                                     self._mat.values_layers(cluster, pkg))
        return ToolError(f"{first} {where}\n{rest}") if where else error

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

    def run(self, pairs: Sequence[Pair] | None = None) -> int:
        """Both stages (charts and kustomize builds, then Components over charts) for
        `pairs` (all); the number of distinct inputs."""
        pairs = list(self.identities) if pairs is None else pairs
        distinct = self._stage(pairs, lambda pair: self.known[pair].run,
                               lambda pair, _key: self.full(pair).run)
        return distinct + self._stage([p for p in pairs if self.known[p].overlay is not None],
                                      self.final, self._overlay_run)

    def again(self, apis: Mapping[Pair, tuple[str, ...]]) -> int:
        """Run `apis`' pairs again with those API versions; the distinct inputs it took."""
        for pair in apis:
            self._remembered[self.identities[pair]] = self.known[pair]
            self._made.pop(pair, None)
        self.apis.update(apis)
        self._learn(list(apis))
        return self.run(list(apis))

    def remember(self) -> None:
        for identity, known in self._remembered.items():
            self._recall.put(identity, known)
        for pair, identity in self.identities.items():
            self._recall.put(identity, self.known[pair])
        self._recall.save()


SETTLE_ROUNDS = 6  # rounds of --api-versions before a render gives up (see _settle)


def _settle(runs: _Runs, finisher: Finisher, clusters: Sequence[Cluster],
            lists: Mapping[str, tuple[str, ...]], declared: Mapping[str, tuple[str, ...]]) -> int:
    """Charts that read `.Capabilities.APIVersions` get what their cluster serves: its
    declared `apiVersions` and the API versions of the CRDs its *other* packages render
    (a chart's own CRDs are not served to it: they are what it installs). Those CRDs may
    come from such charts too, so this runs them again until nothing changes; the
    distinct inputs it took."""
    distinct = 0
    for _ in range(SETTLE_ROUNDS):
        served = {pair: finisher.info(runs.final(pair), "/".join(pair)).apis
                  for pair in runs.identities}
        wanted: dict[Pair, tuple[str, ...]] = {}
        for cluster in clusters:
            for package in lists[cluster.name]:
                pair = (cluster.name, package)
                if pair not in runs.apis:
                    continue
                apis = tuple(sorted({*declared[cluster.name],
                                     *(a for other in lists[cluster.name] if other != package
                                       for a in served[(cluster.name, other)])}))
                if apis != runs.apis[pair]:
                    wanted[pair] = apis
        if not wanted:
            return distinct
        distinct += runs.again(wanted)
    changing = sorted("/".join(pair) for pair in wanted)
    raise RenderError(f"{', '.join(changing[:5])}: the API versions these charts are given "
                      f"(--api-versions) do not settle after {SETTLE_ROUNDS} rounds: a chart "
                      "renders a CRD only while another does not, and the other way round; "
                      "set the CRDs' chart values so that one package renders them always")


_PROBE_CHART = {
    "chart/Chart.yaml": blob(b"apiVersion: v2\nname: api-versions\nversion: 0.0.0\n"),
    "chart/templates/apis.yaml": blob(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: apis}\n"
                                      b"data:\n  apis: {{ .Capabilities.APIVersions | toJson | quote }}\n"),
}


def _builtin(runner: Runner, tools: Toolset, kube_version: str) -> frozenset[str]:
    """The API versions helm serves a chart by itself for a Kubernetes version (its own
    table of built-in APIs): one helm run per version, cached like any run."""
    args = ("template", "api-versions", "./chart", "--kube-version", f"v{kube_version}")
    run = Run("helm", args, _PROBE_CHART, run_key(tools.helm, args, _PROBE_CHART))
    text = runner.execute([(run, [f"the built-in API versions of Kubernetes {kube_version}"])])[run.key]
    doc = yamlio.load(text.split(b"\n", 2)[2] if text.startswith(b"---") else text)
    return frozenset(str(a) for a in json.loads(doc["data"]["apis"]))


def _false_checks(runs: _Runs, mat: Materialiser, inv: Inventory, runner: Runner,
                  tools: Toolset) -> dict[Pair, tuple[str, ...]]:
    """The capability checks (by name) each chart makes that its cluster leaves false."""
    builtin: dict[str, frozenset[str]] = {}
    found: dict[Pair, tuple[str, ...]] = {}
    for pair, apis in runs.apis.items():
        checks = mat.capabilities(inv.packages[pair[1]]).checks
        if not checks:
            continue
        version = inv.classes[inv.clusters[pair[0]].class_name].kubernetes_version
        if version not in builtin:
            builtin[version] = _builtin(runner, tools, version)
        false = tuple(c for c in checks if c not in apis and c not in builtin[version])
        if false:
            found[pair] = false
    return found


def _plan(inv: Inventory, cluster: Cluster, names: tuple[str, ...],
          provides: Mapping[str, frozenset[GroupKind]], uses: Mapping[str, frozenset[GroupKind]],
          cache: Cache, engine: str) -> graph.Plan:
    """`graph.plan`, kept in the cache: a warm render needs no graph library (networkx
    alone takes a quarter of a second to import). Only plans without a cycle are kept."""
    key = digest("plan v2", engine,
                 [(n, inv.packages[n].depends_on, sorted(provides.get(n, ())),
                   sorted(uses.get(n, ()))) for n in names])
    raw = cache.get(key)
    if raw is not None:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            kept = json.loads(raw)
            edges = tuple(graph.Edge(*e) for e in kept["edges"])
            waves = {n: kept["waves"][n] for n in names}
            crd_waves = {n: w for n, w in kept["crdWaves"].items() if n in waves}
            if all(type(w) is int for w in (*waves.values(), *crd_waves.values())) and all(
                    e.dependency in waves and e.dependent in waves and isinstance(e.reason, str)
                    for e in edges) and len(crd_waves) == len(kept["crdWaves"]):
                return graph.Plan(cluster, names, edges, waves, crd_waves)
    found = graph.plan(inv, cluster, names, provides, uses)
    cache.put(key, json.dumps({"edges": [[e.dependency, e.dependent, e.reason] for e in found.edges],
                               "waves": dict(found.waves),
                               "crdWaves": dict(found.crd_waves)}).encode())
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
           jobs: int, workdir: Path, environ: Mapping[str, str],
           progress: Progress | None = None, cache: Cache | None = None) -> FleetRender:
    """Render `clusters` (the tools run in a hermetic environment made from `environ`);
    RenderError/ConfigError/GraphError on the first problem."""
    start = time.monotonic()
    store: Cache = cache if cache is not None else NoCache()
    runner = Runner(tree, tools, workdir=workdir, jobs=jobs, environ=environ, progress=progress,
                    cache=store)
    lists = {c.name: graph.packages_for(inv, c) for c in clusters}
    engine = engine_digest()
    mat = Materialiser(tree, inv, tools)
    readers = {p for names in lists.values() for p in names
               if mat.capabilities(inv.packages[p]).reads}
    declared = {c.name: inv.api_versions(c) for c in clusters}
    runs = _Runs(mat, Recall(store, tools, engine), runner, tools, clusters, lists,
                 {(c.name, p): declared[c.name] for c in clusters for p in lists[c.name]
                  if p in readers})
    distinct = runs.run()
    finisher = Finisher(runs.outputs, store, engine)
    false_checks: dict[Pair, tuple[str, ...]] = {}
    if readers:
        distinct += _settle(runs, finisher, clusters, lists, declared)
        false_checks = _false_checks(runs, mat, inv, runner, tools)
    final_key = {pair: runs.final(pair) for pair in runs.identities}

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
                crd_wave=plan.crd_waves.get(name), scopes=relevant, origin=origins[(cluster.name, name)],
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
    return FleetRender(tuple(results), stats, false_checks, dict(runs.apis))
