"""Runs distinct tool invocations in parallel, each in its own throw-away workspace.

A workspace holds copies of files from the configuration folders only (fleet/, bases/,
overlays/), never links, so a tool run sees nothing else of the checkout. Helm runs of
one chart share a folder holding it (written once), each with its values under its own
name beside the chart: a thousand stores' inputs differ only in their values. A kustomize
run with probes (see `pipeline.render.probes`) must show that each targeted patch matched.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from pipeline.config.schema import parse
from pipeline.config.source import Tree, readable
from pipeline.errors import ConfigError, RenderError, ToolError
from pipeline.render import batching, determinism, probes, tools
from pipeline.render.cache import Cache, NoCache
from pipeline.render.materialise import CHART, File, Files, Run, digest, files_digest
from pipeline.render.probes import Probe

Progress = Callable[[str, int, int], None]


class Runner:
    """Executes Runs (helm/kustomize) with at most `jobs` at a time; counts them."""

    def __init__(self, tree: Tree, toolset: tools.Toolset, *, workdir: Path, jobs: int,
                 environ: Mapping[str, str], progress: Progress | None = None,
                 cache: Cache | None = None) -> None:
        self._tree = tree
        self._tools = toolset
        self._workdir = workdir
        self._jobs = max(1, jobs)
        self._progress = progress
        self._home = workdir / "home"
        self._home.mkdir(parents=True, exist_ok=True)
        self._env = tools.hermetic_env(self._home, environ)
        self._cache: Cache = cache if cache is not None else NoCache()
        batch = environ.get("HYDRATE_KUSTOMIZE_BATCH", "on")
        if batch not in ("on", "off"):
            raise ToolError(f"HYDRATE_KUSTOMIZE_BATCH={batch!r}: give on (several kustomize "
                            "inputs to a process, the default) or off (one to a process)")
        self._batch = batch == "on"
        self._charts: dict[str, Path] = {}  # chart folders shared by helm runs, by content
        # chart folder → the functions its templates call that vary between renders, and
        # the folder the second render runs in (`now` moved on, where it is called)
        self._twins: dict[Path, tuple[tuple[str, ...], Path]] = {}
        self.variance: dict[str, bytes] = {}  # run key → what differs between two renders
        self.runs: Counter[str] = Counter()  # inputs built (and probe re-runs), per tool
        self.processes: Counter[str] = Counter()  # tool processes started, per tool
        self.hits = 0

    def _contents(self, files: Mapping[str, File], where: str) -> dict[str, bytes]:
        # Reads happen here, on the calling thread: a git object database is not shared
        # across threads.
        contents: dict[str, bytes] = {}
        for path, f in files.items():
            if f.data is None:
                source = f.source or path
                if not readable(source):
                    raise ConfigError(f"{where}: {source}: outside the configuration folders "
                                      "(fleet/, bases/, overlays/), which are all a render may "
                                      "read; move it into the package")
            contents[path] = f.data if f.data is not None else self._tree.read(f.source or path)
        return contents

    def _chart_folder(self, run: Run, where: str) -> tuple[Path | None, Files]:
        """For a helm run: a folder holding its chart, written once per distinct chart
        (most helm inputs of a fleet differ only in their values), and the run's other
        files. (None, all files) when they do not all sit at the top."""
        chart = {p: f for p, f in run.files.items() if p.startswith(CHART)}
        rest = {p: f for p, f in run.files.items() if not p.startswith(CHART)}
        if run.tool != "helm" or any("/" in p for p in rest):
            return None, run.files
        key = digest(files_digest(chart))
        found = self._charts.get(key)
        if found is None:
            contents = self._contents(chart, where)
            found = self._charts[key] = _workspace(self._workdir, "chart-", contents)
            calls = determinism.calls(contents)
            if calls:  # rendered twice; a chart calling `now` in a folder of its own
                twin = _workspace(self._workdir, "chart-later-", determinism.later(contents)) \
                    if "now" in calls else found
                self._twins[found] = (calls, twin)
        return found, rest

    def _run_one(self, run: Run, contents: dict[str, bytes], where: str,
                 folder: Path | None = None) -> tuple[bytes, int]:
        """The run's output (without probe markers), and how many tool runs it took.
        `folder`: a chart folder shared with other runs; `contents` (top-level files)
        are written there under names of their own, and the arguments follow."""
        tool = self._tools.helm if run.tool == "helm" else self._tools.kustomize
        argv = [*tool.argv, *run.args]
        if folder is not None:
            own = {name: f".{run.key[:20]}-{name}" for name in contents}
            argv = [*tool.argv, *(own.get(arg, arg) for arg in run.args)]
            try:
                for name, data in contents.items():
                    (folder / own[name]).write_bytes(data)
                return tools.run(argv, cwd=folder, env=self._env, what=where, places=run.places), 1
            finally:
                for name in own.values():
                    (folder / name).unlink(missing_ok=True)
        workspace = _workspace(self._workdir, "run-", contents)
        try:
            output = tools.run(argv, cwd=workspace, env=self._env, what=where, places=run.places)
            if not run.probes:
                return output, 1
            output, seen = probes.strip(output)
            missing = [probe for probe in run.probes if probe.id not in seen]
            for probe in missing:
                if not self._matched(argv, workspace, contents[probe.file], probe, run, where):
                    source = run.files[probe.file].source or tools.rename(
                        probe.file, workspace, run.places)
                    raise RenderError(
                        f"{source}: {probe.key}: target {probe.target} matches no object "
                        f"(rendering {where}), so the patch would silently do nothing; "
                        "fix the target, or remove the patch")
            return output, 1 + len(missing)
        finally:
            shutil.rmtree(workspace, ignore_errors=True)

    def _run_batch(self, items: Sequence[tuple[Run, dict[str, bytes], str]]) -> list[Built]:
        """Several kustomize inputs in one process (see `pipeline.render.batching`); on
        any failure, or a probe whose marker is missing, input by input as always."""
        workspace = _workspace(self._workdir, "batch-", batching.workspace([c for _, c, _ in items]))
        try:
            try:
                output = tools.run([*self._tools.kustomize.argv, "."], cwd=workspace, env=self._env,
                                   what=f"{len(items)} kustomize inputs in one build")
                parts = batching.split(output, len(items))
            except ToolError:
                parts = None
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        if parts is None:  # the failed batch is the first input's extra process
            again = [(run, *self._run_one(run, contents, where)) for run, contents, where in items]
            return [Built(run, output, count, count + (n == 0))
                    for n, (run, output, count) in enumerate(again)]
        built = []
        for n, ((run, contents, where), part) in enumerate(zip(items, parts, strict=True)):
            stripped, seen = probes.strip(part) if run.probes else (part, set())
            if any(probe.id not in seen for probe in run.probes):
                output, count = self._run_one(run, contents, where)
                built.append(Built(run, output, count, processes=count + (n == 0)))
            else:
                built.append(Built(run, stripped, 1, processes=int(n == 0)))
        return built

    def _single(self, run: Run, contents: dict[str, bytes], where: str,
                folder: Path | None = None) -> list[Built]:
        output, count = self._run_one(run, contents, where, folder)
        if run.tool != "helm":
            return [Built(run, output, count, count)]
        # A chart calling a function whose result varies is rendered twice (see determinism).
        if folder is not None:
            calls, twin = self._twins.get(folder, ((), folder))
            again = (lambda: self._run_one(run, contents, where, twin)) if calls else None
        else:
            calls = determinism.calls(contents)
            again = (lambda: self._run_one(run, determinism.later(contents), where)) if calls else None
        if again is None:
            return [Built(run, output, count, count)]
        try:
            second, more = again()
        except ToolError:  # `now` moved on broke the chart: compare two plain renders
            second, more = self._run_one(run, contents, where, folder)
        varies = determinism.variance(output, second, where, calls) if second != output else None
        return [Built(run, output, count + more, count + more, varies)]

    def _matched(self, argv: list[str], workspace: Path, text: bytes, probe: Probe, run: Run,
                 where: str) -> bool:
        """Whether a probe whose marker is missing matched objects that a later patch
        deleted: one more run, with the probe made to fail on any object it meets."""
        path = workspace / probe.file
        path.write_bytes(probes.failing(text, probe.id))
        try:
            tools.run(argv, cwd=workspace, env=self._env, what=where, places=run.places)
        except ToolError as e:
            if probes.matched_in(str(e), probe.id):
                return True
            raise
        finally:
            path.write_bytes(text)
        return False

    def _explained(self, error: ToolError, run: Run) -> ToolError:
        """Helm's "missing in charts/ directory" error, with the cause when it is a git
        ignore rule (upstream charts ship `.gitignore` with `charts/*`): a commit does not
        hold the vendored subchart, and hydrate renders what a commit holds. Reads the
        tree: call it on the thread that owns it."""
        found = _MISSING.search(str(error))
        chart = run.places.get("chart")
        if run.tool != "helm" or found is None or chart is None:
            return error
        versions = _dependency_versions(self._tree, chart)
        for name in (n.strip() for n in found.group(1).split(",")):
            for candidate in (f"{chart}/charts/{name}/Chart.yaml",
                              f"{chart}/charts/{name}-{versions.get(name, '')}.tgz"):
                rule = self._tree.ignored_by(candidate)
                if rule is not None:
                    first, _, rest = str(error).partition("\n")
                    return ToolError(
                        f"{first}; {chart}/charts/{name} is ignored by git ({rule}), so a commit "
                        "does not hold it, and hydrate renders what a commit holds (the working "
                        f"tree too): commit the vendored subcharts (git add -f {chart}/charts) or "
                        f"delete that line\n{rest}")
        return error

    def cached(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The outputs the cache already has of `keys` (counted as hits)."""
        found: dict[str, bytes] = {}
        for key in keys:
            data = self._cache.get(key)
            if data is not None:
                found[key] = data
        self.hits += len(found)
        return found

    def execute(self, batch: Sequence[tuple[Run, Sequence[str]]]) -> dict[str, bytes]:
        """Output of each Run by key; the first failure cancels the rest and is raised,
        naming one (cluster/package) that needed it and how many others did."""
        results: dict[str, bytes] = {}
        todo = []
        for run, owners in batch:
            cached = self._cache.get(run.key)
            if cached is None:
                todo.append((run, owners))
            else:
                results[run.key] = cached
                self.hits += 1
        if not todo:
            return results
        total = len(batch)
        kustomize = [(run, owners) for run, owners in todo if run.tool == "kustomize" and self._batch]
        groups = [*batching.plan(kustomize, [_package(owners) for _, owners in kustomize], self._jobs),
                  *([item] for item in todo if item[0].tool != "kustomize" or not self._batch)]
        with ThreadPoolExecutor(max_workers=self._jobs, thread_name_prefix="hydrate-run") as pool:
            futures: list[Future[list[Built]]] = []
            singles: dict[Future[list[Built]], Run] = {}
            for group in groups:
                if len(group) == 1:
                    run, owners = group[0]
                    folder, files = self._chart_folder(run, _where(owners))
                    futures.append(pool.submit(self._single, run, self._contents(files, _where(owners)),
                                               _where(owners), folder))
                    singles[futures[-1]] = run
                    continue
                items = [(run, self._contents(run.files, _where(owners)), _where(owners))
                         for run, owners in group]
                futures.append(pool.submit(self._run_batch, items))
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in done:
                    error = fut.exception()
                    if error is not None:
                        for other in pending:
                            other.cancel()
                        if isinstance(error, ToolError) and fut in singles:
                            raise self._explained(error, singles[fut])
                        raise error
                    for built in fut.result():
                        results[built.run.key] = built.output
                        if built.variance is not None:  # before the output: never one without it
                            self.variance[built.run.key] = built.variance
                            self._cache.put(determinism.cache_key(built.run.key), built.variance)
                        self._cache.put(built.run.key, built.output)
                        self.runs[built.run.tool] += built.count
                        self.processes[built.run.tool] += built.processes
                if self._progress:
                    self._progress("tool runs", len(results), total)
        return results


@dataclass(frozen=True)
class Built:
    """A run's output, the tool runs it took (1, or more with probe re-runs) and the
    processes it started (0 for all but one input of a batch)."""

    run: Run
    output: bytes
    count: int
    processes: int
    variance: bytes | None = None  # what differed between two renders (determinism)


_MISSING = re.compile(r"missing in charts/ directory: ([^\n]+)")


def _dependency_versions(tree: Tree, chart: str) -> dict[str, str]:
    """The `dependencies` of the chart's Chart.yaml: name (or alias) → version."""
    try:
        meta = parse(f"{chart}/Chart.yaml", tree.read(f"{chart}/Chart.yaml"))
    except ConfigError:
        return {}
    deps = meta.get("dependencies") if isinstance(meta, dict) else None
    return {str(d.get("alias") or d.get("name")): str(d.get("version", ""))
            for d in deps or () if isinstance(d, dict)}


def _workspace(workdir: Path, prefix: str, contents: Mapping[str, bytes]) -> Path:
    """A new folder in `workdir` holding `contents` (relative path → bytes)."""
    workspace = Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))
    try:
        for path, data in contents.items():
            target = workspace / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    except BaseException:
        shutil.rmtree(workspace, ignore_errors=True)
        raise
    return workspace


def _where(owners: Sequence[str]) -> str:
    """The cluster/package that needs a run, for messages."""
    return owners[0] + (f" (and {len(owners) - 1} more with the same input)" if len(owners) > 1 else "")


def _package(owners: Sequence[str]) -> str:
    """The package of a run (its owners are `cluster/package`)."""
    return owners[0].rpartition("/")[2]
