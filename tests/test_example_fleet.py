"""The example fleet, rendered by the real CLI, checked against independent oracles:
the raw tools on the same layered input, `kubectl kustomize` on the output, and the
golden copy in tests/golden/."""

from __future__ import annotations

import filecmp
import hashlib
import importlib.util
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
    # Both sides read with PyYAML, the files found on disk (not from the inventory): every
    # object file of the cluster, and nothing else, comes out of kustomize unchanged.
    from_kustomize = sorted(json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(built) if d)
    from_files = sorted(json.dumps(yaml.safe_load(p.read_text()), sort_keys=True)
                        for p in cluster_dir.glob("*/*.yaml") if p.name != "kustomization.yaml")
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


# Oracles the golden copy cannot silence: each is computed here, from the configuration
# and the rules of docs/output.md, with PyYAML and the standard library only (nothing of
# pipeline/), so `scripts/refresh-golden` after a bug leaves them failing.

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")


def _escape(part: str) -> str:
    """docs/output.md: any character but a-z, 0-9, `.`, `-` as %XX of its UTF-8 bytes."""
    return "".join(ch if ch in _SAFE else "".join(f"%{b:02X}" for b in ch.encode())
                   for ch in part)


def _file_name(obj: dict[str, Any], namespaced: bool) -> str:
    """docs/output.md: `<kind>[.<group>]_[<namespace>_]<name>.yaml`, cut at 200."""
    group = obj["apiVersion"].rpartition("/")[0]
    kind = obj["kind"].lower() + (f".{group}" if group else "")
    meta = obj["metadata"]
    parts = [kind, *([meta["namespace"]] if namespaced else []), meta["name"]]
    stem = "_".join(_escape(p) for p in parts)
    if len(stem) > 200:
        # The identity (docs/output.md): API group, kind, namespace, name.
        identity = "\0".join([group, obj["kind"], meta.get("namespace", "") if namespaced
                              else "", meta["name"]])
        stem = stem[:183] + "~" + hashlib.sha256(identity.encode()).hexdigest()[:16]
    return stem + ".yaml"


def _objects_of(cluster_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Each package folder's objects, read with PyYAML."""
    return {d.name: [yaml.safe_load(p.read_text()) for p in sorted(d.glob("*.yaml"))
                     if p.name != "kustomization.yaml"]
            for d in sorted(cluster_dir.iterdir()) if d.is_dir()}


def _expected_waves(cluster: dict[str, Any], objects: dict[str, list[dict[str, Any]]]
                    ) -> dict[str, int]:
    """The depth of each package in the cluster's graph: `dependsOn` edges (package.yaml)
    plus an edge from a package rendering a CRD to each package with objects of its kind;
    a package with no dependency is at 0, any other one past its deepest dependency."""
    names = _packages(cluster)
    before: dict[str, set[str]] = {
        n: {d for d in _load(ROOT / f"bases/{n}/package.yaml").get("dependsOn", [])
            if d in names} for n in names}
    defines = {(crd["spec"]["group"], crd["spec"]["names"]["kind"]): pkg
               for pkg, objs in objects.items() for crd in objs
               if crd["kind"] == "CustomResourceDefinition"}
    for pkg, objs in objects.items():
        for obj in objs:
            owner = defines.get((obj["apiVersion"].rpartition("/")[0], obj["kind"]))
            if owner is not None and owner != pkg:
                before[pkg].add(owner)
    depth: dict[str, int] = {}

    def of(name: str, path: tuple[str, ...] = ()) -> int:
        assert name not in path, f"dependency circle {(*path, name)}"
        if name not in depth:
            depth[name] = max((of(d, (*path, name)) + 1 for d in before[name]), default=0)
        return depth[name]

    return {n: of(n) for n in names}


@pytest.mark.parametrize("cluster", CLUSTERS, ids=[c["name"] for c in CLUSTERS])
def test_sync_waves_follow_the_dependency_graph(rendered_example: Path,
                                                cluster: dict[str, Any]) -> None:
    cluster_dir = rendered_example / cluster["environment"] / cluster["name"]
    objects = _objects_of(cluster_dir)
    waves = _expected_waves(cluster, objects)
    found = {pkg: {o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] for o in objs}
             for pkg, objs in objects.items()}
    assert found == {pkg: {str(w)} for pkg, w in waves.items()}
    # The cluster's kustomization lists the packages by wave, then name.
    top = yaml.safe_load((cluster_dir / "kustomization.yaml").read_text())
    assert top["resources"] == sorted(waves, key=lambda p: (waves[p], p))


def test_the_example_fleet_has_waves_beyond_dependson(rendered_example: Path) -> None:
    """The oracle above sees a CRD edge: ingress (dependsOn namespaces only) renders a
    cert-manager Certificate, so it is a wave after cert-manager."""
    store = next(c for c in CLUSTERS if c["name"] == "store-0001")
    waves = _expected_waves(store, _objects_of(rendered_example / "prod/store-0001"))
    assert waves["ingress"] == waves["cert-manager"] + 1 > 1


@pytest.mark.parametrize("cluster", CLUSTERS, ids=[c["name"] for c in CLUSTERS])
def test_no_object_waits_on_a_webhook_of_its_own_wave(rendered_example: Path,
                                                      cluster: dict[str, Any]) -> None:
    """Argo CD waits for health only between sync waves (and Flux between dependent
    packages): an object a webhook with failurePolicy Fail must admit is in a later wave
    than the Service the webhook calls, so on a new cluster the webhook is ready for it."""
    objects = [o for objs in _objects_of(rendered_example / cluster["environment"]
                                         / cluster["name"]).values() for o in objs]
    wave = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]):
            int(o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for o in objects}
    checked = 0
    for config in objects:
        if config["kind"] not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            continue
        for hook in config["webhooks"]:
            service = hook["clientConfig"].get("service")
            if hook.get("failurePolicy", "Fail") != "Fail" or service is None:
                continue
            groups = {g for rule in hook["rules"] for g in rule["apiGroups"]}
            served = wave[("Service", service["namespace"], service["name"])]
            for obj in objects:
                if obj["apiVersion"].rpartition("/")[0] in groups and obj is not config:
                    checked += 1
                    assert int(obj["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) \
                        > served, f"{obj['kind']} {obj['metadata']['name']} in the wave of {hook['name']}"
    if "cert-manager" in _packages(cluster):
        assert checked  # the ClusterIssuer (and ingress's Certificate) were looked at


@pytest.mark.parametrize("cluster", CLUSTERS, ids=[c["name"] for c in CLUSTERS])
def test_file_names_follow_the_naming_rule(rendered_example: Path,
                                           cluster: dict[str, Any]) -> None:
    cluster_dir = rendered_example / cluster["environment"] / cluster["name"]
    for package in sorted(p for p in cluster_dir.iterdir() if p.is_dir()):
        for path in sorted(package.glob("*.yaml")):
            if path.name == "kustomization.yaml":
                continue
            obj = yaml.safe_load(path.read_text())
            assert path.name == _file_name(obj, obj["kind"] not in CLUSTER_SCOPED), path


@pytest.mark.parametrize("cluster", CLUSTERS, ids=[c["name"] for c in CLUSTERS])
def test_each_kustomization_lists_exactly_its_files(rendered_example: Path,
                                                    cluster: dict[str, Any]) -> None:
    cluster_dir = rendered_example / cluster["environment"] / cluster["name"]
    top = yaml.safe_load((cluster_dir / "kustomization.yaml").read_text())
    folders = sorted(p.name for p in cluster_dir.iterdir() if p.is_dir())
    assert sorted(top["resources"]) == folders == sorted(_packages(cluster))
    assert sorted(p.name for p in cluster_dir.iterdir() if p.is_file()) == ["kustomization.yaml"]
    for folder in folders:
        listed = yaml.safe_load((cluster_dir / folder / "kustomization.yaml").read_text())
        files = sorted(p.name for p in (cluster_dir / folder).iterdir())
        assert listed["resources"] == sorted(f for f in files if f != "kustomization.yaml")
        assert set(listed) == {"apiVersion", "kind", "resources"}


def test_odd_names_are_escaped_and_long_ones_cut(example: Path, tmp_path: Path) -> None:
    """Names the example fleet does not have: `:` and `%` (escaped), non-ASCII, and a name
    whose file name would pass 200 characters (cut, with the digest of the identity)."""
    odd = [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "system:metrics%reader"}, "rules": []},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "x" * 240, "namespace": "kube-system"}, "data": {"a": "1"}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "café", "namespace": "kube-system"}, "data": {"a": "1"}},
    ]
    base = example / "bases/rbac-baseline"
    (base / "odd.yaml").write_text(yaml.safe_dump_all(odd))
    kust = yaml.safe_load((base / "kustomization.yaml").read_text())
    kust["resources"].append("odd.yaml")
    (base / "kustomization.yaml").write_text(yaml.safe_dump(kust))
    out = tmp_path / "out"
    result = hydrate("--repo", example, "render", "--cluster", "store-lab", "--out", out)
    assert result.code == 0, result.err
    folder = out / "dev/store-lab/rbac-baseline"
    names = {p.name for p in folder.glob("*.yaml")}
    expected = {_file_name(o, o["kind"] != "ClusterRole") for o in odd}
    assert expected <= names
    assert "clusterrole.rbac.authorization.k8s.io_system%3Ametrics%25reader.yaml" in names
    assert "configmap_kube-system_caf%C3%A9.yaml" in names
    (cut,) = [n for n in names if "~" in n]
    assert len(cut) == 183 + 1 + 16 + len(".yaml")


def test_refresh_golden_says_what_changed_by_package_and_kind(rendered_example: Path,
                                                              tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("golden_summary",
                                                  ROOT / "scripts/golden_summary.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    new = tmp_path / "new"
    shutil.copytree(rendered_example, new)
    assert module.summary(rendered_example, new) == ["golden: no object changed"]
    for path in new.glob("*/store-*/pos-app/deployment.apps_pos_pos-app.yaml"):
        path.write_text(path.read_text().replace("replicas: 2", "replicas: 3"))
    (new / "dev/store-lab/pos-app/configmap_pos_extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: pos}\n")
    (new / "prod/store-0001/pos-app/service_pos_pos-app.yaml").unlink()
    assert module.summary(rendered_example, new)[1:] == [
        f"{'pos-app':<20} {'ConfigMap':<28} {1:>6} {0:>8} {0:>8}  1",
        f"{'pos-app':<20} {'Deployment':<28} {0:>6} {0:>8} {7:>8}  7",
        f"{'pos-app':<20} {'Service':<28} {0:>6} {1:>8} {0:>8}  1"]
