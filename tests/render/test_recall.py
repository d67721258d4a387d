"""Recalled render keys: a warm render materialises nothing, and what it recalls is
always what materialising would give, whatever was edited."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import inventory as inventory_mod
from pipeline.config.model import Cluster, Inventory
from pipeline.config.source import DirTree
from pipeline.render import engine, graph, tools
from pipeline.render.cache import DiskCache, MemoryCache
from pipeline.render.materialise import Input, Materialiser, overlay_key
from pipeline.render.recall import Known, Recall
from pipeline.sinks import output
from pipeline.version import engine_digest
from tests.conftest import Edit, appending, copy_example, replace_in, replacing, writing
from tests.render.test_affected import EDITS


def _keeping_times(rel: str, old: str, new: str) -> Edit:
    """An edit that keeps the file's size and mtime (only its content tells)."""
    def apply(root: Path) -> None:
        assert len(old) == len(new)
        st = (root / rel).stat()
        replace_in(root / rel, old, new)
        os.utime(root / rel, ns=(st.st_atime_ns, st.st_mtime_ns))
    return apply


MORE: list[tuple[str, Edit]] = [
    ("same size and mtime", _keeping_times("overlays/classes/edge/monitoring-agent/values.yaml.j2",
                                           "storageSizeLimit: 2Gi", "storageSizeLimit: 3Gi")),
    ("cluster label read by a template", replacing("fleet/clusters/store-0001.yaml",
                                                   "region: eu-central", "region: eu-west")),
    ("class Kubernetes version", replacing("fleet/classes/pop.yaml", 'kubernetesVersion: "1.30"',
                                           'kubernetesVersion: "1.31"')),
    ("file added to a layer", writing("overlays/sites/lyon-plant/edge-gateway/extra.yaml",
                                      "# nothing yet\n")),
    ("layer added", writing("overlays/sites/fra/ingress/values.yaml", "replicaCount: 3\n")),
    ("chart file added", appending("bases/pos-app/chart/templates/NOTES.txt", "hello\n")),
    ("environment layer with a Component", writing(
        "overlays/environments/prod/log-shipper/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "commonAnnotations: {example.net/tier: prod}\n")),
    # A chart that reads .Capabilities.APIVersions, then the API versions its class serves.
    ("chart reads capabilities", writing(
        "bases/pos-app/chart/templates/vpa.yaml",
        '{{- if .Capabilities.APIVersions.Has "autoscaling.k8s.io/v1/VerticalPodAutoscaler" }}\n'
        "apiVersion: autoscaling.k8s.io/v1\nkind: VerticalPodAutoscaler\nmetadata:\n  name: pos-app\n"
        "spec:\n  targetRef: {apiVersion: apps/v1, kind: Deployment, name: pos-app}\n{{- end }}\n")),
    ("class apiVersions", appending("fleet/classes/pop.yaml",
                                    "apiVersions: [autoscaling.k8s.io/v1/VerticalPodAutoscaler]\n")),
    ("cluster apiVersions override", appending("fleet/clusters/store-0001.yaml", "apiVersions: []\n")),
]


def _render(root: Path, toolset: tools.Toolset, cache: DiskCache | MemoryCache,
            workdir: Path) -> dict[str, tuple[dict[str, bytes], object]]:
    """Each cluster's files, and its plan (edges and waves; plans are cached too)."""
    tree = DirTree(root)
    inv = inventory_mod.load(tree)
    fleet = engine.render(tree, inv, list(inv.clusters.values()), toolset, jobs=2,
                          workdir=workdir, environ=os.environ, cache=cache)
    return {r.cluster.name: (output.cluster_files(r), (r.plan.edges, dict(r.plan.waves)))
            for r in fleet.clusters}


def _rendered_once(tmp_path: Path, toolset: tools.Toolset
                   ) -> tuple[Path, DiskCache, dict[str, tuple[dict[str, bytes], object]]]:
    """A copy of the example rendered once with a disk cache: (root, cache, render)."""
    root = copy_example(tmp_path / "config")
    cache = DiskCache(tmp_path / "cache")
    return root, cache, _render(root, toolset, cache, tmp_path / "w0")


def _materialiser(root: Path, toolset: tools.Toolset) -> tuple[Inventory, Materialiser]:
    tree = DirTree(root)
    inv = inventory_mod.load(tree)
    return inv, Materialiser(tree, inv, toolset)


def _stale(root: Path, toolset: tools.Toolset, cache: DiskCache) -> list[str]:
    """Pairs whose recalled keys differ from what materialising them gives now."""
    inv, mat = _materialiser(root, toolset)
    recall = Recall(cache, toolset, engine_digest())
    wrong = []
    for cluster in inv.clusters.values():
        for package in graph.packages_for(inv, cluster):
            recalled = recall.get(mat.identity(cluster, package))
            if recalled is not None and recalled != Known.of(mat.input(cluster, package)):
                wrong.append(f"{cluster.name}/{package}")
    return wrong


def test_recalled_keys_follow_every_kind_of_edit(tmp_path: Path, toolset: tools.Toolset) -> None:
    root = copy_example(tmp_path / "config")
    cache = DiskCache(tmp_path / "cache")
    _render(root, toolset, cache, tmp_path / "w0")
    for i, (name, edit) in enumerate([*EDITS, *MORE]):
        edit(root)
        assert _stale(root, toolset, cache) == [], f"{name}: a recalled key is out of date"
        _render(root, toolset, cache, tmp_path / f"w{i + 1}")
    # And the last warm render, all recalled, equals one that recalls nothing.
    assert _render(root, toolset, cache, tmp_path / "warm") == \
        _render(root, toolset, MemoryCache(), tmp_path / "cold")


def test_a_warm_render_materialises_nothing(tmp_path: Path, toolset: tools.Toolset,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_example(tmp_path / "config")
    cache = DiskCache(tmp_path / "cache")
    first = _render(root, toolset, cache, tmp_path / "w0")
    made: list[str] = []
    real = Materialiser.input

    def counting(self: Materialiser, cluster: Cluster, package: str,
                 apis: tuple[str, ...] = ()) -> Input:
        made.append(f"{cluster.name}/{package}")
        return real(self, cluster, package, apis)

    monkeypatch.setattr(Materialiser, "input", counting)
    assert _render(root, toolset, cache, tmp_path / "w1") == first
    assert made == []
    appending("overlays/sites/hamburg-port/edge-gateway/values.yaml", "bridge:\n  logLevel: debug\n")(root)
    _render(root, toolset, cache, tmp_path / "w2")
    clusters = {c.name for c in inventory_mod.load(DirTree(root)).clusters.values()
                if c.site == "hamburg-port"}
    assert made == [f"{c}/edge-gateway" for c in sorted(clusters)]


def test_an_output_gone_from_the_cache_is_rendered_again(tmp_path: Path,
                                                         toolset: tools.Toolset) -> None:
    root, cache, first = _rendered_once(tmp_path, toolset)
    # Every tool output goes; the recalled keys (and post-processing results) stay.
    inv, mat = _materialiser(root, toolset)
    runs = {mat.input(c, p).run.key for c in inv.clusters.values() for p in graph.packages_for(inv, c)}
    for key in runs:
        (tmp_path / "cache/v1" / key[:2] / key).unlink()
    assert _render(root, toolset, cache, tmp_path / "w1") == first


@pytest.mark.parametrize("text", [b"not json", b"[]", b'{"x": [1, 2]}', b'{"x": ["k", {}, 3, {}]}'])
def test_a_recall_entry_of_another_shape_is_a_miss(tmp_path: Path, toolset: tools.Toolset,
                                                    text: bytes) -> None:
    class Keys(MemoryCache):
        def __init__(self) -> None:
            super().__init__()
            self.written: list[str] = []

        def put(self, key: str, data: bytes) -> None:
            self.written.append(key)
            super().put(key, data)

    cache = Keys()
    recall = Recall(cache, toolset, "engine")
    recall.put("x", Known("k", {}))
    recall.save()
    assert Recall(cache, toolset, "engine").get("x") == Known("k", {})
    cache.put(cache.written[0], text)
    assert Recall(cache, toolset, "engine").get("x") is None


def test_a_wrong_recalled_chart_key_is_mended_in_the_components_stage(
        tmp_path: Path, toolset: tools.Toolset) -> None:
    """A recalled chart key that names another cached chart output, for a chart with
    Components: the Components run it leads to is missing, so the pair is materialised
    afresh; its true chart output is fetched then, and the render is exact."""
    root, cache, first = _rendered_once(tmp_path, toolset)
    inv, mat = _materialiser(root, toolset)
    mine, other = (mat.input(inv.clusters[name], "pos-app") for name in ("store-0001", "store-0002"))
    assert mine.overlay is not None
    assert mine.run.key != other.run.key
    wrong = Known(other.run.key, mine.run.places, mine.overlay.digest, mine.overlay.places)
    recall = Recall(cache, toolset, engine_digest())
    recall.put(mat.identity(inv.clusters["store-0001"], "pos-app"), wrong)
    recall.save()
    chart_output = cache.get(other.run.key)
    assert chart_output is not None
    gone = overlay_key(toolset.kustomize, mine.overlay.digest, chart_output)
    (tmp_path / "cache/v1" / gone[:2] / gone).unlink()
    assert _render(root, toolset, cache, tmp_path / "w1") == first
