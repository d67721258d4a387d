"""What a kustomization may name: paths inside its package or layer, nothing remote."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.config import kustomizations
from pipeline.config.yamlio import load
from pipeline.errors import ConfigError

LAYER = "overlays/classes/pop/pos-app"
FILE = f"{LAYER}/kustomization.yaml"
OUT = "../../../../../tmp/x"  # from the layer: out of the repository


def _check(text: str, *, component: bool = True, root: str = LAYER) -> None:
    head = "kind: Component\n" if component else "kind: Kustomization\n"
    data: Any = load(head + text)
    kustomizations.check(f"{root}/kustomization.yaml", data, component=component, root=root)


# Every path-bearing field of kustomize v5's types.Kustomization, and the path fields of
# inline generator / transformer configs, with a path that leaves the layer.
ESCAPES = {
    "resources": (f"resources: [{OUT}]", "resources[0]"),
    "bases": (f"bases: [{OUT}]", "bases[0]"),
    "components": (f"components: [{OUT}]", "components[0]"),
    "crds": (f"crds: [{OUT}/crd.yaml]", "crds[0]"),
    "configurations": (f"configurations: [{OUT}/c.yaml]", "configurations[0]"),
    "openapi": (f"openapi: {{path: {OUT}/schema.json}}", "openapi.path"),
    "transformers (a directory)": (f"transformers: [{OUT}]", "transformers[0]"),
    "generators": (f"generators: [ok.yaml, {OUT}]", "generators[1]"),
    "validators": (f"validators: [{OUT}]", "validators[0]"),
    "patches": (f"patches: [{{path: {OUT}/p.yaml, target: {{kind: Deployment}}}}]",
                "patches[0].path"),
    "patchesJson6902": (f"patchesJson6902: [{{path: {OUT}/p.json}}]", "patchesJson6902[0].path"),
    "patchesStrategicMerge": (f"patchesStrategicMerge: [{OUT}/p.yaml]",
                              "patchesStrategicMerge[0]"),
    "replacements": (f"replacements: [{{path: {OUT}/r.yaml}}]", "replacements[0].path"),
    "configMapGenerator files key=path": (
        f"configMapGenerator: [{{name: c, files: [conf={OUT}/passwd]}}]",
        "configMapGenerator[0].files[0]"),
    "configMapGenerator files path": (
        f"configMapGenerator: [{{name: c, files: [{OUT}/passwd]}}]",
        "configMapGenerator[0].files[0]"),
    "configMapGenerator envs": (f"configMapGenerator: [{{name: c, envs: [{OUT}/e.env]}}]",
                                "configMapGenerator[0].envs[0]"),
    "secretGenerator env": (f"secretGenerator: [{{name: s, env: {OUT}/e.env}}]",
                            "secretGenerator[0].env"),
    "inline PatchTransformer": (
        "transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n"
        f"  metadata: {{name: p}}\n  path: {OUT}/p.yaml\n  target: {{kind: Deployment}}\n",
        "transformers[0].path"),
    "inline PatchStrategicMergeTransformer": (
        "transformers:\n- |\n  apiVersion: builtin\n  kind: PatchStrategicMergeTransformer\n"
        f"  metadata: {{name: p}}\n  paths: [{OUT}/p.yaml]\n", "transformers[0].paths[0]"),
    "inline ConfigMapGenerator": (
        "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
        f"  metadata: {{name: c}}\n  files: [{OUT}/passwd]\n", "generators[0].files[0]"),
    "inline ReplacementTransformer": (
        "transformers:\n- |\n  apiVersion: builtin\n  kind: ReplacementTransformer\n"
        f"  metadata: {{name: r}}\n  replacements: [{{path: {OUT}/r.yaml}}]\n",
        "transformers[0].replacements[0].path"),
    "absolute path": ("resources: [/etc/hostname]", "resources[0]"),
    "into a sibling layer": ("resources: [../ingress/x.yaml]", "resources[0]"),
    # A sibling whose name starts with the layer's: `startswith(root)` would let it pass.
    "into a sibling sharing the name as a prefix": ("resources: [../pos-app-secrets/s.yaml]",
                                                    "resources[0]"),
    "a sibling file sharing the name as a prefix": ("components: [../pos-app.yaml]",
                                                   "components[0]"),
    "up and back in through the prefix": ("resources: [../pos-apps]", "resources[0]"),
    "a Windows path": ("resources: ['sub\\..\\..\\x.yaml']", "resources[0]"),
    "the second of two inline configs": (
        "transformers:\n- |\n  apiVersion: builtin\n  kind: LabelTransformer\n"
        "  metadata: {name: l}\n  ---\n  apiVersion: builtin\n  kind: PatchTransformer\n"
        f"  metadata: {{name: p}}\n  path: {OUT}/p.yaml\n", "transformers[0].path"),
}


@pytest.mark.parametrize("case", sorted(ESCAPES))
def test_every_path_field_must_stay_in_the_layer(case: str) -> None:
    text, key = ESCAPES[case]
    with pytest.raises(ConfigError) as err:
        _check(text)
    assert str(err.value).startswith(f"{FILE}: {key}: ")
    assert str(err.value).endswith(": leaves the layer directory; a package and each layer "
                                   f"must be self-contained within {LAYER}")


REMOTES = [
    "https://github.com/org/repo//deploy?ref=v1",
    "http://example.com/x.yaml",
    "ssh://git@example.com/org/repo",
    "file:///srv/git/repo//deploy",
    "git::https://example.com/org/repo",
    "oci://registry.example.com/kustomize/base",
    "git@github.com:org/repo//p",
    "deploy@example.com:org/repo",
    "github.com:org/repo",
    "github.com/org/repo/deploy",
    "GitHub.com/org/repo",
    "gh:org/repo",
    "gitlab.example.com:org/repo.git",
]


@pytest.mark.parametrize("ref", REMOTES)
def test_every_remote_form_is_refused(ref: str) -> None:
    with pytest.raises(ConfigError, match="remote resources are not allowed"):
        _check(f"resources: ['{ref}']")
    with pytest.raises(ConfigError, match=r"components\[0\]: .*remote resources are not allowed"):
        _check(f"components: ['{ref}']")


LOCAL = (
    "resources: [pdb.yaml, ./extra/svc.yaml, sub]\n"
    "patches:\n- path: spread.yaml\n  target: {kind: Deployment}\n"
    "- patch: |-\n    - {op: remove, path: /spec/replicas}\n  target: {kind: Deployment}\n"
    "patchesStrategicMerge:\n- |-\n  apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n"
    "- strategic.yaml\n"
    "configMapGenerator:\n- name: c\n  files: [conf=config/app.conf, config/other.conf]\n"
    "  envs: [config/a.env]\n"
    "secretGenerator:\n- name: s\n  env: config/s.env\n"
    "transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n"
    "  metadata: {name: p}\n  path: spread.yaml\n  target: {kind: Deployment}\n"
    "- |\n  apiVersion: builtin\n  kind: PatchStrategicMergeTransformer\n"
    "  metadata: {name: m}\n  paths: [merge.yaml, '{kind: ConfigMap}']\n"
    "- ./labels.yaml\n"
    "generators:\n- |\n  apiVersion: builtin\n  kind: ConfigMapGenerator\n"
    "  metadata: {name: g}\n  files: [config/g.conf]\n  envs: [config/g.env]\n"
    "validators: [check.yaml]\n"
    "replacements:\n- source: {kind: ConfigMap, name: x}\n  targets: []\n- path: repl.yaml\n"
    "crds: [crds/widget.yaml]\nconfigurations: [names.yaml]\n"
    "components: [../pos-app/part]\n"  # up and back into the layer itself
    "openapi: {path: schema.json}\n"
    "patchesJson6902: [{path: p.json, target: {kind: Deployment, name: x}}]\n"
)


def test_local_paths_and_inline_configs_pass_and_every_reference_is_collected() -> None:
    """Nothing here leaves the layer, so `check` passes; `references` names every path
    the kustomization holds, with its key, and none of the inline configs or patches."""
    _check(LOCAL)
    data = load("kind: Component\n" + LOCAL)
    assert list(kustomizations.references(FILE, data)) == [
        ("resources[0]", "pdb.yaml"), ("resources[1]", "./extra/svc.yaml"),
        ("resources[2]", "sub"), ("components[0]", "../pos-app/part"),
        ("crds[0]", "crds/widget.yaml"), ("configurations[0]", "names.yaml"),
        ("generators[0].files[0]", "config/g.conf"), ("generators[0].envs[0]", "config/g.env"),
        ("transformers[0].path", "spread.yaml"), ("transformers[1].paths[0]", "merge.yaml"),
        ("transformers[2]", "./labels.yaml"),
        ("validators[0]", "check.yaml"),
        ("patches[0].path", "spread.yaml"), ("patchesJson6902[0].path", "p.json"),
        ("patchesStrategicMerge[1]", "strategic.yaml"),
        ("replacements[1].path", "repl.yaml"),
        ("configMapGenerator[0].files[0]", "config/app.conf"),
        ("configMapGenerator[0].files[1]", "config/other.conf"),
        ("configMapGenerator[0].envs[0]", "config/a.env"),
        ("secretGenerator[0].env", "config/s.env"),
        ("openapi.path", "schema.json"),
    ]


def test_a_package_may_use_its_own_subfolders() -> None:
    root = "bases/log-shipper"
    _check("resources: [rbac.yaml]\nconfigMapGenerator:\n- name: c\n  files: [config/a.conf]\n",
           component=False, root=root)
    with pytest.raises(ConfigError, match="leaves the package directory"):
        _check("resources: [../cert-manager]\n", component=False, root=root)


@pytest.mark.parametrize(("text", "message"), [
    ("generators:\n- |\n  apiVersion: builtin\n  kind: HelmChartInflationGenerator\n"
     "  metadata: {name: h}\n  chartName: x\n", "generators[0]: kind: HelmChartInflationGenerator"),
    ("transformers:\n- |\n  apiVersion: example.com/v1\n  kind: Sed\n  metadata:\n    name: s\n"
     "    annotations:\n      config.kubernetes.io/function: |\n        exec: {path: /bin/sh}\n",
     "transformers[0]: config.kubernetes.io/function: KRM functions"),
    ("helmCharts: [{name: x}]", "helmCharts: not allowed"),
])
def test_programs_and_helm_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _check(text)
    assert str(err.value).startswith(f"{FILE}: {message}")


@pytest.mark.parametrize(("text", "message"), [
    ("patches: spread.yaml", "patches: expected a list"),
    ("configMapGenerator: [conf.yaml]", r"configMapGenerator\[0\]: expected a mapping"),
    ("resources: [1]", r"resources\[0\]: expected a path"),
    ("secretGenerator: [{name: s, files: ['']}]", r"secretGenerator\[0\].files\[0\]: expected a path"),
])
def test_a_malformed_field_is_a_config_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _check(text)


@pytest.mark.parametrize(("ref", "remote"), [
    ("config/a:b.yaml", False),      # a colon after the first '/' is part of a file name
    ("config/a:b/c.yaml", False),
    ("a:b/c.yaml", True),            # before it: host:path, as git reads scp-like URLs
    ("deploy/https://example.com/x", True),  # a URL anywhere in it
    ("deploy@example.com/org/repo", True),   # user@host
    ("./deploy", False),
    ("deploy", False),
])
def test_which_references_are_remote(ref: str, remote: bool) -> None:
    assert kustomizations.is_remote(ref) is remote


def test_the_remote_refusal_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as err:
        _check("resources: ['gh:org/repo']")
    assert str(err.value) == (f"{FILE}: resources[0]: gh:org/repo: remote resources are not "
                              "allowed (no network at render time); vendor it into the "
                              "repository")


@pytest.mark.parametrize(("data", "component", "message"), [
    ([], True, "expected a mapping (a kustomization)"),
    ({}, True, "kind: Kustomization: an overlay layer must be a Component (apiVersion: "
               "kustomize.config.k8s.io/v1alpha1, kind: Component)"),
    ({"kind": "Component"}, False, "kind: Component: a package's kustomization must be a "
                                   "Kustomization"),
])
def test_the_wrong_kind_is_said_in_full(data: object, component: bool, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        kustomizations.check(FILE, data, component=component, root=LAYER)
    assert str(err.value) == f"{FILE}: {message}"


def test_a_package_kustomization_may_leave_out_its_kind() -> None:
    kustomizations.check("bases/x/kustomization.yaml", {"resources": ["a.yaml"]},
                         component=False, root="bases/x")


@pytest.mark.parametrize(("text", "message"), [
    ("patches: spread.yaml", "patches: expected a list, got str"),
    ("patchesStrategicMerge: {a: 1}", "patchesStrategicMerge: expected a list, got dict"),
    ("replacements: x", "replacements: expected a list, got str"),
    ("openapi: schema.json", "openapi: expected a mapping, got 'schema.json'"),
    ("configMapGenerator: [{name: c, files: ['conf=']}]",
     "configMapGenerator[0].files[0]: expected a path, got ''"),
    ("transformers:\n- '[1, 2]'\n", "transformers[0]: an inline config must be a mapping"),
    ("transformers:\n- |\n  apiVersion: example.com/v1\n  kind: Sed\n  metadata:\n"
     "    name: s\n    annotations:\n      config.kubernetes.io/function: x\n",
     "transformers[0]: config.kubernetes.io/function: KRM functions and plugins are not "
     "allowed (a render runs no programs but helm and kustomize)"),
])
def test_each_malformed_field_is_said_in_full(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _check(text)
    assert str(err.value) == f"{FILE}: {message}"


def test_odd_entries_are_read_as_kustomize_reads_them() -> None:
    """A generator file `key=path` whose path holds '=' keeps it; an entry that parses to
    nothing (a comment) is a path; two inline configs are both read."""
    data = load("kind: Component\n"
                "configMapGenerator: [{name: c, files: ['conf=dir/a=b.conf']}]\n"
                "transformers:\n- '# only a comment'\n- |\n  apiVersion: builtin\n"
                "  kind: PatchTransformer\n  metadata: {name: a}\n  path: a.yaml\n  ---\n"
                "  apiVersion: builtin\n  kind: PatchTransformer\n  metadata: {name: b}\n"
                "  path: b.yaml\n")
    assert list(kustomizations.references(FILE, data)) == [
        ("transformers[0]", "# only a comment"), ("transformers[1].path", "a.yaml"),
        ("transformers[1].path", "b.yaml"), ("configMapGenerator[0].files[0]", "dir/a=b.conf")]
