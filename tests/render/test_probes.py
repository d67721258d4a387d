"""A patch whose target matches nothing is an error; probes leave the output unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.config.yamlio import load
from pipeline.errors import ToolError
from pipeline.render import probes, tools
from tests.conftest import hydrate

COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
LAYER = "overlays/clusters/store-0001/log-shipper/kustomization.yaml"


def _render(example: Path, cluster: str = "store-0001") -> tuple[int, str, Path]:
    out = example / "rendered"
    result = hydrate("--repo", example, "render", "--cluster", cluster, "--out", out)
    return result.code, result.err, out


TYPOS = {
    "patches": (
        "patches:\n- target: {kind: DaemonSet, name: log-shiper}\n"
        "  patch: '[{\"op\": \"add\", \"path\": \"/spec/minReadySeconds\", \"value\": 5}]'\n",
        "patches[0]: target {kind: DaemonSet, name: log-shiper} matches no object"),
    "patchesJson6902": (
        "patchesJson6902:\n- target: {group: apps, version: v1, kind: Daemonset, name: log-shipper}\n"
        "  patch: '[{\"op\": \"add\", \"path\": \"/spec/minReadySeconds\", \"value\": 5}]'\n",
        "patchesJson6902[0]: target {group: apps, version: v1, kind: Daemonset, name: log-shipper} "
        "matches no object"),
    "labelSelector": (
        "patches:\n- target: {kind: DaemonSet, labelSelector: app=log-shipper}\n"
        "  patch: '[{\"op\": \"add\", \"path\": \"/spec/minReadySeconds\", \"value\": 5}]'\n",
        "patches[0]: target {kind: DaemonSet, labelSelector: app=log-shipper} matches no object"),
    "inline PatchTransformer": (
        "transformers:\n- |\n  apiVersion: builtin\n  kind: PatchTransformer\n"
        "  metadata: {name: ready}\n  target: {kind: DaemonSet, namespace: loging}\n"
        "  patch: '[{\"op\": \"add\", \"path\": \"/spec/minReadySeconds\", \"value\": 5}]'\n",
        "transformers[0]: target {kind: DaemonSet, namespace: loging} matches no object"),
    "a deletion": (
        "patches:\n- target: {kind: ConfigMap, name: log-shipper-envv}\n"
        "  patch: |\n    $patch: delete\n    apiVersion: v1\n    kind: ConfigMap\n"
        "    metadata: {name: x}\n",
        "patches[0]: target {kind: ConfigMap, name: log-shipper-envv} matches no object"),
}


@pytest.mark.parametrize("case", sorted(TYPOS))
def test_a_patch_that_matches_nothing_is_an_error(example: Path, case: str) -> None:
    text, message = TYPOS[case]
    (example / LAYER).parent.mkdir(parents=True, exist_ok=True)
    (example / LAYER).write_text(COMPONENT + text)
    code, err, out = _render(example)
    assert code == 1, err
    assert err.startswith(f"hydrate: error: {LAYER}: {message} (rendering store-0001/log-shipper)")
    assert "fix the target, or remove the patch" in err
    assert not out.exists()


def test_a_typo_in_a_package_patch_names_the_package_file(example: Path) -> None:
    path = example / "bases/namespaces/kustomization.yaml"
    path.write_text(path.read_text().replace("    kind: Namespace\n  patch:", "    kind: Namespce\n  patch:"))
    code, err, _ = _render(example)
    assert code == 1, err
    assert "bases/namespaces/kustomization.yaml: patches[0]: target {kind: Namespce} matches no object" in err


def test_a_typo_in_a_templated_layer_names_the_template(example: Path) -> None:
    path = example / "overlays/classes/pop/log-shipper/kustomization.yaml"
    text = path.read_text().replace("name: log-shipper", "name: {{ 'log-shippr' }}")
    path.unlink()
    path.with_name("kustomization.yaml.j2").write_text(text)
    code, err, _ = _render(example)
    assert code == 1, err
    assert ("overlays/classes/pop/log-shipper/kustomization.yaml.j2: patches[0]: "
            "target {kind: DaemonSet, name: log-shippr} matches no object") in err


def test_a_deletion_that_matches_renders(example: Path) -> None:
    """edge's namespaces layer deletes namespaces: its probe marker goes with them, and
    one more run shows that the target did match."""
    code, err, out = _render(example, "edge-lab")
    assert code == 0, err
    assert not list(out.rglob("*namespace*_pos.yaml"))


def test_a_patch_on_objects_a_later_layer_deletes_is_fine(example: Path) -> None:
    (example / LAYER).parent.mkdir(parents=True, exist_ok=True)
    (example / LAYER).write_text(COMPONENT + (
        "patches:\n- target: {kind: DaemonSet, name: log-shipper}\n"
        "  patch: |\n    $patch: delete\n    apiVersion: apps/v1\n    kind: DaemonSet\n"
        "    metadata: {name: x}\n"))
    code, err, out = _render(example)
    assert code == 0, err  # the class layer's patch of the DaemonSet did match
    assert not [p for p in out.rglob("*.yaml") if "daemonset" in p.name and "log-shipper" in p.name]


WORKSPACE = {
    "package/kustomization.yaml": "resources: [app.yaml]\n",
    "package/app.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: {app: web}\n"
        "spec:\n  replicas: 1\n  template:\n    metadata: {annotations: {ratio: '1.0'}}\n"
        "    spec:\n      containers: [{name: c, image: 'x:1', args: ['1.0', 'on']}]\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '0755', b: 'yes'}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: old}\ndata: {a: b}\n"
        "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 1.5}\n"),
    "layers/0-class/kustomization.yaml": COMPONENT + (
        "patches:\n"
        "- target: {kind: Deployment, labelSelector: app=web}\n"
        "  patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: x}\n"
        "    spec: {replicas: 2}\n"
        "- target: {kind: ConfigMap, name: ^old$}\n"
        "  patch: |\n    $patch: delete\n    apiVersion: v1\n    kind: ConfigMap\n"
        "    metadata: {name: x}\n"
        "patchesJson6902:\n"
        "- target: {group: example.com, version: v1, kind: Widget, name: w}\n"
        "  patch: '[{\"op\": \"replace\", \"path\": \"/spec/size\", \"value\": 2}]'\n"
        "namePrefix: store-\n"),
    "layers/1-cluster/kustomization.yaml": COMPONENT + (
        "patches:\n- target: {kind: ConfigMap, name: store-cfg}\n"
        "  patch: |\n    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: x}\n"
        "    data: {c: d}\n"
        "- target: {kind: Deployment, name: nothing-here}\n"
        "  patch: |\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: x}\n"
        "    spec: {paused: true}\n"),
    "kustomization.yaml": (
        "resources: [package]\ncomponents: [layers/0-class, layers/1-cluster]\n"),
}


def _build(toolset: tools.Toolset, root: Path, files: dict[str, bytes]) -> bytes:
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return tools.run([*toolset.kustomize.argv, "."], cwd=root,
                     env=tools.hermetic_env(root.parent / "home", os.environ))


def test_probes_leave_the_output_byte_for_byte_and_see_what_kustomize_matched(
        tmp_path: Path, toolset: tools.Toolset) -> None:
    files = {path: text.encode() for path, text in WORKSPACE.items()}
    plain = _build(toolset, tmp_path / "plain", files)
    probed = dict(files)
    found: list[probes.Probe] = []
    for path in ("layers/0-class/kustomization.yaml", "layers/1-cluster/kustomization.yaml"):
        result = probes.insert(path, load(files[path]))
        assert result.text is not None
        probed[path] = result.text
        found.extend(result.probes)
    output, seen = probes.strip(_build(toolset, tmp_path / "probed", probed))
    assert output == plain
    keys = {(p.file.split("/")[1], p.key): p.id for p in found}
    assert set(keys) == {("0-class", "patches[0]"), ("0-class", "patches[1]"),
                         ("0-class", "patchesJson6902[0]"), ("1-cluster", "patches[0]"),
                         ("1-cluster", "patches[1]")}
    # Seen: what still exists; the deleted ConfigMap's marker left with it; the typo
    # matched nothing.
    assert seen == {keys[("0-class", "patches[0]")], keys[("0-class", "patchesJson6902[0]")],
                    keys[("1-cluster", "patches[0]")]}
    # The failing probe tells the deletion (it matched) from the typo (it did not).
    deleted = next(p for p in found if p.key == "patches[1]" and "0-class" in p.file)
    with pytest.raises(ToolError) as err:
        _build(toolset, tmp_path / "probed",
               {deleted.file: probes.failing(probed[deleted.file], deleted.id)})
    assert probes.matched_in(str(err.value), deleted.id)
    typo = next(p for p in found if p.key == "patches[1]" and "1-cluster" in p.file)
    _build(toolset, tmp_path / "probed", {deleted.file: probed[deleted.file],
                                          typo.file: probes.failing(probed[typo.file], typo.id)})


def test_kustomizations_without_targeted_patches_stay_as_they_are() -> None:
    assert probes.insert("layers/0-class/kustomization.yaml",
                         {"kind": "Component", "resources": ["pdb.yaml"],
                          "patches": [{"path": "p.yaml"}]}) == probes.Probed(None, ())


def test_only_kustomizations_the_build_reaches_get_probes() -> None:
    docs = {"package/kustomization.yaml": {"resources": ["app.yaml", "sub", "../shared"]},
            "package/sub/kustomization.yaml": {"components": ["../../extra"]},
            "extra/kustomization.yaml": {},
            "package/unused/kustomization.yaml": {"patches": [{"target": {"kind": "X"}}]}}

    def kustomization_of(folder: str) -> str | None:
        path = f"{folder}/kustomization.yaml"
        return path if path in docs else None

    assert probes.reachable("package", kustomization_of, docs.__getitem__) == [
        "extra/kustomization.yaml", "package/kustomization.yaml", "package/sub/kustomization.yaml"]


def test_the_probed_kustomization_is_the_same_kustomization() -> None:
    data = load(WORKSPACE["layers/0-class/kustomization.yaml"])
    result = probes.insert("layers/0-class/kustomization.yaml", data)
    assert result.text is not None
    probed = json.loads(result.text)
    assert [p for p in probed["patches"] if "hydrateProbe" not in p["patch"]] == data["patches"]
    assert {k: v for k, v in probed.items() if k not in ("patches", "patchesJson6902")} == \
        {k: v for k, v in data.items() if k not in ("patches", "patchesJson6902")}
