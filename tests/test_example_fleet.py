"""The example fleet, rendered by the real CLI, checked against independent oracles:
the raw tools on the same layered input, `kubectl kustomize` on the output, and the
golden copy in tests/golden/."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from pipeline.config import yamlio
from pipeline.render import tools
from tests.conftest import ROOT, hydrate

GOLDEN = ROOT / "tests" / "golden" / "rendered"
HYDRATE_ANNOTATIONS = ("hydrate.dev/package", "argocd.argoproj.io/sync-wave")
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "ClusterIssuer", "IngressClass", "ValidatingWebhookConfiguration",
                  "MutatingWebhookConfiguration", "PriorityClass", "StorageClass"}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _clusters() -> list[dict[str, Any]]:
    return sorted((_load(p) for p in (ROOT / "fleet/clusters").glob("*.yaml")),
                  key=lambda c: c["name"])


def _packages(cluster: dict[str, Any]) -> list[str]:
    cls = _load(ROOT / f"fleet/classes/{cluster['class']}.yaml")
    change = cluster.get("packages", {})
    names = [*cls["packages"], *change.get("add", [])]
    return [n for n in names if n not in change.get("remove", [])]


def _context(cluster: dict[str, Any], package: dict[str, Any]) -> dict[str, Any]:
    cls = _load(ROOT / f"fleet/classes/{cluster['class']}.yaml")
    return {
        "cluster": {"name": cluster["name"], "class": cluster["class"],
                    "site": cluster.get("site", cluster["name"]),
                    "environment": cluster["environment"], "labels": cluster.get("labels", {})},
        "vars": {**cls.get("vars", {}), **cluster.get("vars", {})},
        "env": cluster["environment"],
        "package": {"name": package["name"], "namespace": package.get("namespace", "")},
    }


def _layers(cluster: dict[str, Any], package: str) -> list[Path]:
    site = cluster.get("site", cluster["name"])
    candidates = [ROOT / "overlays/classes" / cluster["class"] / package,
                  ROOT / "overlays/sites" / site / package,
                  ROOT / "overlays/clusters" / cluster["name"] / package]
    return [p for p in candidates if p.is_dir()]


def _copy_layer(src: Path, dest: Path, ctx: dict[str, Any]) -> None:
    env = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    for path in sorted(src.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(src)
        target = dest / str(rel).removesuffix(".j2")
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".j2":
            target.write_text(env.from_string(path.read_text()).render(ctx))
        else:
            shutil.copy(path, target)


def _kustomize(toolset: tools.Toolset, directory: Path, env: dict[str, str]) -> bytes:
    return tools.run([*toolset.kustomize.argv, str(directory)], cwd=directory, env=env)


def _wrapper(ws: Path, resources: list[str], components: list[str]) -> None:
    (ws / "kustomization.yaml").write_text(yamlio.dump(
        {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
         "resources": resources, "components": components}))


def raw_render(toolset: tools.Toolset, cluster: dict[str, Any], name: str, ws: Path) -> bytes:
    """What `kustomize build` / `helm template` give for the layered input, built by hand."""
    package = _load(ROOT / f"bases/{name}/package.yaml")
    ctx = _context(cluster, package)
    env = tools.hermetic_env(ws / "home", os.environ)
    ws.mkdir(parents=True)
    layers = []
    for i, layer in enumerate(_layers(cluster, name)):
        dest = ws / f"layer{i}"
        _copy_layer(layer, dest, ctx)
        layers.append(dest)
    components = [f"layer{i}" for i, d in enumerate(layers) if (d / "kustomization.yaml").exists()]
    if package["type"] == "kustomize":
        shutil.copytree(ROOT / "bases" / name, ws / "package")
        if not components:
            return _kustomize(toolset, ws / "package", env)
        _wrapper(ws, ["package"], components)
        return _kustomize(toolset, ws, env)
    cls = _load(ROOT / f"fleet/classes/{cluster['class']}.yaml")
    argv = [*toolset.helm.argv, "template", package.get("releaseName", name),
            str(ROOT / "bases" / name / package.get("chart", "chart")),
            "--namespace", package["namespace"], "--include-crds", "--skip-tests",
            "--kube-version", f"v{cls['kubernetesVersion']}"]
    if (ROOT / "bases" / name / "values.yaml").exists():
        argv += ["-f", str(ROOT / "bases" / name / "values.yaml")]
    argv += [arg for d in layers if (d / "values.yaml").exists()
             for arg in ("-f", str(d / "values.yaml"))]
    out = tools.run(argv, cwd=ws, env=env)
    if not components:
        return out
    (ws / "chart.yaml").write_bytes(out)
    _wrapper(ws, ["chart.yaml"], components)
    return _kustomize(toolset, ws, env)


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def _ours(cluster_dir: Path, package: str) -> list[dict[str, Any]]:
    return [yamlio.load(p.read_bytes()) for p in sorted((cluster_dir / package).glob("*.yaml"))
            if p.name != "kustomization.yaml"]


def _strip(ours: dict[str, Any], raw_has_namespace: bool) -> dict[str, Any]:
    meta = dict(ours["metadata"])
    annotations = {k: v for k, v in meta["annotations"].items() if k not in HYDRATE_ANNOTATIONS}
    if annotations:
        meta["annotations"] = annotations
    else:
        del meta["annotations"]
    if not raw_has_namespace:
        meta.pop("namespace", None)
    return {**ours, "metadata": meta}


CLUSTERS = _clusters()


@pytest.mark.parametrize("cluster", CLUSTERS, ids=[c["name"] for c in CLUSTERS])
def test_objects_equal_the_raw_tools_output(rendered_example: Path, toolset: tools.Toolset,
                                            tmp_path: Path, cluster: dict[str, Any]) -> None:
    cluster_dir = rendered_example / cluster["environment"] / cluster["name"]
    assert sorted(p.name for p in cluster_dir.iterdir() if p.is_dir()) == sorted(_packages(cluster))
    for name in _packages(cluster):
        raw = [d for d in yamlio.load_all(raw_render(toolset, cluster, name, tmp_path / name)) if d]
        ours = _ours(cluster_dir, name)
        assert ours, f"{cluster['name']}/{name} rendered no objects"
        for obj in ours:
            assert obj["metadata"]["annotations"]["hydrate.dev/package"] == name
            assert obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"].isdigit()
        raw_by_name = {(_key(r)[0], _key(r)[1], _key(r)[3]): r for r in raw}
        stripped = {}
        for obj in ours:
            k = _key(obj)
            match = raw_by_name[(k[0], k[1], k[3])]
            stripped[(k[0], k[1], k[3])] = _strip(obj, "namespace" in match["metadata"])
        assert stripped == raw_by_name, f"{cluster['name']}/{name} differs from the raw tool output"


def test_namespaces_are_filled_for_namespaced_kinds_only(rendered_example: Path) -> None:
    seen = Counter()
    for path in rendered_example.glob("*/*/*/*.yaml"):
        if path.name == "kustomization.yaml":
            continue
        obj = yamlio.load(path.read_bytes())
        namespaced = obj["kind"] not in CLUSTER_SCOPED
        assert bool(obj["metadata"].get("namespace")) == namespaced, path
        seen[namespaced] += 1
    assert seen[True] > 100
    assert seen[False] > 50


@pytest.mark.parametrize("cluster", CLUSTERS, ids=[c["name"] for c in CLUSTERS])
def test_kubectl_kustomize_yields_exactly_the_files(rendered_example: Path, toolset: tools.Toolset,
                                                     tmp_path: Path, cluster: dict[str, Any]) -> None:
    cluster_dir = rendered_example / cluster["environment"] / cluster["name"]
    built = _kustomize(toolset, cluster_dir, tools.hermetic_env(tmp_path, os.environ))
    from_kustomize = sorted(yamlio.dump(d) for d in yamlio.load_all(built) if d)
    from_files = sorted(yamlio.dump(obj) for name in _packages(cluster)
                        for obj in _ours(cluster_dir, name))
    assert from_kustomize == from_files


def _same_tree(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=[".hydrate-render"])
    problems = [f"only in {a}: {n}" for n in cmp.left_only] + \
               [f"only in {b}: {n}" for n in cmp.right_only]
    _, mismatch, errors = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    problems += [f"differs: {a / n}" for n in mismatch + errors]
    for sub in cmp.common_dirs:
        problems += _same_tree(a / sub, b / sub)
    return problems


def test_two_renders_are_byte_identical(rendered_example: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    result = hydrate("--repo", ROOT, "render", "--out", again, "--jobs", "1")
    assert result.code == 0, result.err
    assert _same_tree(rendered_example, again) == []


def test_render_equals_the_golden_copy(rendered_example: Path) -> None:
    problems = _same_tree(GOLDEN, rendered_example)
    assert problems == [], ("the render differs from tests/golden; if the change is intended, "
                            "run scripts/refresh-golden and review the diff\n" + "\n".join(problems[:20]))


def test_every_file_is_valid_kubernetes_yaml_for_kubectl(rendered_example: Path) -> None:
    # Kubernetes' own decoder must read each object with the same types as ours.
    files = sorted(p for p in rendered_example.glob("prod/store-0001/*/*.yaml")
                   if p.name != "kustomization.yaml")
    joined = "---\n".join(p.read_text() for p in files)
    binary = shutil.which("kubectl", path=str(Path(os.sys.executable).parent)) or "kubectl"
    proc = subprocess.run([binary, "label", "--local", "-f", "-", "x=y", "-o", "json"],
                          input=joined, capture_output=True, text=True, check=True,
                          env={"PATH": os.environ["PATH"], "KUBECONFIG": os.devnull})
    decoder, text, items = json.JSONDecoder(), proc.stdout.strip(), []
    while text:
        item, end = decoder.raw_decode(text)
        items.append(item)
        text = text[end:].strip()
    ours = [yamlio.load(p.read_bytes()) for p in files]
    for obj, theirs in zip(ours, items, strict=True):
        theirs["metadata"]["labels"].pop("x")
        if not theirs["metadata"]["labels"]:
            del theirs["metadata"]["labels"]
        assert json.loads(json.dumps(obj)) == theirs
