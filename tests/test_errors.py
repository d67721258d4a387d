"""Each kind of bad input: exit 1, one clear message naming the place, no traceback,
nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Edit, appending, hydrate, replacing, writing


def _copy(src: str, dst: str) -> Edit:
    def edit(root: Path) -> None:
        shutil.copytree(root / src, root / dst) if (root / src).is_dir() else shutil.copy(
            root / src, root / dst)
    return edit


STORE = "fleet/clusters/store-0001.yaml"
POP = "fleet/classes/pop.yaml"

CASES: dict[str, tuple[Edit, list[str]]] = {
    "unknown key": (appending(STORE, "labelz: {a: b}\n"),
                    [f"{STORE}:7: labelz: unknown key (allowed here: class, environment"]),
    "wrong type": (replacing(STORE, "labels: {region: eu-central, country: de}", "labels: [a]"),
                   [f"{STORE}:5: labels: expected a mapping, got a list"]),
    "bad name": (replacing(STORE, "site: store-0001", "site: Store_1"),
                 [f"{STORE}:3: site: 'Store_1' is not a valid name (a DNS-1123 label"]),
    "unknown class": (replacing(STORE, "class: pop", "class: popp"),
                      [f"{STORE}: class: unknown class 'popp' (did you mean 'pop'?)"]),
    "unknown package in class": (replacing(POP, "- pos-app", "- pos-ap"),
                                 [f"{POP}: packages[6]: unknown package 'pos-ap'"]),
    "duplicate cluster": (_copy(STORE, "fleet/clusters/store-0001-copy.yaml"),
                          ["fleet/clusters/store-0001.yaml: cluster 'store-0001' is already "
                           "defined in fleet/clusters/store-0001-copy.yaml"]),
    "yaml syntax": (appending(POP, "vars: [unclosed\n"), [f"{POP}:21: YAML syntax error"]),
    "overlay owner typo": (_copy("overlays/classes/pop/pos-app", "overlays/sites/store-001/pos-app"),
                           ["overlays/sites/store-001: no site (of any cluster) is named "
                            "'store-001' (did you mean 'store-0001'?)"]),
    "overlay package typo": (_copy("overlays/classes/pop/pos-app", "overlays/classes/pop/pos-ap"),
                             ["overlays/classes/pop/pos-ap: no package is named 'pos-ap' "
                              "(did you mean 'pos-app'?)"]),
    "unknown environment": (replacing(STORE, "environment: prod", "environment: production"),
                            [f"{STORE}: environment: unknown environment 'production'"]),
    "yml extension": (writing("fleet/clusters/extra.yml", "name: extra\n"),
                      ["fleet/clusters/extra.yml: use the .yaml extension"]),
    "missing dependency": (appending(STORE, "packages: {remove: [ingress]}\n"),
                           ["cluster store-0001: package pos-app depends on ingress, which the "
                            "cluster does not list"]),
    "cycle through a CRD edge": (
        replacing("bases/cert-manager/package.yaml", "dependsOn: [namespaces]",
                 "dependsOn: [namespaces, ingress]"),
        ["dependency cycle", "cert-manager", "ingress", "crd Certificate.cert-manager.io"]),
    "undefined template variable": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml.j2", "a: {{ vars.nope }}\n"),
        ["overlays/clusters/store-0001/pos-app/values.yaml.j2:1: undefined variable",
         "nope", "cluster store-0001"]),
    "helm failure": (
        writing("overlays/clusters/store-0001/pos-app/values.yaml", "storeId: null\n"),
        ["store-0001/pos-app: helm failed (exit 1)", "command: helm template pos-app",
         "storeId is required"]),
    "same object from two packages": (
        writing("overlays/clusters/store-0001/rbac-baseline/kustomization.yaml",
               "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
               "resources: [ns.yaml]\n"),
        ["cluster store-0001: Namespace pos is rendered by both"]),
    "plaintext secret": (
        writing("overlays/clusters/store-0001/pos-app/kustomization.yaml",
               "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
               "secretGenerator:\n- name: creds\n  literals: [password=hunter2]\n"),
        ["store-0001/pos-app: Secret pos/creds-", "plaintext"]),
    "remote resource": (
        writing("overlays/classes/pop/log-shipper/kustomization.yaml",
               "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
               "resources: [https://github.com/example/repo//deploy?ref=v1]\n"),
        ["overlays/classes/pop/log-shipper/kustomization.yaml: resources: https://github.com",
         "remote resources are not allowed"]),
    "layer that is a Kustomization": (
        writing("overlays/clusters/store-0001/log-shipper/kustomization.yaml",
               "resources: []\n"),
        ["overlays/clusters/store-0001/log-shipper/kustomization.yaml: kind: Kustomization: "
         "an overlay layer must be a Component"]),
    "values in a kustomize layer": (
        writing("overlays/clusters/store-0001/log-shipper/values.yaml", "a: 1\n"),
        ["overlays/clusters/store-0001/log-shipper/values.yaml: values only apply to helm"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_clear_error(example: Path, case: str) -> None:
    edit, expected = CASES[case]
    edit(example)
    if case == "same object from two packages":
        (example / "overlays/clusters/store-0001/rbac-baseline/ns.yaml").write_text(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: pos\n")
    out = example / "rendered"
    result = hydrate("--repo", example, "render", "--cluster", "store-0001", "--out", out)
    assert result.code == 1, result.err
    assert result.err.startswith("hydrate: error: ")
    assert "Traceback" not in result.err
    for part in expected:
        assert part in result.err
    assert not out.exists()


def test_unknown_cluster_on_the_command_line(example: Path) -> None:
    result = hydrate("--repo", example, "render", "--cluster", "store-01")
    assert result.code == 1
    assert "unknown cluster 'store-01'" in result.err


def test_usage_error_exits_2(example: Path) -> None:
    result = hydrate("--repo", example, "render", "--jobs", "0")
    assert result.code == 2
    assert "--jobs" in result.err
