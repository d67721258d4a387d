"""`hydrate explain`: layers, values with their file and line, Components' changes, and
PATH histories, through the real CLI on the example fleet (and copies of it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.commands import explain as explain_mod
from pipeline.config import inventory as inventory_mod
from pipeline.config import provenance, values
from pipeline.config.source import DirTree
from pipeline.render import tools
from pipeline.render.materialise import Materialiser
from tests.conftest import ROOT, hydrate, writing

CLASS = "overlays/classes/pop/pos-app"
RENDERED = "(rendered from values.yaml.j2)"


def explain(*args: str, repo: Path = ROOT) -> dict[str, Any]:
    result = hydrate("--repo", repo, "explain", *args, "--format", "json")
    assert result.code == 0, result.err
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def text(*args: str, repo: Path = ROOT) -> list[str]:
    result = hydrate("--repo", repo, "explain", *args)
    assert result.code == 0, result.err
    return result.out.splitlines()


def source(step: str, path: str, line: int | None, rendered_from: str | None = None) -> dict[str, Any]:
    return {"step": step, "path": path, "line": line, "renderedFrom": rendered_from}


def by_key(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["key"]: v for v in doc["values"]}


def obj(group: str, kind: str, namespace: str, name: str) -> dict[str, str]:
    ref = "/".join(p for p in (kind, namespace, name) if p)
    return {"ref": ref, "group": group, "kind": kind, "namespace": namespace, "name": name}


# The cluster layer a pilot store gets in the copies below: a values file with a null
# that deletes a chart default, and a Component patching what the class's Component added.
PILOT = {
    "overlays/clusters/store-0003/pos-app/values.yaml":
        "# Pilot: a third till backend, and no memory limit.\nreplicaCount: 3\nresources:\n"
        "  limits: null\n",
    "overlays/clusters/store-0003/pos-app/kustomization.yaml":
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n"
        "- path: pdb.yaml\n  target: {kind: PodDisruptionBudget, name: pos-app}\n",
    "overlays/clusters/store-0003/pos-app/pdb.yaml":
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: pos-app\n"
        "spec:\n  minAvailable: 2\n",
}


@pytest.fixture
def pilot(example: Path) -> Path:
    for rel, content in PILOT.items():
        writing(rel, content)(example)
    return example


def test_a_helm_package_layers_values_and_component() -> None:
    doc = explain("store-0003", "pos-app")
    assert doc["cluster"] == {"name": "store-0003", "class": "pop", "site": "store-0003",
                              "environment": "prod"}
    assert doc["package"] == {"name": "pos-app", "type": "helm", "namespace": "pos",
                              "path": "bases/pos-app"}
    assert doc["layers"] == [
        {"scope": "package", "owner": "pos-app", "path": "bases/pos-app", "values": "values.yaml",
         "kustomization": None, "chart": "bases/pos-app/chart", "files": []},
        {"scope": "class", "owner": "pop", "path": CLASS, "values": "values.yaml.j2",
         "kustomization": "kustomization.yaml", "chart": None, "files": ["pdb.yaml", "spread.yaml"]},
    ]
    found = by_key(doc)
    assert list(found) == sorted(found)
    # Set by the class layer's template, at the line of the rendered text.
    rendered = f"{CLASS}/values.yaml.j2"
    assert found["replicaCount"] == {"key": "replicaCount", "path": ["replicaCount"], "value": 2,
                                     "deleted": False,
                                     "source": source("class", f"{CLASS}/values.yaml", 2, rendered)}
    assert found["locale"]["value"] == "nl-NL"
    assert found["locale"]["source"]["line"] == 3
    # A null in the class layer deletes the chart's default map.
    assert found["nodeSelector"] == {"key": "nodeSelector", "path": ["nodeSelector"], "value": None,
                                     "deleted": True,
                                     "source": source("class", f"{CLASS}/values.yaml", 6, rendered)}
    assert not any(k.startswith("nodeSelector.") for k in found)
    # The package's own values, and a chart default nobody overrides.
    assert found["backend.url"]["source"] == source("package", "bases/pos-app/values.yaml", 3)
    assert found["backend.syncInterval"]["value"] == "30s"
    assert found["image.tag"] == {"key": "image.tag", "path": ["image", "tag"], "value": "2.14.3",
                                  "deleted": False,
                                  "source": source("chart", "bases/pos-app/chart/values.yaml", 5)}
    assert found["tolerations"]["value"] == []  # a list is one value
    assert doc["components"] == [{
        "scope": "class", "path": CLASS, "kustomization": "kustomization.yaml",
        "added": [obj("policy", "PodDisruptionBudget", "pos", "pos-app")], "removed": [],
        "changed": [{"object": obj("apps", "Deployment", "pos", "pos-app"),
                     "fields": ["spec.template.spec.tolerations",
                                "spec.template.spec.topologySpreadConstraints"]}], "renamed": []}]
    assert doc["query"] is None


def test_the_text_report_is_aligned_and_short() -> None:
    lines = text("store-0003", "pos-app")
    assert lines[:5] == [
        "store-0003/pos-app (helm package; class pop, site store-0003, environment prod)",
        "",
        "layers, in order:",
        "  package  bases/pos-app                 chart bases/pos-app/chart; values.yaml (values)",
        f"  class    {CLASS}  values.yaml.j2 (values); kustomization.yaml (Component); "
        "pdb.yaml, spread.yaml",
    ]
    width = len("  resources.requests.memory  ")
    assert f"  {'replicaCount':<{width - 4}}  {'2':<40}  {CLASS}/values.yaml:2 {RENDERED}" in lines
    assert (f"  {'nodeSelector':<{width - 4}}  {'(deleted)':<40}  deleted by "
            f"{CLASS}/values.yaml:6 {RENDERED}") in lines
    assert lines[-4:] == [
        "components, in order (what each changed in the build before it):",
        f"  class {CLASS}",
        "    added    PodDisruptionBudget/pos/pos-app",
        "    changed  Deployment/pos/pos-app           spec.template.spec.tolerations, "
        "spec.template.spec.topologySpreadConstraints",
    ]


def test_a_values_key_history_with_a_null_and_a_second_component(pilot: Path) -> None:
    cluster_values = "overlays/clusters/store-0003/pos-app/values.yaml"
    doc = explain("store-0003", "pos-app", repo=pilot)
    assert [(layer["scope"], layer["values"], layer["kustomization"], layer["files"])
            for layer in doc["layers"]] == [
        ("package", "values.yaml", None, []),
        ("class", "values.yaml.j2", "kustomization.yaml", ["pdb.yaml", "spread.yaml"]),
        ("cluster", "values.yaml", "kustomization.yaml", ["pdb.yaml"])]
    found = by_key(doc)
    assert found["replicaCount"]["value"] == 3
    assert found["replicaCount"]["source"] == source("cluster", cluster_values, 2)
    assert found["resources.limits"] == {"key": "resources.limits", "path": ["resources", "limits"],
                                         "value": None, "deleted": True,
                                         "source": source("cluster", cluster_values, 4)}
    assert "resources.limits.memory" not in found
    assert found["resources.requests.cpu"]["source"]["step"] == "chart"
    # The cluster's Component changed an object the class's Component added.
    assert [(c["scope"], c["added"], c["removed"], c["changed"]) for c in doc["components"]][1] == (
        "cluster", [], [], [{"object": obj("policy", "PodDisruptionBudget", "pos", "pos-app"),
                             "fields": ["spec.minAvailable"]}])

    query = explain("store-0003", "pos-app", "resources.limits.memory", repo=pilot)["query"]
    assert query["kind"] == "value"
    assert (query["present"], query["value"], query["setBy"]) == (False, None, 3)
    assert [(s["source"]["step"], s["change"], s["value"], s["source"]["line"])
            for s in query["history"]] == [
        ("chart", "set", "512Mi", 42), ("package", "unchanged", "512Mi", None),
        ("class", "unchanged", "512Mi", None), ("cluster", "deleted", None, 4)]

    assert text("store-0003", "pos-app", "replicaCount", repo=pilot) == [
        f"replicaCount on store-0003/pos-app: 3, set by cluster {cluster_values}:2",
        "  chart    set        2  bases/pos-app/chart/values.yaml:1",
        "  package  unchanged  2  bases/pos-app/values.yaml",
        f"  class    set        2  {CLASS}/values.yaml:2 {RENDERED}",
        f"  cluster  set        3  {cluster_values}:2",
    ]


def test_an_object_field_history_through_two_components(pilot: Path) -> None:
    query = explain("store-0003", "pos-app", "PodDisruptionBudget/pos-app:spec.minAvailable",
                    repo=pilot)["query"]
    assert query["object"] == obj("policy", "PodDisruptionBudget", "pos", "pos-app")
    assert (query["kind"], query["key"], query["value"], query["setBy"]) == (
        "field", "spec.minAvailable", 2, 2)
    assert [(s["source"], s["change"], s["present"], s["value"]) for s in query["history"]] == [
        (source("chart", "bases/pos-app/chart", None), "absent", False, None),
        (source("class", CLASS, None), "set", True, 1),
        (source("cluster", "overlays/clusters/store-0003/pos-app", None), "changed", True, 2)]
    assert text("store-0003", "pos-app", "Deployment/pos/pos-app:spec.replicas", repo=pilot) == [
        "Deployment/pos/pos-app:spec.replicas on store-0003/pos-app: 3, set by chart "
        "bases/pos-app/chart/templates/deployment.yaml:9",
        "  chart    set        3  bases/pos-app/chart/templates/deployment.yaml:9",
        f"  class    unchanged  3  {CLASS}",
        "  cluster  unchanged  3  overlays/clusters/store-0003/pos-app",
    ]


def test_a_component_field_by_index() -> None:
    query = explain("store-0003", "pos-app",
                    "Deployment/pos-app:spec.template.spec.tolerations[0].key")["query"]
    assert [(s["change"], s["value"]) for s in query["history"]] == [
        ("absent", None), ("set", "node-role.kubernetes.io/control-plane")]
    assert query["setBy"] == 1


def test_a_kustomize_package_patched_by_its_class() -> None:
    doc = explain("store-0001", "log-shipper")
    assert doc["values"] is None
    assert doc["layers"] == [
        {"scope": "package", "owner": "log-shipper", "path": "bases/log-shipper", "values": None,
         "kustomization": "kustomization.yaml", "chart": None,
         "files": ["config/fluent-bit.conf", "config/parsers.conf", "daemonset.yaml", "rbac.yaml"]},
        {"scope": "class", "owner": "pop", "path": "overlays/classes/pop/log-shipper", "values": None,
         "kustomization": "kustomization.yaml", "chart": None, "files": ["patch.yaml.j2"]},
    ]
    container = "spec.template.spec.containers[0]"
    assert doc["components"] == [{
        "scope": "class", "path": "overlays/classes/pop/log-shipper",
        "kustomization": "kustomization.yaml", "added": [], "removed": [],
        "changed": [{"object": obj("apps", "DaemonSet", "logging", "log-shipper"),
                     "fields": [f"{container}.env", f"{container}.resources.limits.memory",
                                f"{container}.resources.requests.cpu",
                                f"{container}.resources.requests.memory"]}], "renamed": []}]
    query = explain("store-0001", "log-shipper", f"DaemonSet/log-shipper:{container}.env[0]")["query"]
    assert [(s["source"]["step"], s["change"], s["value"]) for s in query["history"]] == [
        ("package", "set", {"name": "CLUSTER_NAME", "value": "unknown"}),
        ("class", "changed", {"name": "CLUSTER_NAME", "value": "store-0001"})]


def test_the_last_build_is_what_render_writes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = hydrate("--repo", ROOT, "render", "--cluster", "store-0003", "--out", out)
    assert result.code == 0, result.err
    written = yaml.safe_load((out / "prod/store-0003/pos-app/deployment.apps_pos_pos-app.yaml")
                             .read_text())
    query = explain("store-0003", "pos-app", "Deployment/pos-app:spec")["query"]
    assert query["value"] == written["spec"]


def test_a_template_line_is_the_rendered_line(example: Path) -> None:
    template = example / CLASS / "values.yaml.j2"
    template.write_text('{{ "# for " ~ cluster.name ~ "\\n# (two lines)" }}\n' + template.read_text())
    found = by_key(explain("store-0003", "pos-app", repo=example))
    # storeId is on line 2 of the template and on line 3 of what Helm reads.
    assert found["storeId"]["source"] == source("class", f"{CLASS}/values.yaml", 3,
                                                f"{CLASS}/values.yaml.j2")


def test_the_json_shape() -> None:
    doc = explain("store-0003", "pos-app")
    assert list(doc) == ["cluster", "package", "layers", "values", "components", "query",
                         "capabilities"]
    assert list(doc["layers"][0]) == ["scope", "owner", "path", "values", "kustomization", "chart",
                                      "files"]
    assert list(doc["values"][0]) == ["key", "path", "value", "deleted", "source"]
    assert list(doc["values"][0]["source"]) == ["step", "path", "line", "renderedFrom"]
    assert list(doc["components"][0]) == ["scope", "path", "kustomization", "added", "removed",
                                          "changed", "renamed"]
    with_path = explain("store-0003", "pos-app", "resources")
    assert list(with_path) == list(doc)
    assert (with_path["values"], with_path["components"]) == (None, None)
    assert with_path["layers"] == doc["layers"]
    query = with_path["query"]
    assert list(query) == ["path", "kind", "object", "key", "present", "value", "setBy", "history",
                           "values"]
    assert list(query["history"][0]) == ["source", "change", "present", "value"]
    assert query["value"] == {"requests": {"cpu": "100m", "memory": "192Mi"},
                              "limits": {"memory": "512Mi"}}
    assert [v["key"] for v in query["values"]] == [
        "resources.limits.memory", "resources.requests.cpu", "resources.requests.memory"]


def test_values_agree_with_merge_for_every_package_of_the_example_fleet(
        toolset: tools.Toolset) -> None:
    """The provenance computes the values as `values.computed` does: what explain shows
    is what a render hands to Helm (its values.json), coalesced over the chart's defaults."""
    tree = DirTree(ROOT)
    inv = inventory_mod.load(tree)
    mat = Materialiser(tree, inv, toolset)
    checked = 0
    for cluster in inv.clusters.values():
        for name in inv.packages_of(cluster):
            pkg = inv.packages[name]
            if pkg.type != "helm":
                continue
            files = explain_mod.values_files(tree, inv, cluster, pkg, mat)
            assert files[0].step == "chart"
            data = mat.input(cluster, name).run.files["values.json"].data
            assert data is not None
            handed = json.loads(data)
            assert provenance.plain(provenance.fold(files[1:])) == handed
            final: dict[str, Any] = {}
            for entry in provenance.entries(provenance.fold(files)):
                node = final
                for part in entry.key[:-1]:
                    node = node.setdefault(part, {})
                if not entry.deleted:
                    node[entry.key[-1]] = entry.value
            assert final == values.computed(files[0].values, [handed]), f"{cluster.name}/{name}"
            checked += 1
    assert checked >= 30


SUGGEST_RUNS = ("it runs: namespaces, rbac-baseline, cert-manager, cert-manager-issuers, ingress, "
                "monitoring-agent, log-shipper, pos-app, tracing-collector")


@pytest.mark.parametrize(("args", "message"), [
    (("store-003", "pos-app"),
     "unknown cluster 'store-003' (did you mean 'store-0003'?) (clusters are the files in "
     "fleet/clusters/)"),
    (("store-0003", "postgres"),
     f"cluster store-0003 does not run package 'postgres' (class pop); {SUGGEST_RUNS}"),
    (("store-0003", "pos-ap"),
     "unknown package 'pos-ap' (did you mean 'pos-app'?) (packages are the directories in bases/); "
     f"cluster store-0003 {SUGGEST_RUNS.replace('it runs', 'runs')}"),
    (("store-0003", "pos-app", "replicaCont"),
     "no values key 'replicaCont' (did you mean 'replicaCount'?); the top level holds: backend, "
     "config, image, ingress, locale, replicaCount, resources, service, storeId, "
     "tolerations"),
    (("store-0003", "pos-app", "resources.limits.cpu"),
     "no values key 'resources.limits.cpu'; resources.limits holds: memory"),
    (("store-0003", "pos-app", "image.tag.x"),
     "no values key 'image.tag.x'; image.tag holds a value, not keys"),
    (("store-0003", "pos-app", "Deployment/pos-ap:spec.replicas"),
     "no object Deployment/pos-ap (did you mean 'Deployment/pos/pos-app'?): the package renders "
     "ConfigMap/pos/pos-app, Service/pos/pos-app, Deployment/pos/pos-app, Ingress/pos/pos-app, "
     "PodDisruptionBudget/pos/pos-app"),
    (("store-0003", "pos-app", "Deployment/pos-app:spec.replicaz"),
     "Deployment/pos/pos-app has no field 'spec.replicaz' (did you mean 'spec.replicas'?); spec "
     "holds: replicas, revisionHistoryLimit, selector, strategy, template"),
    (("store-0003", "pos-app", "Deployment/pos-app:spec.template.spec.containers[3]"),
     "Deployment/pos/pos-app has no field 'spec.template.spec.containers[3]'; "
     "spec.template.spec.containers holds: [0]"),
    (("store-0003", "pos-app", "Deployment/pos-app"),
     "malformed PATH 'Deployment/pos-app': an object field is Kind/name:field.path or "
     "Kind/namespace/name:field.path, e.g. Deployment/pos-app:spec.replicas (list items as "
     "containers[0])"),
    (("store-0003", "pos-app", "tolerations[0]"),
     "malformed PATH 'tolerations[0]': give a values key (replicaCount, resources.limits.cpu) or an "
     "object field (Kind/name:field.path or Kind/namespace/name:field.path, e.g. "
     "Deployment/pos-app:spec.template.spec.containers[0].image); quote a name holding a dot, e.g. "
     'nodeSelector."kubernetes.io/os"'),
    (("store-0001", "log-shipper", "replicaCount"),
     "PATH 'replicaCount' is a values key, but log-shipper is a kustomize package (no Helm values); "
     "give an object field, Kind/name:field.path or Kind/namespace/name:field.path"),
])
def test_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    result = hydrate("--repo", ROOT, "explain", *args)
    assert (result.code, result.out, result.err) == (1, "", f"hydrate: error: {message}\n")


def test_two_objects_of_one_name_need_the_namespace(example: Path) -> None:
    writing("bases/log-shipper/shared.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata: {a: here}\n---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: other\n"
            "data: {a: there}\n")(example)
    kfile = example / "bases/log-shipper/kustomization.yaml"
    kfile.write_text(kfile.read_text().replace("resources:\n", "resources:\n- shared.yaml\n", 1))
    result = hydrate("--repo", example, "explain", "store-0001", "log-shipper", "ConfigMap/shared:data")
    assert (result.code, result.err) == (
        1, "hydrate: error: 'ConfigMap/shared:data' matches 2 objects (ConfigMap/logging/shared, "
           "ConfigMap/other/shared); name one as Kind/namespace/name:field\n")
    found = explain("store-0001", "log-shipper", "ConfigMap/other/shared:data.a", repo=example)
    assert found["query"]["value"] == "there"


def test_help_explains_with_examples() -> None:
    result = hydrate("explain", "--help")
    assert result.code == 0
    assert "hydrate explain store-0003 pos-app replicaCount" in result.out
    assert "Kind/namespace/name:field.path" in result.out


def test_a_field_of_an_object_a_component_renamed_is_credited_where_it_was_set(example: Path) -> None:
    """A Component with `namePrefix` renames the Deployment: the image was set in the base
    file (the line of its field), and the Component only renamed the object."""
    writing("overlays/clusters/dc-lab-1/tracing-collector/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
            "namePrefix: staging-\n")(example)
    field = "Deployment/tracing/staging-tracing-collector:spec.template.spec.containers[0].image"
    query = explain("dc-lab-1", "tracing-collector", field, repo=example)["query"]
    assert query["setBy"] == 0
    assert [(h["change"], h["object"]["name"]) for h in query["history"]] == [
        ("set", "tracing-collector"), ("renamed", "staging-tracing-collector")]
    assert query["history"][0]["source"] == source(
        "package", "bases/tracing-collector/deployment.yaml", 30)
    assert query["value"].endswith("opentelemetry-collector-contrib:0.116.1")
    lines = text("dc-lab-1", "tracing-collector", field, repo=example)
    assert lines[0].endswith("set by package bases/tracing-collector/deployment.yaml:30")
    assert "(now Deployment/tracing/staging-tracing-collector)" in lines[2]
    # The old name finds the same object; the Component's effect is a rename, not a
    # removal and an addition.
    old = explain("dc-lab-1", "tracing-collector",
                  "Deployment/tracing-collector:spec.template.spec.containers[0].image", repo=example)
    assert old["query"]["history"] == query["history"]
    effect = explain("dc-lab-1", "tracing-collector", repo=example)["components"][0]
    assert (effect["added"], effect["removed"]) == ([], [])
    assert {(r["from"]["kind"], r["from"]["name"], r["to"]["name"]) for r in effect["renamed"]} >= {
        ("Deployment", "tracing-collector", "staging-tracing-collector"),
        ("Service", "tracing-collector", "staging-tracing-collector")}


def test_a_map_set_again_after_a_null_gets_the_chart_default_back(pilot: Path) -> None:
    """The class layer deletes nodeSelector (null); a cluster layer sets it to a map: Helm
    merges the chart's default back in. Key mode and field mode say the same."""
    writing("overlays/clusters/store-0003/pos-app/values.yaml",
            PILOT["overlays/clusters/store-0003/pos-app/values.yaml"] + "nodeSelector:\n  zone: a\n")(pilot)
    key = 'nodeSelector."node-role.kubernetes.io/worker"'
    query = explain("store-0003", "pos-app", key, repo=pilot)["query"]
    assert (query["present"], query["value"]) == (True, "")
    assert [h["change"] for h in query["history"]] == [
        "set", "unchanged", "deleted", "restored"]
    assert query["history"][-1]["source"] == source("chart", "bases/pos-app/chart/values.yaml", 33)
    values = by_key(explain("store-0003", "pos-app", repo=pilot))
    assert values["nodeSelector.zone"]["value"] == "a"
    assert values['nodeSelector."node-role.kubernetes.io/worker"']["deleted"] is False
    field = explain("store-0003", "pos-app", "Deployment/pos-app:spec.template.spec.nodeSelector",
                    repo=pilot)["query"]
    assert field["value"] == {"node-role.kubernetes.io/worker": "", "zone": "a"}


def test_the_environment_layer_comes_before_the_class(example: Path) -> None:
    """overlays/environments/<env>/<package>/ applies to every cluster of the environment,
    before the class layer: the class's replicaCount wins, the environment's config stays,
    and both reach the rendered Deployment."""
    env_values = "overlays/environments/prod/pos-app/values.yaml"
    writing(env_values, "replicaCount: 5\nconfig:\n  TRACE_SAMPLING: \"0.5\"\n")(example)
    doc = explain("store-0003", "pos-app", repo=example)
    assert [(layer["scope"], layer["owner"], layer["path"]) for layer in doc["layers"]][:3] == [
        ("package", "pos-app", "bases/pos-app"),
        ("environment", "prod", "overlays/environments/prod/pos-app"),
        ("class", "pop", CLASS)]
    found = by_key(doc)
    assert found["config.TRACE_SAMPLING"]["source"] == source("environment", env_values, 3)
    assert found["replicaCount"]["source"]["step"] == "class"
    history = explain("store-0003", "pos-app", "replicaCount", repo=example)["query"]["history"]
    assert [(h["source"]["step"], h["change"], h["value"]) for h in history] == [
        ("chart", "set", 2), ("package", "unchanged", 2), ("environment", "set", 5),
        ("class", "set", 2)]
    rendered = explain("store-0003", "pos-app", "ConfigMap/pos-app:data.TRACE_SAMPLING", repo=example)
    assert rendered["query"]["value"] == "0.5"
    # A staging store does not get it.
    staging = by_key(explain("store-0006", "pos-app", repo=example))
    assert "config.TRACE_SAMPLING" not in staging
