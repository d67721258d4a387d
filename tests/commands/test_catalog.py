"""`hydrate catalog`: what each package is, what it needs and provides, where it runs and
which layers change it, through the real CLI on copies of the example fleet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, copy_example, hydrate, replace_in, writing

POS_APP = "bases/pos-app/package.yaml"
ALLOWED = ("allowPlaintextSecrets, chart, dependsOn, description, name, namespace, owner, "
           "releaseName, type")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example fleet's catalog in every format (one render, then the cache)."""
    root = copy_example(tmp_path_factory.mktemp("catalog") / "config")
    found = {}
    for fmt in ("json", "text", "markdown"):
        result = hydrate("--repo", root, "catalog", "--format", fmt)
        assert result.code == 0, result.err
        found[fmt] = result.out
    return found


def _packages(text: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in json.loads(text)["packages"]}


def test_a_helm_package_has_its_chart_users_and_overrides(outputs: dict[str, str]) -> None:
    assert _packages(outputs["json"])["pos-app"] == {
        "name": "pos-app",
        "description": "Point-of-sale service for retail stores (tills, price lookup, offline queue)",
        "owner": "retail-apps",
        "type": "helm",
        "chart": {"name": "pos-app", "version": "3.2.0", "appVersion": "2.14.3"},
        "namespace": "pos",
        "dependsOn": ["namespaces", "ingress"],
        "crdDependencies": [],
        "providesCrds": [],
        "classes": ["pop"],
        "addedBy": ["dc-lab-1"],
        "removedBy": [],
        # pop: store-0001..0005 (prod), store-0006 (staging), store-lab (dev); dc-lab-1 adds it
        "clusters": {"dev": 2, "staging": 1, "prod": 5},
        "layers": {"environments": 0, "classes": 1, "sites": 1, "clusters": 1},
        "valuesKeys": ["config.FEATURE_SELF_CHECKOUT", "image.tag", "ingress.className",
                       "ingress.host", "locale", "nodeSelector", "replicaCount", "storeId"],
        "overrides": [
            {"scope": "classes", "owner": "pop", "path": "overlays/classes/pop/pos-app",
             "clusters": 7, "component": True,
             "valuesKeys": ["ingress.className", "ingress.host", "locale", "nodeSelector",
                            "replicaCount", "storeId"]},
            {"scope": "sites", "owner": "store-0006", "path": "overlays/sites/store-0006/pos-app",
             "clusters": 1, "component": False,
             "valuesKeys": ["config.FEATURE_SELF_CHECKOUT", "image.tag"]},
            {"scope": "clusters", "owner": "dc-lab-1", "path": "overlays/clusters/dc-lab-1/pos-app",
             "clusters": 1, "component": False,
             "valuesKeys": ["ingress.host", "locale", "replicaCount", "storeId"]},
        ],
        "add": "hydrate add pos-app --class <class>",
    }


def test_crds_come_from_the_render_and_imply_dependencies(outputs: dict[str, str]) -> None:
    packages = _packages(outputs["json"])
    cert_manager = packages["cert-manager"]
    assert (cert_manager["type"], cert_manager["chart"], cert_manager["namespace"]) == (
        "kustomize", None, "cert-manager")
    assert cert_manager["providesCrds"] == [
        {"group": "cert-manager.io", "kind": "Certificate"},
        {"group": "cert-manager.io", "kind": "ClusterIssuer"},
        {"group": "cert-manager.io", "kind": "Issuer"}]
    # Its own CRDs are no dependency of it.
    assert cert_manager["crdDependencies"] == []
    # ingress renders a Certificate and lists only namespaces in dependsOn.
    assert packages["ingress"]["dependsOn"] == ["namespaces"]
    assert packages["ingress"]["crdDependencies"] == [
        {"package": "cert-manager", "kinds": [{"group": "cert-manager.io", "kind": "Certificate"}]}]
    assert [name for name, p in packages.items() if p["crdDependencies"]] == [
        "cert-manager-issuers", "ingress"]
    # The issuers wait for cert-manager's webhook: dependsOn says so, the CRD edge agrees.
    assert packages["cert-manager-issuers"]["dependsOn"] == ["cert-manager"]
    assert packages["cert-manager-issuers"]["crdDependencies"] == [
        {"package": "cert-manager", "kinds": [{"group": "cert-manager.io", "kind": "ClusterIssuer"}]}]
    assert [name for name, p in packages.items() if p["providesCrds"]] == ["cert-manager"]
    assert "  depends on  namespaces, cert-manager (CRD Certificate.cert-manager.io)\n" in outputs["text"]
    assert ("  provides    Certificate.cert-manager.io, ClusterIssuer.cert-manager.io, "
            "Issuer.cert-manager.io\n") in outputs["text"]


def test_the_json_shape(outputs: dict[str, str]) -> None:
    doc = json.loads(outputs["json"])
    assert set(doc) == {"environments", "clusters", "packages"}
    assert (doc["environments"], doc["clusters"]) == (["dev", "staging", "prod"], 18)
    names = [p["name"] for p in doc["packages"]]
    assert names == sorted(p.name for p in (Path(__file__).parents[2] / "bases").iterdir())
    for p in doc["packages"]:
        assert list(p) == ["name", "description", "owner", "type", "chart", "namespace",
                           "dependsOn", "crdDependencies", "providesCrds", "classes", "addedBy",
                           "removedBy", "clusters", "layers", "valuesKeys", "overrides", "add"]
        assert list(p["clusters"]) == doc["environments"]
        assert list(p["layers"]) == ["environments", "classes", "sites", "clusters"]
        assert sum(p["layers"].values()) == len(p["overrides"])
        for o in p["overrides"]:
            assert list(o) == ["scope", "owner", "path", "clusters", "valuesKeys", "component"]
            assert o["path"] == f"overlays/{o['scope']}/{o['owner']}/{p['name']}"
    # namespaces is in every class: its counts are the environments' sizes.
    assert _packages(outputs["json"])["namespaces"]["clusters"] == {"dev": 4, "staging": 3,
                                                                    "prod": 11}


def test_the_text_format(outputs: dict[str, str]) -> None:
    assert outputs["text"].startswith("12 packages, 18 clusters (dev, staging, prod)\n\n")
    block = outputs["text"].split("\npos-app  ")[1].split("\n\n")[0]
    assert block == (
        "Point-of-sale service for retail stores (tills, price lookup, offline queue)\n"
        "  owner       retail-apps\n"
        "  type        helm: chart pos-app 3.2.0 (app 2.14.3)\n"
        "  namespace   pos\n"
        "  depends on  namespaces, ingress\n"
        "  provides    -\n"
        "  classes     pop; added by dc-lab-1\n"
        "  clusters    8: dev 2, staging 1, prod 5\n"
        "  layers      3 layers (1 class, 1 site, 1 cluster)\n"
        "  values      config.FEATURE_SELF_CHECKOUT, image.tag, ingress.className, ingress.host, locale,\n"
        "              nodeSelector, replicaCount, storeId\n"
        "  add         hydrate add pos-app --class <class>")


def test_the_markdown_tables(outputs: dict[str, str]) -> None:
    lines = outputs["markdown"].splitlines()
    assert lines[:4] == [
        "12 packages, 18 clusters.", "",
        "| Package | Description | Owner | Type | Namespace | Depends on | Provides CRDs | Classes "
        "| Clusters (dev / staging / prod) | Overlay layers | Add to a class |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    assert ("| `pos-app` | Point-of-sale service for retail stores (tills, price lookup, offline "
            "queue) | retail-apps | helm: chart pos-app 3.2.0 (app 2.14.3) | pos | namespaces, "
            "ingress | - | pop; added by dc-lab-1 | 2 / 1 / 5 | 3 layers (1 class, 1 site, "
            "1 cluster) | `hydrate add pos-app --class <class>` |") in lines
    assert ("| `ingress` | NGINX ingress controller with a cert-manager default TLS certificate "
            "per cluster | platform-networking | helm: chart ingress 1.4.0 (app 1.11.3) | ingress "
            "| namespaces, cert-manager (CRD Certificate.cert-manager.io) | - | datacenter, "
            "micro-dc, pop | 3 / 2 / 9 | 3 layers (3 classes) | "
            "`hydrate add ingress --class <class>` |") in lines
    table = lines[lines.index("| Package | Layer | Clusters | Values keys | Component |"):]
    assert table[1] == "|---|---|---|---|---|"
    assert ("| `pos-app` | `overlays/sites/store-0006/pos-app` | 1 | "
            "`config.FEATURE_SELF_CHECKOUT`, `image.tag` | - |") in table
    assert "| `log-shipper` | `overlays/classes/pop/log-shipper` | 7 | - | yes |" in table
    # A dot inside a key is escaped, as helm --set takes it.
    row = next(r for r in table if r.startswith("| `ingress` | `overlays/classes/datacenter/"))
    assert "`service.annotations.metallb\\.universe\\.tf/address-pool`" in row


def test_the_inventory_and_templates_of_each_cluster_count(example: Path) -> None:
    """Removing a package from one cluster changes its counts; a template layer's keys are
    those its output has for any of its clusters; missing text is null."""
    with (example / "fleet/clusters/store-0001.yaml").open("a") as f:
        f.write("packages: {remove: [pos-app]}\n")
    with (example / "overlays/classes/pop/pos-app/values.yaml.j2").open("a") as f:
        f.write('{% if cluster.name == "store-0002" %}\ndebug:\n  verbose: true\n{% endif %}\n')
    replace_in(example / "bases/postgres/package.yaml", "owner: data\n", "")
    replace_in(example / "bases/postgres/package.yaml",
               "description: Single-instance PostgreSQL with persistent storage, for site-local "
               "databases\n", "description: >\n  Single-instance\n  PostgreSQL\n")
    result = hydrate("--repo", example, "catalog", "--format", "json")
    assert result.code == 0, result.err
    packages = _packages(result.out)
    pos = packages["pos-app"]
    assert (pos["clusters"], pos["removedBy"]) == ({"dev": 2, "staging": 1, "prod": 4}, ["store-0001"])
    assert pos["overrides"][0]["clusters"] == 6
    assert pos["overrides"][0]["valuesKeys"] == ["debug.verbose", "ingress.className", "ingress.host",
                                                 "locale", "nodeSelector", "replicaCount", "storeId"]
    assert (packages["postgres"]["description"], packages["postgres"]["owner"]) == (
        "Single-instance PostgreSQL", None)


def test_an_environment_layer_is_counted_first(example: Path) -> None:
    writing("overlays/environments/prod/pos-app/values.yaml", "config:\n  TRACE: \"on\"\n")(example)
    result = hydrate("--repo", example, "catalog", "--format", "json")
    assert result.code == 0, result.err
    pos = _packages(result.out)["pos-app"]
    assert pos["layers"] == {"environments": 1, "classes": 1, "sites": 1, "clusters": 1}
    assert (pos["overrides"][0]["scope"], pos["overrides"][0]["path"], pos["overrides"][0]["clusters"],
            pos["overrides"][0]["valuesKeys"]) == (
        "environments", "overlays/environments/prod/pos-app", 5, ["config.TRACE"])
    text = hydrate("--repo", example, "catalog")
    assert "4 layers (1 environment, 1 class, 1 site, 1 cluster)" in text.out


def _error(result: Result) -> str:
    assert (result.code, result.out) == (1, ""), result.err
    assert "Traceback" not in result.err
    return result.err


def test_a_typo_in_a_catalog_key_is_an_unknown_key(example: Path) -> None:
    replace_in(example / POS_APP, "description:", "descripton:")
    assert _error(hydrate("--repo", example, "catalog")) == (
        f"hydrate: error: {POS_APP}:6: descripton: unknown key (allowed here: {ALLOWED})\n")


def test_a_description_is_one_line(example: Path) -> None:
    replace_in(example / POS_APP, "owner: retail-apps\n", "owner: |\n  retail\n  apps\n")
    assert _error(hydrate("--repo", example, "catalog")) == (
        f"hydrate: error: {POS_APP}:7: owner: 'retail\\napps\\n' is not one line of text, such "
        "as a team name\n")
