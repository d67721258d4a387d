"""Charts that check `.Capabilities.APIVersions` get what their cluster serves: the
declared `apiVersions` (class, or cluster instead) and the API versions of the CRDs the
cluster's other packages render; a check left false is named in the render summary."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import yaml

from pipeline.render import capabilities
from tests.charts import crd, helm_package, small_fleet, vendored_chart, write
from tests.conftest import hydrate

VPA = "autoscaling.k8s.io/v1/VerticalPodAutoscaler"
MONITOR = "monitoring.coreos.com/v1"


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_scan_finds_checks_in_templates_and_packed_subcharts() -> None:
    packed = _tgz({"sub/templates/x.yaml": b'{{ if .Capabilities.APIVersions.Has "a.example/v1/A" }}'})
    found = capabilities.scan([("chart/templates/a.yaml", b"kind: ConfigMap"),
                               ("chart/charts/sub-1.0.0.tgz", packed)])
    assert found == capabilities.Capabilities(True, ("a.example/v1/A",))
    assert capabilities.scan([("chart/templates/a.yaml", b"{{ .Capabilities.KubeVersion }}")]) == \
        capabilities.Capabilities()


def test_crds_serve_their_served_versions() -> None:
    doc = yaml.safe_load(crd("example.com", "Widget"))
    doc["spec"]["versions"].append({"name": "v2", "served": False, "storage": False})
    assert capabilities.served([doc]) == ("example.com/v1", "example.com/v1/Widget")


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    root = small_fleet(tmp_path / "config", ("vendored",))
    vendored_chart(helm_package(root, "vendored"), gitignore=None)
    return root


def _render(root: Path, out: Path, cache: Path) -> tuple[set[str], list[str]]:
    result = hydrate("--repo", root, "render", "--out", out, env={"HYDRATE_CACHE_DIR": str(cache)})
    assert result.code == 0, result.err
    kinds = {p.name.split("_")[0] for p in (out / "dev/dev-1/vendored").glob("*.yaml")}
    return kinds, [line.strip() for line in result.out.splitlines() if "capabilities" in line]


def test_api_versions_from_the_class_the_cluster_and_the_crds_of_other_packages(
        fleet: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    kinds, notes = _render(fleet, out, cache)
    assert not {"verticalpodautoscaler.autoscaling.k8s.io", "servicemonitor.monitoring.coreos.com"} & kinds
    assert notes == [
        f"capabilities  vendored: .Capabilities.APIVersions.Has '{VPA}' is false on dev-1 (what it "
        "gates is not rendered; declare it in apiVersions if they serve it)",
        f"capabilities  vendored: .Capabilities.APIVersions.Has '{MONITOR}' is false on dev-1 (what "
        "it gates is not rendered; declare it in apiVersions if they serve it)"]
    # The class declares the VPA API (warm cache: the recalled keys must follow).
    cls = fleet / "fleet/classes/standard.yaml"
    cls.write_text(cls.read_text() + f"apiVersions: [{VPA}]\n")
    kinds, notes = _render(fleet, out, cache)
    assert "verticalpodautoscaler.autoscaling.k8s.io" in kinds
    assert [n for n in notes if VPA in n] == []
    # A cluster's list replaces its class's.
    cluster = fleet / "fleet/clusters/dev-1.yaml"
    cluster.write_text(cluster.read_text() + "apiVersions: []\n")
    kinds, notes = _render(fleet, out, cache)
    assert "verticalpodautoscaler.autoscaling.k8s.io" not in kinds
    assert any(VPA in n for n in notes)
    # Another package installs the ServiceMonitor CRD: the API counts by itself, and the
    # chart's ServiceMonitor makes it depend on that package.
    write(fleet, {"bases/prom/package.yaml": "name: prom\ntype: kustomize\n",
                  "bases/prom/kustomization.yaml": "resources: [crd.yaml]\n",
                  "bases/prom/crd.yaml": crd("monitoring.coreos.com", "ServiceMonitor")})
    cls.write_text(cls.read_text().replace("hello, vendored]", "hello, vendored, prom]"))
    kinds, notes = _render(fleet, out, cache)
    assert "servicemonitor.monitoring.coreos.com" in kinds
    assert notes == [f"capabilities  vendored: .Capabilities.APIVersions.Has '{VPA}' is false on "
                     "dev-1 (what it gates is not rendered; declare it in apiVersions if they serve it)"]
    graph = hydrate("--repo", fleet, "graph", "--cluster", "dev-1", "--format", "json")
    assert graph.code == 0, graph.err
    edges = json.loads(graph.out)["edges"]
    assert any(e["from"] == "prom" and e["to"] == "vendored" and "ServiceMonitor" in e["reason"]
               for e in edges), edges


def test_a_chart_that_checks_no_api_keeps_its_key(fleet: Path, tmp_path: Path) -> None:
    """Only charts that read .Capabilities.APIVersions get --api-versions: a new class
    list runs the vendored chart again, not the hello chart; a malformed entry is an error
    naming the file."""
    env = {"HYDRATE_CACHE_DIR": str(tmp_path / "cache")}
    assert hydrate("--repo", fleet, "render", "--out", tmp_path / "out", env=env).code == 0
    cls = fleet / "fleet/classes/standard.yaml"
    cls.write_text(cls.read_text() + f"apiVersions: [{VPA}]\n")
    result = hydrate("--repo", fleet, "render", "--out", tmp_path / "out", env=env)
    assert result.code == 0, result.err
    # The vendored chart runs again (twice: its templates call randAlphaNum, so a new input of
    # it is rendered a second time for the determinism check); hello keeps its key.
    assert "→ 2 tool runs (helm 2), 3 from the cache" in result.out, result.out
    cls.write_text(cls.read_text().replace(f"apiVersions: [{VPA}]", "apiVersions: [monitoring]"))
    result = hydrate("--repo", fleet, "render", "--out", tmp_path / "out", env=env)
    assert result.code == 1
    assert result.err.startswith("hydrate: error: fleet/classes/standard.yaml:")
    assert "apiVersions" in result.err


def test_explain_builds_with_what_the_render_gives_and_names_false_checks(
        fleet: Path, tmp_path: Path) -> None:
    cls = fleet / "fleet/classes/standard.yaml"
    cls.write_text(cls.read_text() + f"apiVersions: [{VPA}]\n")
    result = hydrate("--repo", fleet, "explain", "dev-1", "vendored", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["capabilities"] == {"apiVersions": [VPA], "falseChecks": [MONITOR]}
    field = hydrate("--repo", fleet, "explain", "dev-1", "vendored",
                    "VerticalPodAutoscaler/vendored-vendored:spec.targetRef.kind", "--format", "json")
    assert field.code == 0, field.err
    assert json.loads(field.out)["query"]["value"] == "Deployment"
    text = hydrate("--repo", fleet, "explain", "dev-1", "vendored")
    assert f"  false     {MONITOR}: what it gates is not rendered" in text.out.splitlines()
    plain = hydrate("--repo", fleet, "explain", "dev-1", "hello", "--format", "json")
    assert json.loads(plain.out)["capabilities"] is None


def test_affected_knows_a_chart_that_reads_the_api_versions(fleet: Path) -> None:
    import pygit2

    from tests.conftest import commit_all

    repo = pygit2.init_repository(str(fleet), initial_head="main")
    commit_all(repo, "base")
    cls = fleet / "fleet/classes/standard.yaml"
    cls.write_text(cls.read_text() + f"apiVersions: [{VPA}]\n")
    commit_all(repo, "The standard clusters run the VPA")
    result = hydrate("--repo", fleet, "affected", "--base", "HEAD~1", "--format", "json")
    assert result.code == 0, result.err
    pairs = {(p["cluster"], p["package"]) for p in json.loads(result.out)["pairs"]}
    assert pairs == {("dev-1", "vendored")}
