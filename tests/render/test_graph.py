from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.config.model import Cluster, ClusterClass, Environment, Inventory, Package
from pipeline.errors import GraphError
from pipeline.render import graph
from tests.conftest import ROOT, hydrate


def _inventory(deps: dict[str, tuple[str, ...]]) -> tuple[Inventory, Cluster]:
    packages = {n: Package(n, f"bases/{n}", "kustomize", None, d) for n, d in deps.items()}
    cls = ClusterClass("c", "fleet/classes/c.yaml", "", "1.30", {}, tuple(deps), {})
    cluster = Cluster("x", "fleet/clusters/x.yaml", "c", "s", "dev", {}, {})
    inv = Inventory((Environment("dev", "env/dev", None),), {"c": cls}, {"x": cluster}, packages)
    return inv, cluster


CERT = ("cert-manager.io", "Certificate")


def test_waves_are_depths_with_crd_edges() -> None:
    inv, cluster = _inventory({"ns": (), "crds": ("ns",), "app": ("ns",), "top": ("app",)})
    plan = graph.plan(inv, cluster, ("ns", "crds", "app", "top"),
                      provides={"crds": {CERT}}, uses={"app": {CERT}, "crds": {CERT}})
    assert plan.waves == {"ns": 0, "crds": 1, "app": 2, "top": 3}
    assert graph.Edge("crds", "app", "crd Certificate.cert-manager.io") in plan.edges
    # a package using its own CRD gets no edge to itself
    assert all(e.dependency != e.dependent for e in plan.edges)


def test_cycle_is_named_in_full() -> None:
    inv, cluster = _inventory({"a": ("c",), "b": ("a",), "c": ("b",)})
    with pytest.raises(GraphError) as err:
        graph.plan(inv, cluster, ("a", "b", "c"), provides={"b": {CERT}}, uses={"c": {CERT}})
    message = str(err.value)
    assert message.startswith("cluster x: dependency cycle ")
    for part in ("a needs c: dependsOn", "b needs a: dependsOn", "c needs b: dependsOn"):
        assert part in message


MONITOR = ("monitoring.coreos.com", "ServiceMonitor")


def test_a_cycle_through_crds_alone_orders_the_crds_first() -> None:
    """cert-manager renders a ServiceMonitor (the monitoring stack's CRD) and the stack a
    Certificate (cert-manager's CRD): only the CRDs must come first, not the packages."""
    inv, cluster = _inventory({"ns": (), "cert": ("ns",), "stack": ("ns",)})
    plan = graph.plan(inv, cluster, ("ns", "cert", "stack"),
                      provides={"cert": {CERT}, "stack": {MONITOR}},
                      uses={"cert": {MONITOR, CERT}, "stack": {CERT, MONITOR}})
    assert plan.crd_waves == {"cert": 0}
    assert plan.waves == {"ns": 0, "cert": 2, "stack": 1}
    assert graph.Edge("cert", "stack", "crd Certificate.cert-manager.io" + graph.CRDS_ONLY) in plan.edges
    assert graph.Edge("stack", "cert", "crd ServiceMonitor.monitoring.coreos.com") in plan.edges
    # A dependsOn into the cycle: still only the CRDs are split off.
    inv, cluster = _inventory({"a": ("b",), "b": ()})
    plan = graph.plan(inv, cluster, ("a", "b"), provides={"a": {CERT}}, uses={"b": {CERT}})
    assert (plan.waves, plan.crd_waves) == ({"a": 2, "b": 1}, {"a": 0})


def test_missing_dependency_names_both_packages() -> None:
    inv, cluster = _inventory({"a": ("b",), "b": ()})
    inv = Inventory(inv.environments, {"c": ClusterClass("c", "fleet/classes/c.yaml", "", "1.30",
                                                         {}, ("a",), {})}, inv.clusters, inv.packages)
    with pytest.raises(GraphError, match="package a depends on b, which the cluster does not list"):
        graph.packages_for(inv, cluster)


def test_graph_command_json_for_a_cluster() -> None:
    result = hydrate("--repo", ROOT, "graph", "--cluster", "store-0001", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    waves = {p["name"]: p["waves"] for p in doc["packages"]}
    assert waves["namespaces"] == [0]
    assert waves["ingress"] == [2]  # after cert-manager, through the Certificate CRD only
    assert waves["pos-app"] == [3]
    assert {"from": "cert-manager", "to": "ingress",
            "reason": "crd Certificate.cert-manager.io"} in doc["edges"]


def test_graph_command_dot_and_text(tmp_path: Path) -> None:
    dot = hydrate("--repo", ROOT, "graph", "--cluster", "edge-lab", "--format", "dot")
    assert dot.code == 0, dot.err
    assert dot.out.startswith('digraph "cluster edge-lab')
    assert '"namespaces" -> "edge-gateway" [label="dependsOn"];' in dot.out
    text = hydrate("--repo", ROOT, "graph", "--cluster", "edge-lab")
    assert text.out.splitlines()[1].split() == ["wave", "0", "namespaces"]


@pytest.mark.parametrize("kept", [b"not json", b"[]", b'{"edges": [], "waves": {}}',
                                  b'{"edges": [["a"]], "waves": {"ns": 0, "app": 1}}',
                                  b'{"edges": [["x", "app", "dependsOn"]], "waves": {"ns": 0, "app": 1}}',
                                  b'{"edges": [], "waves": {"ns": "0", "app": 1}}'])
def test_a_kept_plan_of_another_shape_is_planned_again(kept: bytes) -> None:
    """Plans are kept in the render cache; an entry that is not one is a miss."""
    from pipeline.render import engine
    from pipeline.render.cache import MemoryCache

    inv, cluster = _inventory({"ns": (), "app": ("ns",)})
    fresh = graph.plan(inv, cluster, ("ns", "app"), provides={}, uses={})
    cache = MemoryCache()
    first = engine._plan(inv, cluster, ("ns", "app"), {}, {}, cache, "e")
    (key,) = cache._entries
    assert engine._plan(inv, cluster, ("ns", "app"), {}, {}, cache, "e") == first == fresh
    cache.put(key, kept)
    assert engine._plan(inv, cluster, ("ns", "app"), {}, {}, cache, "e") == fresh
