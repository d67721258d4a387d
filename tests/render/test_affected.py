"""The affected set equals what a full re-render changes, over a series of real edits."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pygit2
import pytest

from pipeline.config import inventory as inventory_mod
from pipeline.config.source import GitTree, tree_at
from pipeline.render import affected, engine, tools
from pipeline.render.cache import DiskCache
from pipeline.sinks import output
from tests.conftest import Edit, appending, commit_all, hydrate, replacing, writing

Pairs = set[tuple[str, str, str]]  # (cluster, package, change)


def _render(tree: GitTree, toolset: tools.Toolset, cache: DiskCache,
            workdir: Path) -> dict[tuple[str, str], dict[str, bytes]]:
    inv = inventory_mod.load(tree)
    fleet = engine.render(tree, inv, list(inv.clusters.values()), toolset, jobs=2,
                          workdir=workdir, environ=os.environ, cache=cache)
    found: dict[tuple[str, str], dict[str, bytes]] = {}
    for r in fleet.clusters:
        for path, data in output.cluster_files(r).items():
            if "/" in path:
                package, rel = path.split("/", 1)
                found.setdefault((r.cluster.name, package), {})[rel] = data
    return found


def _changed(old: dict[tuple[str, str], dict[str, bytes]],
             new: dict[tuple[str, str], dict[str, bytes]]) -> Pairs:
    pairs = set()
    for key in set(old) | set(new):
        change = ("added" if key not in old else "removed" if key not in new
                  else "changed" if old[key] != new[key] else "")
        if change:
            pairs.add((key[0], key[1], change))
    return pairs


def _remove(rel: str) -> Edit:
    return lambda root: (root / rel).unlink()


def _copy_cluster(src: str, dst: str) -> Edit:
    def apply(root: Path) -> None:
        text = (root / f"fleet/clusters/{src}.yaml").read_text()
        (root / f"fleet/clusters/{dst}.yaml").write_text(text.replace(src, dst))
    return apply


EDITS: list[tuple[str, Edit]] = [
    ("site overlay values", appending("overlays/sites/hamburg-port/edge-gateway/values.yaml",
                                    "bridge:\n  logLevel: debug\n")),
    ("class variable", replacing("fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 3")),
    ("chart template", replacing("bases/pos-app/chart/templates/deployment.yaml",
                             "  replicas:", "  minReadySeconds: 5\n  replicas:")),
    ("kustomize base", replacing("bases/log-shipper/kustomization.yaml", "FLB_LOG_LEVEL=info",
                             "FLB_LOG_LEVEL=warn")),
    ("Jinja2 template", replacing("overlays/classes/edge/monitoring-agent/values.yaml.j2",
                              "storageSizeLimit: 1Gi", "storageSizeLimit: 2Gi")),
    ("cluster adds a package", appending("fleet/clusters/store-0004.yaml",
                                       "packages: {add: [tracing-collector]}\n")),
    ("cluster added", _copy_cluster("store-0002", "store-0008")),
    ("cluster removed", _remove("fleet/clusters/store-0005.yaml")),
    ("package namespace", replacing("bases/tracing-collector/package.yaml", "namespace: tracing",
                                "namespace: observability")),
    ("dependency added", replacing("bases/log-shipper/package.yaml", "dependsOn: [namespaces]",
                               "dependsOn: [namespaces, monitoring-agent]")),
    ("cluster variable", replacing("fleet/clusters/store-0001.yaml", '"0001"', '"0101"')),
    # The environment layer: values the class also sets lose to the class (it comes after).
    ("environment layer added", writing("overlays/environments/staging/pos-app/values.yaml",
                                        "replicaCount: 5\nconfig:\n  TRACE_SAMPLING: \"0.5\"\n")),
    ("environment layer edited", replacing("overlays/environments/staging/pos-app/values.yaml",
                                           '"0.5"', '"0.1"')),
]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory,
           toolset: tools.Toolset) -> list[tuple[str, Pairs, affected.Affected]]:
    """Each edit committed in turn; (name, pairs a full re-render changed, affected)."""
    from tests.conftest import copy_example

    tmp = tmp_path_factory.mktemp("affected")
    root = copy_example(tmp / "config")
    repo = pygit2.init_repository(str(root), initial_head="main")
    commit_all(repo, "base")
    cache = DiskCache(tmp / "cache")
    before = _render(tree_at(repo, "HEAD"), toolset, cache, tmp / "w0")
    found = []
    for i, (name, edit) in enumerate(EDITS):
        edit(root)
        commit_all(repo, name)
        after = _render(tree_at(repo, "HEAD"), toolset, cache, tmp / f"w{i + 1}")
        result = affected.compute(tree_at(repo, "HEAD~1"), tree_at(repo, "HEAD"), toolset)
        found.append((name, _changed(before, after), result))
        before = after
    return found


@pytest.mark.parametrize("index", range(len(EDITS)), ids=[name for name, _ in EDITS])
def test_affected_equals_what_a_full_render_changes(
        series: list[tuple[str, Pairs, affected.Affected]], index: int) -> None:
    name, changed, result = series[index]
    pairs = {(p.cluster, p.package, p.change) for p in result.pairs}
    assert changed, f"{name}: the edit should change something"
    assert pairs == changed
    for p in result.pairs:
        assert p.reasons
        assert all(r.startswith(("fleet/", "bases/", "overlays/")) for r in p.reasons)


def test_an_environment_layer_reaches_the_clusters_of_its_environment(
        series: list[tuple[str, Pairs, affected.Affected]]) -> None:
    name, _, found = series[[n for n, _ in EDITS].index("environment layer added")]
    staging = {"store-0006"}  # the staging cluster of class pop (the only one running pos-app)
    assert {p.cluster for p in found.pairs} == staging, name
    assert all(p.reasons == ("overlays/environments/staging/pos-app/values.yaml",)
               for p in found.pairs)


def test_reasons_name_the_changed_file(series: list[tuple[str, Pairs, affected.Affected]]) -> None:
    _, _, site = series[0]
    (pair,) = site.pairs
    assert (pair.cluster, pair.package) == ("edge-hamburg-port", "edge-gateway")
    assert pair.reasons == ("overlays/sites/hamburg-port/edge-gateway/values.yaml",)
    assert site.candidates == 1  # only the site's cluster was even materialised


def test_affected_command(example_repo: pygit2.Repository) -> None:
    path = Path(example_repo.workdir) / "overlays/sites/lab/monitoring-agent/values.yaml"
    path.write_text(path.read_text().replace("15s", "20s"))
    commit_all(example_repo, "Lab scrapes less often")
    result = hydrate("--repo", example_repo.workdir, "affected", "--base", "HEAD~1")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert sorted(line.split()[0] for line in lines) == [
        "dc-lab-1/monitoring-agent", "edge-lab/monitoring-agent", "office-lab/monitoring-agent",
        "store-lab/monitoring-agent"]
    assert all(line.endswith("← overlays/sites/lab/monitoring-agent/values.yaml") for line in lines)
    assert "4 renders on 4 of 18 clusters affected" in result.err
    doc = json.loads(hydrate("--repo", example_repo.workdir, "affected", "--base", "HEAD~1",
                             "--format", "json").out)
    assert doc["paths"] == ["overlays/sites/lab/monitoring-agent/values.yaml"]
    assert len(doc["pairs"]) == 4
    assert {c["environment"] for c in doc["clusters"]} == {"dev"}
