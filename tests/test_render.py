"""`hydrate render`: dedup of tool runs, selection, pruning, and all-or-nothing output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import tools
from tests.conftest import hydrate


def _counting_wrappers(tmp_path: Path, toolset: tools.Toolset) -> tuple[dict[str, str], Path]:
    """HYDRATE_HELM / HYDRATE_KUSTOMIZE wrappers that log every real invocation."""
    log = tmp_path / "runs.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {}
    for var, name, real in (("HYDRATE_HELM", "helm", toolset.helm.argv[0]),
                            ("HYDRATE_KUSTOMIZE", "kubectl", toolset.kustomize.argv[0])):
        wrapper = bindir / name
        wrapper.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
        env[var] = str(wrapper)
    assert toolset.kustomize.argv[1] == "kustomize", "these tests drive kustomize through kubectl"
    return env, log


def _runs(log: Path) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if " version" not in line]


def _summary_runs(out: str) -> int:
    line = next(line for line in out.splitlines() if "tool runs" in line)
    return int(line.split("→")[1].split()[0])


def test_each_distinct_input_runs_once(example: Path, tmp_path: Path, toolset: tools.Toolset) -> None:
    env, log = _counting_wrappers(tmp_path, toolset)
    result = hydrate("--repo", example, "render", env=env)
    assert result.code == 0, result.err
    runs = _runs(log)
    pairs = int(result.out.split("(")[2].split()[0])
    assert len(runs) == _summary_runs(result.out)
    assert len(runs) < pairs  # shared inputs really share a run
    assert len(runs) == len(set(runs)) or any("kustomize ." in r for r in runs)


def test_a_clone_cluster_only_adds_runs_for_inputs_that_name_it(
        example: Path, tmp_path: Path, toolset: tools.Toolset) -> None:
    env, log = _counting_wrappers(tmp_path, toolset)
    assert hydrate("--repo", example, "render", "--cluster", "store-0002", env=env).code == 0
    before = len(_runs(log))
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
    assert len(_runs(log)) - before == expected


def test_partial_render_keeps_other_clusters_and_full_render_prunes(example: Path) -> None:
    out = example / "rendered"
    assert hydrate("--repo", example, "render", "--env", "dev").code == 0
    assert sorted(p.name for p in (out / "dev").iterdir()) == [
        "dc-lab-1", "edge-lab", "office-lab", "store-lab"]
    before = (out / "dev/edge-lab/kustomization.yaml").stat().st_mtime_ns
    assert hydrate("--repo", example, "render", "--cluster", "store-lab").code == 0
    assert (out / "dev/edge-lab/kustomization.yaml").stat().st_mtime_ns == before
    (example / "fleet/clusters/office-lab.yaml").unlink()
    result = hydrate("--repo", example, "render", "--env", "dev")
    assert result.code == 0, result.err
    assert not (out / "dev/office-lab").exists()
    assert (out / "dev/edge-lab").is_dir()


def test_a_failed_render_leaves_the_old_output_untouched(example: Path) -> None:
    out = example / "rendered"
    assert hydrate("--repo", example, "render", "--env", "dev").code == 0
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    values = example / "overlays/clusters/store-lab/pos-app/values.yaml"
    values.parent.mkdir(parents=True)
    values.write_text("storeId: null\n")  # the chart requires it
    (example / "overlays/classes/datacenter/ingress/values.yaml.j2").write_text("replicaCount: 9\n")
    result = hydrate("--repo", example, "render", "--env", "dev")
    assert result.code == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot
    assert [p.name for p in out.iterdir() if p.name.startswith(".") and p.is_dir()] == []


def test_refuses_to_write_into_a_foreign_directory(example: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    result = hydrate("--repo", example, "render", "--cluster", "edge-lab", "--out", foreign)
    assert result.code == 1
    assert "was not written by hydrate render" in result.err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_summary_reports_the_work(example: Path) -> None:
    result = hydrate("--repo", example, "render", "--env", "staging", cold=True)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "rendered 3 clusters (staging) into rendered/: 3 written"
    assert any(line.split()[:2] == ["packages", "11"] or line.startswith("  packages")
               for line in lines)
    assert any(line.startswith("  objects ") for line in lines)
    assert "distinct" in result.out
    assert "tool runs (helm" in result.out
    assert result.err == ""  # progress only on a terminal


@pytest.mark.parametrize("jobs", ["1", "3"])
def test_jobs_do_not_change_the_output(example: Path, tmp_path: Path, jobs: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert hydrate("--repo", example, "render", "--env", "staging", "--out", a, "--jobs", jobs).code == 0
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
    first = hydrate("--repo", example, "render", env=cache)
    assert "18 written" in first.out.splitlines()[0]
    stamp = (example / "rendered/prod/store-0002/kustomization.yaml").stat().st_mtime_ns
    values = example / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    values.write_text(values.read_text() + "bridge:\n  logLevel: debug\n")
    second = hydrate("--repo", example, "render", env=cache)
    assert second.out.splitlines()[0].endswith(": 1 written, 17 unchanged")
    assert "1 tool runs (helm 1)" in second.out  # the rest came from the cache
    assert (example / "rendered/prod/store-0002/kustomization.yaml").stat().st_mtime_ns == stamp
    manifest = json.loads((example / "rendered/.hydrate-render").read_text())
    assert manifest["source"] == {"tree": "working tree", "commit": None}
    assert len(manifest["clusters"]) == 18
    fresh = tmp_path / "fresh"
    assert hydrate("--repo", example, "--no-cache", "render", "--out", fresh).code == 0
    assert {p.relative_to(fresh): p.read_bytes() for p in fresh.rglob("*.yaml")} == {
        p.relative_to(example / "rendered"): p.read_bytes()
        for p in (example / "rendered").rglob("*.yaml")}
