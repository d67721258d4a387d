"""`hydrate render`: dedup of tool runs, selection, pruning, and all-or-nothing output."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from pipeline.render import tools
from tests.charts import crd_cycle, small_fleet
from tests.conftest import hydrate, replace_in


class ToolRun(NamedTuple):
    """One real invocation: the tool, its arguments and a digest of the files in its
    working directory. Two runs with the same identity did the same work twice."""

    tool: str
    args: str
    inputs: str


def _counting_wrappers(tmp_path: Path, toolset: tools.Toolset) -> tuple[dict[str, str], Path]:
    """HYDRATE_HELM / HYDRATE_KUSTOMIZE wrappers that log every real invocation (not the
    version queries) with its identity: `tool args @ sha256 of its working directory's
    files, names and contents` (a run reads only what hydrate copied there)."""
    log = tmp_path / "runs.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {}
    for var, name, real in (("HYDRATE_HELM", "helm", toolset.helm.argv[0]),
                            ("HYDRATE_KUSTOMIZE", "kubectl", toolset.kustomize.argv[0])):
        wrapper = bindir / name
        wrapper.write_text(
            "#!/bin/sh\n"
            f'case "$1" in version) exec "{real}" "$@";; esac\n'
            "inputs=$(find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum "
            "| sha256sum)\n"
            f'echo "{name} $* @ ${{inputs%% *}}" >> "{log}"\n'
            f'exec "{real}" "$@"\n')
        wrapper.chmod(0o755)
        env[var] = str(wrapper)
    assert toolset.kustomize.argv[1] == "kustomize", "these tests drive kustomize through kubectl"
    return env, log


def _runs(log: Path) -> list[ToolRun]:
    runs = []
    for line in (log.read_text().splitlines() if log.exists() else []):
        command, _, inputs = line.rpartition(" @ ")
        tool, _, args = command.partition(" ")
        assert re.fullmatch("[0-9a-f]{64}", inputs), line
        runs.append(ToolRun(tool, args, inputs))
    return runs


class Summary(NamedTuple):
    """The numbers of `hydrate render`'s summary."""

    packages: int
    pairs: int
    objects: int
    distinct: int
    runs: int
    per_tool: dict[str, int]
    processes: dict[str, int]
    cache_hits: int
    checked: int = 0  # distinct objects validation checked
    checks_cached: int = 0  # distinct outputs whose findings came from the cache
    outputs: int = 0  # distinct outputs validated


_SUMMARY = re.compile(
    r"  packages  (?P<packages>\d+) \((?P<pairs>\d+) cluster×package renders\)\n"
    r"  objects   (?P<objects>[\d,]+)\n"
    r"  inputs    (?P<distinct>\d+) distinct → (?P<runs>\d+) tool runs? \((?P<per_tool>[^)]*)\)"
    r"(?:, (?P<hits>\d+) from the cache)?\n"
    r"  checks    (?P<errors>\d+) errors?, (?P<warnings>\d+) warnings? \((?P<checked>[\d,]+) distinct "
    r"objects? in \d+\.\d\ds(?:, (?P<checks_cached>\d+) of (?P<outputs>\d+) outputs from the "
    r"cache)?\)\n"
    r"  time      \d+\.\d\ds\n")


def _summary(out: str) -> Summary:
    """The summary's numbers; its lines after the first must be exactly these."""
    rest = out.partition("\n")[2]
    found = _SUMMARY.fullmatch(rest)
    assert found is not None, out
    items = [] if found["per_tool"] == "none" else [item.split() for item in found["per_tool"].split(", ")]
    per_tool = {tool: int(n) for tool, n, *_ in items}
    # `kustomize 37 in 27 processes`: batched builds (pipeline.render.batching)
    processes = {tool: int(rest[1]) if rest else int(n) for tool, n, *rest in items}
    return Summary(int(found["packages"]), int(found["pairs"]),
                   int(found["objects"].replace(",", "")), int(found["distinct"]),
                   int(found["runs"]), per_tool, processes, int(found["hits"] or 0),
                   int(found["checked"].replace(",", "")), int(found["checks_cached"] or 0),
                   int(found["outputs"] or 0))


def _identity(directory: Path) -> dict[str, tuple[int, str]]:
    """Inode and content digest of every file and directory below `directory` (and of
    itself): a rewrite, even with the same bytes, gives new inodes (writes go through a
    staging directory and renames), whatever the clock's resolution."""
    found = {".": (directory.stat().st_ino, "")}
    for path in sorted(directory.rglob("*")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(directory))] = (path.stat().st_ino, digest)
    return found


def test_each_distinct_input_runs_once(example: Path, tmp_path: Path, toolset: tools.Toolset) -> None:
    env, log = _counting_wrappers(tmp_path, toolset)
    # One input per process, so that each process's working directory is one input's.
    result = hydrate("--repo", example, "render", env={**env, "HYDRATE_KUSTOMIZE_BATCH": "off"},
                     cold=True)
    assert result.code == 0, result.err
    runs = _runs(log)
    summary = _summary(result.out)
    assert summary.runs == len(runs)
    assert summary.per_tool == {"helm": sum(r.tool == "helm" for r in runs),
                                "kustomize": sum(r.tool == "kubectl" for r in runs)}
    assert [run for run, n in Counter(runs).items() if n > 1] == []  # no input ran twice
    assert summary.distinct <= len(runs) < summary.pairs  # shared inputs really share a run


def test_a_clone_cluster_only_adds_runs_for_inputs_that_name_it(
        example: Path, tmp_path: Path, toolset: tools.Toolset) -> None:
    env, log = _counting_wrappers(tmp_path, toolset)
    env["HYDRATE_CACHE_DIR"] = str(tmp_path / "cache")  # its own: what ran before is known
    assert hydrate("--repo", example, "render", "--cluster", "store-0002", env=env).code == 0
    before = set(_runs(log))
    clone = (example / "fleet/clusters/store-0002.yaml").read_text()
    (example / "fleet/clusters/store-0102.yaml").write_text(
        clone.replace("name: store-0002", "name: store-0102").replace("site: store-0002",
                                                                      "site: store-0102"))
    log.unlink()
    result = hydrate("--repo", example, "render", "--cluster", "store-0002", "--cluster",
                     "store-0102", env=env)
    assert result.code == 0, result.err
    # Which of the clone's packages see its name or site? Only those may render again.
    expected = 0
    for package in ("namespaces", "rbac-baseline", "cert-manager", "ingress", "monitoring-agent",
                    "log-shipper", "pos-app"):
        layer = example / "overlays/classes/pop" / package
        texts = [p.read_text() for p in layer.glob("*.j2")] if layer.is_dir() else []
        if any("cluster.name" in t or "cluster.site" in t for t in texts):
            components = (layer / "kustomization.yaml").exists()
            helm = "type: helm" in (example / "bases" / package / "package.yaml").read_text()
            expected += 2 if helm and components else 1
    assert expected == 5  # ingress, monitoring-agent, log-shipper, pos-app (+ its Components)
    again = _runs(log)
    assert len(again) == expected
    assert before.isdisjoint(again)  # none of store-0002's runs was repeated


def test_partial_render_keeps_other_clusters_and_full_render_prunes(example: Path) -> None:
    out = example / "rendered"
    assert hydrate("--repo", example, "render", "--env", "dev").code == 0
    assert sorted(p.name for p in (out / "dev").iterdir()) == [
        "dc-lab-1", "edge-lab", "office-lab", "store-lab"]
    before = _identity(out / "dev/edge-lab")
    partial = hydrate("--repo", example, "render", "--cluster", "store-lab")
    assert partial.code == 0, partial.err
    assert partial.out.splitlines()[0] == (
        "rendered 1 cluster (dev) into rendered/: 0 written, 1 unchanged")
    assert _identity(out / "dev/edge-lab") == before
    (example / "fleet/clusters/office-lab.yaml").unlink()
    result = hydrate("--repo", example, "render", "--env", "dev")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        "rendered 3 clusters (dev) into rendered/: 0 written, 3 unchanged, 1 removed")
    assert sorted(p.name for p in (out / "dev").iterdir()) == ["dc-lab-1", "edge-lab", "store-lab"]
    assert _identity(out / "dev/edge-lab") == before


def _files(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_a_failed_render_leaves_the_old_output_untouched(example: Path) -> None:
    out = example / "rendered"
    assert hydrate("--repo", example, "render", "--env", "dev").code == 0
    snapshot = _files(out)
    values = example / "overlays/clusters/store-lab/pos-app/values.yaml"
    values.parent.mkdir(parents=True)
    values.write_text("storeId: null\n")  # the chart requires it
    # A valid change to another cluster, which must not be written either.
    replace_in(example / "overlays/classes/datacenter/ingress/values.yaml.j2",
               "replicaCount: {{ vars.ingressReplicas }}", "replicaCount: 9")
    result = hydrate("--repo", example, "render", "--env", "dev")
    assert result.code == 1
    assert result.out == ""
    assert result.err.splitlines()[0] == (
        "hydrate: error: store-lab/pos-app: helm failed (exit 1): execution error at "
        "(bases/pos-app/chart/templates/service.yaml:7:8): storeId is required (the store "
        'number, e.g. "0042")')
    assert _files(out) == snapshot
    assert [p.name for p in out.iterdir() if p.name.startswith(".") and p.is_dir()] == []
    # Without the failure, dc-lab-1 is written: the render above really had it to write.
    values.unlink()
    values.parent.rmdir()
    fixed = hydrate("--repo", example, "render", "--env", "dev")
    assert fixed.code == 0, fixed.err
    assert fixed.out.splitlines()[0] == (
        "rendered 4 clusters (dev) into rendered/: 1 written, 3 unchanged")
    deployment = out / "dev/dc-lab-1/ingress/deployment.apps_ingress_ingress-nginx.yaml"
    assert "  replicas: 9\n" in deployment.read_text()
    assert deployment.read_bytes() != snapshot[deployment]


def test_refuses_to_write_into_a_foreign_directory(example: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = hydrate("--repo", example, "render", "--cluster", "edge-lab", "--out", foreign)
    assert result.code == 1
    assert result.err == (f"hydrate: error: --out {foreign}: holds files (notes.txt) and was not "
                          "written by hydrate (no .hydrate-render); choose a new or empty directory "
                          "(hydrate replaces only what it wrote)\n")
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_summary_reports_the_work(example: Path, tmp_path: Path, toolset: tools.Toolset) -> None:
    env, log = _counting_wrappers(tmp_path, toolset)
    result = hydrate("--repo", example, "render", "--env", "staging", env=env, cold=True)
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == "rendered 3 clusters (staging) into rendered/: 3 written"
    summary = _summary(result.out)
    out = example / "rendered/staging"
    package_dirs = [p for p in out.glob("*/*") if p.is_dir()]
    assert summary.packages == len({p.name for p in package_dirs}) == 12
    assert summary.pairs == len(package_dirs)
    assert summary.objects == sum(1 for p in out.glob("*/*/*.yaml")
                                  if p.name != "kustomization.yaml")
    runs = _runs(log)
    # Kustomize inputs are built several to a process: the processes are what ran.
    assert summary.processes == {"helm": sum(r.tool == "helm" for r in runs),
                                 "kustomize": sum(r.tool == "kubectl" for r in runs)}
    assert summary.processes["kustomize"] < summary.per_tool["kustomize"]
    assert summary.runs == sum(summary.per_tool.values()) >= summary.distinct
    assert summary.cache_hits == 0  # a cold cache: nothing came from it
    assert summary.distinct < summary.pairs
    assert result.err == ""  # progress only on a terminal


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_jobs_do_not_change_the_output(example: Path, tmp_path: Path, jobs: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    # A cold cache: the tools really run, `jobs` at a time (a warm one would run none).
    assert hydrate("--repo", example, "render", "--env", "staging", "--out", a, "--jobs", jobs,
                   cold=True).code == 0
    assert hydrate("--repo", example, "render", "--env", "staging", "--out", b, "--jobs", "2").code == 0
    files_a = {p.relative_to(a): p.read_bytes() for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b): p.read_bytes() for p in b.rglob("*") if p.is_file()}
    manifests = [json.loads(files.pop(Path(".hydrate-render"))) for files in (files_a, files_b)]
    assert files_a == files_b
    # The manifest is the same but for each cluster's fingerprint of its files on disk
    # (inodes, times), which only says whether the files are still as written.
    for manifest in manifests:
        assert len(manifest["clusters"]) == 3
        for entry in manifest["clusters"].values():
            assert len(entry.pop("stamp")) == 64
    assert manifests[0] == manifests[1]


def test_unchanged_clusters_are_not_rewritten(example: Path, tmp_path: Path) -> None:
    cache = {"HYDRATE_CACHE_DIR": str(tmp_path / "cache")}
    rendered = example / "rendered"
    first = hydrate("--repo", example, "render", env=cache)
    assert first.out.splitlines()[0] == (
        "rendered 18 clusters (dev, staging, prod) into rendered/: 18 written")
    clusters = sorted(rendered.glob("*/*"))
    assert len(clusters) == 18
    before = {c: _identity(c) for c in clusters}
    values = example / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    values.write_text(values.read_text() + "bridge:\n  logLevel: debug\n")
    second = hydrate("--repo", example, "render", env=cache)
    assert second.out.splitlines()[0] == (
        "rendered 18 clusters (dev, staging, prod) into rendered/: 1 written, 17 unchanged")
    summary = _summary(second.out)
    assert (summary.runs, summary.per_tool) == (1, {"helm": 1})
    assert summary.cache_hits == summary.distinct - 1  # the rest came from the cache
    # Validation too: only the changed output is checked again, the rest's findings are cached.
    assert summary.checks_cached == summary.outputs - 1 > 0
    changed = rendered / "prod/edge-hamburg-port"
    assert {c: _identity(c) for c in clusters if c != changed} == {
        c: ids for c, ids in before.items() if c != changed}
    assert _identity(changed)["."] != before[changed]["."]  # swapped in whole
    manifest = json.loads((rendered / ".hydrate-render").read_text())
    assert manifest["source"] == {"tree": "working tree", "commit": None}
    assert len(manifest["clusters"]) == 18
    fresh = tmp_path / "fresh"
    assert hydrate("--repo", example, "--no-cache", "render", "--out", fresh).code == 0
    assert {p.relative_to(fresh): p.read_bytes() for p in fresh.rglob("*.yaml")} == {
        p.relative_to(rendered): p.read_bytes() for p in rendered.rglob("*.yaml")}


def test_a_cycle_through_crds_alone_renders_with_the_crds_first(tmp_path: Path) -> None:
    root = small_fleet(tmp_path / "config", ("certs", "mon"))
    crd_cycle(root)
    out = tmp_path / "out"
    result = hydrate("--repo", root, "render", "--out", out)
    assert result.code == 0, result.err
    cluster = out / "dev/dev-1"

    def wave(rel: str) -> str:
        doc = yaml.safe_load((cluster / rel).read_text())
        return str(doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])

    crds = {name: wave(f"{name}/customresourcedefinition.apiextensions.k8s.io_"
                       f"{plural}.yaml") for name, plural in
            (("certs", "certs.certs.example.com"), ("mon", "monitors.mon.example.com"))}
    users = {name: wave(f"{name}/{kind}.{group}_hello_from-{name}.yaml") for name, kind, group in
             (("certs", "monitor", "mon.example.com"), ("mon", "cert", "certs.example.com"))}
    # One package's CRDs moved to wave 0; every CRD comes before every object of its kind.
    assert sorted(crds.values()) == ["0", "1"]
    assert int(crds["certs"]) < int(users["mon"])
    assert int(crds["mon"]) < int(users["certs"])
    graph = hydrate("--repo", root, "graph", "--cluster", "dev-1", "--format", "json")
    assert graph.code == 0, graph.err
    # A true cycle is still refused, naming it.
    replace_in(root / "bases/certs/package.yaml", "dependsOn: [namespaces]", "dependsOn: [mon]")
    replace_in(root / "bases/mon/package.yaml", "dependsOn: [namespaces]", "dependsOn: [certs]")
    result = hydrate("--repo", root, "render", "--out", out)
    assert result.code == 1
    assert "cluster dev-1: dependency cycle" in result.err
    assert "certs needs mon: dependsOn" in result.err
    assert "mon needs certs: dependsOn" in result.err


HOOK_JOB = """apiVersion: batch/v1
kind: Job
metadata:
  generateName: {{ .Release.Name }}-migrate-
  annotations:
    helm.sh/hook: pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: ghcr.io/example-retail/pos-app:1.0.0
        resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 16Mi}}
        securityContext: {allowPrivilegeEscalation: false, runAsNonRoot: true}
"""


def test_a_helm_hook_with_generate_name_is_rendered_under_a_stable_name(
        example: Path, tmp_path: Path, toolset: tools.Toolset) -> None:
    (example / "bases/pos-app/chart/templates/migrate.yaml").write_text(HOOK_JOB)
    outs = []
    for n in (1, 2):
        result = hydrate("--repo", example, "render", "--cluster", "store-0001", "--out",
                         tmp_path / f"out-{n}", cold=n == 2)
        assert result.code == 0, result.err
        outs.append(tmp_path / f"out-{n}/prod/store-0001")
    (job_file,) = (outs[0] / "pos-app").glob("job.batch_pos_pos-app-migrate-*.yaml")
    assert (outs[1] / "pos-app" / job_file.name).read_bytes() == job_file.read_bytes()
    # What Argo CD and Flux do with the path: the hook is there, with its name.
    built = subprocess.run([*toolset.kustomize.argv, str(outs[0])], capture_output=True, text=True,
                           check=True).stdout
    jobs = [d for d in yaml.safe_load_all(built) if d["kind"] == "Job"]
    assert [j["metadata"]["name"] for j in jobs] == [job_file.name.split("_")[-1].removesuffix(".yaml")]
    assert jobs[0]["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
