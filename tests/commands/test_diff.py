"""`hydrate diff` on real repositories, through the real CLI."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pygit2
import pytest

from pipeline.commands import diff as diff_mod
from pipeline.commands.context import Context
from pipeline.review import diffviews
from tests.conftest import (
    BYPASS,
    ROOT,
    Result,
    commit_all,
    copy_example,
    hydrate,
    replace_in,
    shared_cache,
)

SCHEMA = json.loads((ROOT / "docs/diff.schema.json").read_text())


def _edit(repo: pygit2.Repository, rel: str, old: str, new: str) -> None:
    replace_in(Path(repo.workdir) / rel, old, new)


def _write(repo: pygit2.Repository, rel: str, text: str) -> None:
    path = Path(repo.workdir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _valid(text: str) -> dict[str, Any]:
    """A JSON report, held to the schema docs/diff.md documents (docs/diff.schema.json)."""
    doc: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    return doc


def _json(result: Result) -> dict[str, Any]:
    assert result.code == 0, result.err
    return _valid(result.out)


def _diff(repo: pygit2.Repository, *args: str, **kwargs: Any) -> dict[str, Any]:
    return _json(hydrate("--repo", repo.workdir, "diff", "--base", "HEAD~1", "--format", "json",
                         *args, **kwargs))


def _short(repo: pygit2.Repository, rev: str) -> str:
    return str(repo.revparse_single(rev).id)[:7]


def _members(group: dict[str, Any]) -> list[dict[str, str]]:
    return [c for v in group["variants"] for c in v["clusters"]]


def _objects(group: dict[str, Any]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = group["variants"][0]["objects"]
    return objects


def _clusters(doc: dict[str, Any]) -> list[list[str]]:
    return [[c["cluster"] for c in _members(g)] for g in doc["groups"]]


def test_a_site_overlay_change_shows_only_that_site(example_repo: pygit2.Repository) -> None:
    path = "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    _write(example_repo, path, (Path(example_repo.workdir) / path).read_text()
           + "bridge:\n  logLevel: debug\n")
    commit_all(example_repo, "Debug the bridge in Hamburg")
    doc = _diff(example_repo, cold=True)  # an empty cache: its tool runs are this diff's own
    assert _clusters(doc) == [["edge-hamburg-port"]]
    assert doc["summary"]["clustersUnchanged"] == 17
    objects = _objects(doc["groups"][0])
    assert {(o["package"], o["change"]) for o in objects} == {("edge-gateway", "changed")}
    assert any("debug" in line for o in objects for line in o["diff"].splitlines()
               if line.startswith("+"))
    # Only the touched cluster is rendered, on both sides: the base side costs what a
    # render of that cluster alone costs, and the head needs one new tool run.
    assert doc["stats"]["clustersRendered"] == 1
    alone = hydrate("--repo", example_repo.workdir, "render", "--cluster", "edge-hamburg-port",
                    "--source", "HEAD~1", "--out", Path(example_repo.workdir) / "alone", cold=True)
    assert alone.code == 0, alone.err
    (runs,) = re.findall(r"^  inputs    \d+ distinct → (\d+) tool runs? ", alone.out, re.M)
    assert int(runs) > 0
    assert doc["stats"]["toolRuns"] == int(runs) + 1


def test_a_class_wide_change_is_one_group(example_repo: pygit2.Repository) -> None:
    _edit(example_repo, "fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 3")
    commit_all(example_repo, "Three POS replicas")
    doc = _diff(example_repo)
    assert len(doc["groups"]) == 1
    group = doc["groups"][0]
    assert {c["class"] for c in _members(group)} == {"pop"}
    assert len(_members(group)) == 7
    assert len(group["variants"]) == 1  # the very same change on all of them
    assert group["varying"] == []
    (obj,) = _objects(group)
    assert obj["paths"] == ["spec.replicas"]
    text = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1")
    assert "same change on 7 clusters of class pop (dev, staging, prod)" in text.out
    markdown = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1",
                       "--format", "markdown").out
    assert markdown.startswith(diffviews.MARKER)
    assert markdown.count("<summary><b>") == 1
    assert "| prod | pop | 5 | 0 | 0 | 0 | 0 | 5 | 0 |" in markdown


def test_the_same_change_with_per_cluster_values_is_one_group(
        example_repo: pygit2.Repository) -> None:
    _edit(example_repo, "bases/pos-app/chart/values.yaml", "tag: 2.14.3", "tag: 2.15.0")
    commit_all(example_repo, "pos-app 2.15.0")
    doc = _diff(example_repo, "--env", "prod")
    (group,) = doc["groups"]
    assert sorted(c["cluster"] for c in _members(group)) == [f"store-000{i}" for i in range(1, 6)]
    assert len(group["variants"]) == 5  # each store's config checksum differs
    assert any("checksum/config" in v for v in group["varying"])
    assert not any("image" in v for v in group["varying"])  # the bump itself is the same
    text = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--env", "prod").out
    assert "similar change on 5 clusters of class pop (prod)" in text
    assert "5 variants; values differ per cluster in" in text


SECRET = "hunter2-XYZZY-{}"


def _rotate_a_secret(repo: pygit2.Repository) -> None:
    """Two commits: store-0001 gets a break-glass Secret, then its token is rotated."""
    pkg = "bases/rbac-baseline/package.yaml"
    _write(repo, pkg, (Path(repo.workdir) / pkg).read_text() + "allowPlaintextSecrets: true\n")
    component = ("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                 "secretGenerator:\n- name: break-glass\n  namespace: default\n"
                 "  options: {{disableNameSuffixHash: true}}\n  literals:\n{}")
    layer = "overlays/clusters/store-0001/rbac-baseline/kustomization.yaml"
    _write(repo, layer, component.format(f"  - token={SECRET.format('old')}\n"))
    commit_all(repo, "Break-glass token")
    _write(repo, layer, component.format(
        f"  - token={SECRET.format('new')}\n  - user=oncall-{SECRET.format('user')}\n"))
    commit_all(repo, "Rotate the break-glass token")


def test_secret_values_never_appear(example_repo: pygit2.Repository) -> None:
    _rotate_a_secret(example_repo)
    outputs = [hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--cluster",
                       "store-0001", "--format", fmt) for fmt in ("json", "markdown", "text")]
    for result in outputs:
        assert result.code == 0, result.err
        for which in ("old", "new", "user"):
            value = SECRET.format(which)
            assert value not in result.out
            assert base64.b64encode(value.encode()).decode() not in result.out
            assert base64.b64encode(f"oncall-{value}".encode()).decode() not in result.out
        assert "<secret sha256:" in result.out
    doc = _valid(outputs[0].out)
    (obj,) = _objects(doc["groups"][0])
    assert obj["kind"] == "Secret"
    assert obj["paths"] == ["data.token", "data.user"]


LAST_APPLIED_COPY = json.dumps({"apiVersion": "v1", "kind": "Secret",
                                "metadata": {"name": "db", "namespace": "default"},
                                "stringData": {"password": "hunter2-APPLIED-COPY"}})


def test_the_last_applied_configuration_is_scrubbed_from_every_diff(
        example_repo: pygit2.Repository) -> None:
    """A Secret, and a ConfigMap, each carrying kubectl's last-applied-configuration
    annotation with a copy of a Secret in it: no value of the copy reaches any format of
    the diff, nor the Secret's own stringData; the annotation is there, scrubbed."""
    pkg = "bases/rbac-baseline/package.yaml"
    _write(example_repo, pkg, (Path(example_repo.workdir) / pkg).read_text()
           + "allowPlaintextSecrets: true\n")
    layer = "overlays/clusters/store-0001/rbac-baseline"
    _write(example_repo, f"{layer}/kustomization.yaml",
           "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
           "resources: [applied.yaml]\n")
    annotation = json.dumps(LAST_APPLIED_COPY)
    _write(example_repo, f"{layer}/applied.yaml",
           "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: default\n"
           f"  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: {annotation}\n"
           "stringData: {password: hunter2-OWN-VALUE}\n---\n"
           "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\n"
           f"  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: {annotation}\n"
           "data: {level: info}\n")
    commit_all(example_repo, "Objects once applied by hand")
    for fmt in ("json", "markdown", "text"):
        result = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--cluster",
                         "store-0001", "--format", fmt)
        assert result.code == 0, result.err
        assert "hunter2" not in result.out
        assert "<scrubbed>" in result.out
        assert "level: info" in result.out  # the ConfigMap's own data is shown
    doc = _valid(hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1",
                         "--cluster", "store-0001", "--format", "json").out)
    kinds = sorted(o["kind"] for o in _objects(doc["groups"][0]))
    assert kinds == ["ConfigMap", "Secret"]


def test_the_redaction_salt_comes_from_the_command_context(
        example_repo: pygit2.Repository) -> None:
    """HYDRATE_DIFF_SALT is read from the context's environment (not the process's): the
    same salt hides a value behind the same hash in two reports, another salt behind
    another hash."""
    _rotate_a_secret(example_repo)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "HYDRATE_"))}
    environ["HYDRATE_CACHE_DIR"] = shared_cache()

    def hashes(salt: str) -> list[str]:
        ctx = Context(Path(example_repo.workdir), {**environ, "HYDRATE_DIFF_SALT": salt})
        found = diff_mod.run(ctx, diff_mod.DiffOptions(base="HEAD~1", clusters=("store-0001",)))
        return re.findall(r"<secret sha256:[0-9a-f]+>", diffviews.to_json(found))

    first = hashes("one")
    assert first
    assert hashes("one") == first
    assert hashes("two") != first


def test_a_generator_hash_rename_is_one_change(example_repo: pygit2.Repository) -> None:
    _edit(example_repo, "bases/log-shipper/kustomization.yaml", "FLB_LOG_LEVEL=info",
          "FLB_LOG_LEVEL=warn")
    commit_all(example_repo, "Quieter log shipper")
    doc = _diff(example_repo, "--cluster", "edge-lab")
    objects = _objects(doc["groups"][0])
    configmaps = [o for o in objects if o["kind"] == "ConfigMap"]
    assert len(configmaps) == 1
    (cm,) = configmaps
    assert cm["change"] == "changed"
    assert cm["oldName"].startswith("log-shipper-env-")
    assert cm["name"].startswith("log-shipper-env-")
    assert cm["name"] != cm["oldName"]
    assert "data.FLB_LOG_LEVEL" in cm["paths"]
    assert not [o for o in objects if o["change"] in ("added", "removed")]


RISKY_BASE = """\
apiVersion: kustomize.config.k8s.io/v1alpha1
kind: Component
resources: [extra.yaml]
"""
EXTRA = """\
apiVersion: v1
kind: ConfigMap
metadata: {{name: old-notes, namespace: pos}}
data: {{a: b}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: scratch, namespace: pos}}
spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {{name: migrate, namespace: pos}}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: migrate, image: "registry.example/migrate:{job}"}}]
---
apiVersion: v1
kind: Service
metadata: {{name: legacy, namespace: pos}}
spec: {{clusterIP: {ip}, ports: [{{port: 80}}]}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: legacy-worker, namespace: pos}}
spec:
  selector: {{matchLabels: {{app: {app}}}}}
  template:
    metadata: {{labels: {{app: {app}}}}}
    spec:
      containers: [{{name: worker, image: "registry.example/worker:{worker}"}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: ops}}
rules: [{{apiGroups: [""], resources: [pods], verbs: {verbs}}}]
"""
ADMIN = """\
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-admin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: Group, name: ops, apiGroup: rbac.authorization.k8s.io}]
"""


def test_risk_flags(example_repo: pygit2.Repository) -> None:
    layer = "overlays/clusters/store-0001/rbac-baseline"
    _write(example_repo, f"{layer}/kustomization.yaml", RISKY_BASE)
    _write(example_repo, f"{layer}/extra.yaml", EXTRA.format(job="1.0", ip="10.0.0.10",
                                                              app="worker", worker="1.0",
                                                              verbs="[get]"))
    commit_all(example_repo, "Extras")
    head = EXTRA.format(job="2.0", ip="10.0.0.11", app="worker-v2", worker="latest",
                        verbs='["*"]')
    docs = head.split("---\n")
    head = "---\n".join(d for d in docs if "old-notes" not in d and "scratch" not in d) + ADMIN
    _write(example_repo, f"{layer}/extra.yaml", head)
    _edit(example_repo, "bases/namespaces/namespaces.yaml", "  name: tracing\n", "  name: tracing\n"
          "  labels: {gone: soon}\n")
    text = (Path(example_repo.workdir) / "bases/namespaces/namespaces.yaml").read_text()
    docs = text.split("---\n")
    _write(example_repo, "bases/namespaces/namespaces.yaml",
           "---\n".join(d for d in docs if "name: tracing" not in d))
    crds = (Path(example_repo.workdir) / "bases/cert-manager/crds.yaml").read_text().split("---\n")
    _write(example_repo, "bases/cert-manager/crds.yaml",
           "---\n".join(d for d in crds if "name: issuers.cert-manager.io" not in d))
    _write(example_repo, "overlays/clusters/store-0001/pos-app/values.yaml",
           "image:\n  tag: latest\n")
    commit_all(example_repo, "Risky")
    doc = _diff(example_repo, "--cluster", "store-0001")
    found = {(r["rule"], r["object"]) for r in doc["risks"]}
    assert ("object-removed", "ConfigMap pos/old-notes") in found
    assert ("pvc-removed", "PersistentVolumeClaim pos/scratch") in found
    assert ("namespace-removed", "Namespace tracing") in found
    assert ("crd-removed", "CustomResourceDefinition issuers.cert-manager.io") in found
    assert ("immutable-field", "Job pos/migrate") in found
    assert ("immutable-field", "Service pos/legacy") in found
    assert ("immutable-field", "Deployment pos/legacy-worker") in found
    assert ("floating-image", "Deployment pos/legacy-worker") in found
    assert ("floating-image", "Deployment pos/pos-app") in found
    assert ("rbac-wildcard", "ClusterRole ops") in found
    assert ("cluster-admin-binding", "ClusterRoleBinding ops-admin") in found
    levels = {r["rule"]: r["level"] for r in doc["risks"]}
    assert levels["pvc-removed"] == levels["rbac-wildcard"] == "high"
    assert doc["risks"][0]["level"] == "high"  # high risks come first
    markdown = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--cluster",
                       "store-0001", "--format", "markdown").out
    assert markdown.index("⚠️ Risks") < markdown.index("| environment |")
    assert "🔴 **pvc-removed** `PersistentVolumeClaim pos/scratch`" in markdown


def test_clusters_added_and_removed_by_the_inventory(example_repo: pygit2.Repository) -> None:
    store = (Path(example_repo.workdir) / "fleet/clusters/store-0002.yaml").read_text()
    _write(example_repo, "fleet/clusters/store-0007.yaml",
           store.replace("store-0002", "store-0007").replace('"0002"', '"0007"'))
    (Path(example_repo.workdir) / "fleet/clusters/store-0005.yaml").unlink()
    commit_all(example_repo, "Open 0007, close 0005")
    doc = _diff(example_repo, "--env", "prod")
    statuses = {g["status"]: [c["cluster"] for c in _members(g)] for g in doc["groups"]}
    assert statuses == {"added": ["store-0007"], "removed": ["store-0005"]}
    removed = next(g for g in doc["groups"] if g["status"] == "removed")
    assert all(o["change"] == "removed" for o in _objects(removed))
    assert {r["rule"] for r in doc["risks"]} == {"cluster-removed"}
    text = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--env", "prod")
    assert text.code == 0, text.err
    assert text.out.splitlines()[3] == (
        "! high    cluster-removed: store-0005 cluster store-0005 removed from the inventory: its "
        "directory leaves env prod: Argo CD's ApplicationSet hydrate-prod deletes Application "
        "store-0005 and keeps what it applied (preserveResourcesOnDeletion); delete that on "
        "purpose (docs/guides.md, Retire a cluster safely) (1 cluster: store-0005)")


def test_a_cluster_moved_to_another_environment_is_a_high_risk(
        example_repo: pygit2.Repository) -> None:
    _edit(example_repo, "fleet/clusters/store-0005.yaml", "environment: prod", "environment: staging")
    _edit(example_repo, "fleet/environments.yaml", "- name: staging\n",
          "- name: staging\n  agent: flux\n")
    commit_all(example_repo, "store-0005 becomes a staging store, and staging moves to Flux")
    doc = _diff(example_repo)
    statuses = {g["status"]: [(c["environment"], c["cluster"]) for c in _members(g)]
                for g in doc["groups"] if g["status"] != "changed"}
    assert statuses == {"added": [("staging", "store-0005")], "removed": [("prod", "store-0005")]}
    (moved,) = [r for r in doc["risks"] if r["object"] == "store-0005"]
    assert (moved["rule"], moved["level"], moved["clusters"]) == ("cluster-moved", "high",
                                                                  ["store-0005"])
    assert moved["message"] == (
        "cluster store-0005 moves from environment prod to staging: Argo CD's ApplicationSet "
        "hydrate-prod deletes Application store-0005 once prod's branch drops it, keeping its "
        "objects (preserveResourcesOnDeletion; an ApplicationSet applied before hydrate set it "
        "deletes them all: apply `hydrate bootstrap --env prod` first); apply `hydrate bootstrap "
        "--env staging --cluster store-0005` in the cluster so Flux follows staging's branch; in "
        "between nothing syncs the cluster")
    assert doc["risks"][0] == moved  # high risks first
    # Seen from one side alone, it is still a move, not a removal.
    for env in ("prod", "staging"):
        one = _diff(example_repo, "--env", env)
        assert [r["rule"] for r in one["risks"] if r["object"] == "store-0005"] == ["cluster-moved"]
    text = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--env", "prod")
    assert "! high    cluster-moved: store-0005 cluster store-0005 moves from environment prod " \
        "to staging: " in text.out
    # Between two Argo CD environments, the new ApplicationSet adopts the kept objects.
    _edit(example_repo, "fleet/environments.yaml", "  agent: flux\n", "")
    commit_all(example_repo, "Staging back on Argo CD")
    doc = _diff(example_repo, "--base", "HEAD~2")
    (moved,) = [r for r in doc["risks"] if r["object"] == "store-0005"]
    assert moved["message"].endswith(
        "apply `hydrate bootstrap --env prod` first); hydrate-staging creates the Application "
        "again from staging's branch, adopting the objects, once the old one is gone; in between "
        "nothing syncs the cluster")


def test_exit_codes(example_repo: pygit2.Repository) -> None:
    repo = example_repo.workdir
    same = hydrate("--repo", repo, "diff", "--base", "HEAD", "--exit-code", "--env", "dev")
    assert same.code == 0, same.err
    assert "no rendered changes (4 clusters unchanged)" in same.out
    _edit(example_repo, "fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 4")
    commit_all(example_repo, "Four")
    changed = hydrate("--repo", repo, "diff", "--base", "HEAD~1", "--exit-code", "--env", "dev")
    assert changed.code == 1
    assert hydrate("--repo", repo, "diff", "--base", "HEAD~1", "--env", "dev").code == 0
    _write(example_repo, "overlays/clusters/store-lab/pos-app/values.yaml", "storeId: null\n")
    commit_all(example_repo, "Broken")
    broken = hydrate("--repo", repo, "diff", "--base", "HEAD~1", "--exit-code", "--env", "dev",
                     "--format", "markdown")
    assert broken.code == 2
    assert "❌ hydrate could not render this change" in broken.out
    assert "head HEAD does not render: store-lab/pos-app: helm failed" in broken.out
    assert "No rendered changes" not in broken.out
    bad_rev = hydrate("--repo", repo, "diff", "--base", "nope", "--exit-code")
    assert bad_rev.code == 2
    assert "nope: no such revision" in bad_rev.err


def test_json_round_trips(example_repo: pygit2.Repository, tmp_path: Path) -> None:
    _edit(example_repo, "fleet/classes/edge.yaml", "agentReplicas: 1", "agentReplicas: 2")
    (Path(example_repo.workdir) / "fleet/clusters/store-0005.yaml").unlink()
    commit_all(example_repo, "Mixed")
    out = tmp_path / "diff.json"
    result = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--format",
                     "markdown", "--json", out, "--output", tmp_path / "comment.md")
    assert result.code == 0, result.err
    doc = _valid(out.read_text())
    parsed = diffviews.from_dict(doc)
    assert diffviews.to_dict(parsed) == doc
    assert diffviews.from_dict(json.loads(diffviews.to_json(parsed))) == parsed
    assert doc["schemaVersion"] == 1
    assert len(parsed.groups) == 2
    # The comment of the same run, against what it must say (written here, not by the code).
    comment = (tmp_path / "comment.md").read_text()
    top = comment[:comment.index("<details>")]
    assert top == "\n".join([
        "<!-- hydrate-diff -->",
        f"### hydrate: rendered diff `HEAD~1 ({_short(example_repo, 'HEAD~1')})` → "
        f"`HEAD ({_short(example_repo, 'HEAD')})`",
        "",
        "**5 clusters changed in 2 groups, 13 unchanged; objects +0 ~4 -64**",
        "",
        "#### ⚠️ Risks",
        "",
        "- 🔴 **cluster-removed** `store-0005`: cluster store-0005 removed from the inventory: "
        "its directory leaves env prod: Argo CD's ApplicationSet hydrate-prod deletes "
        "Application store-0005 and keeps what it applied (preserveResourcesOnDeletion); delete "
        "that on purpose (docs/guides.md, Retire a cluster safely) — 1 cluster: store-0005",
        "",
        "| environment | class | clusters changed | unchanged | added | removed | objects + "
        "| ~ | − |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
        "| dev | datacenter | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
        "| dev | edge | 1 | 0 | 0 | 0 | 0 | 1 | 0 |",
        "| dev | micro-dc | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
        "| dev | pop | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
        "| staging | datacenter | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
        "| staging | edge | 1 | 0 | 0 | 0 | 0 | 1 | 0 |",
        "| staging | pop | 0 | 1 | 0 | 0 | 0 | 0 | 0 |",
        "| prod | datacenter | 0 | 2 | 0 | 0 | 0 | 0 | 0 |",
        "| prod | edge | 2 | 0 | 0 | 0 | 0 | 2 | 0 |",
        "| prod | micro-dc | 0 | 2 | 0 | 0 | 0 | 0 | 0 |",
        "| prod | pop | 0 | 4 | 0 | 1 | 0 | 0 | 64 |",
        "",
        "✂️ Diffs longer than 25 lines were cut to fit a comment. Full report: the JSON "
        "report (`--format json`).",
        "", ""])
    assert re.findall("^<summary><b>.*", comment, re.M) == [
        "<summary><b>same change on 4 clusters of class edge (dev, staging, prod)</b> · +0 ~1 -0"
        "</summary>",
        "<summary><b>cluster removed: store-0005 (class pop, prod)</b> · +0 ~0 -64</summary>"]
    assert "\nClusters: edge-lab, edge-lyon-plant, edge-hamburg-port, edge-rotterdam-port\n" in comment
    assert comment.count("```diff\n") == 1 + 64
    assert comment.count("_… ") == len(re.findall(r"_… (1 more line|\d+ more lines) in the full report_",
                                                    comment))
    assert len(comment) <= 65_536


# The whole comment for one changed object, as a reviewer reads it.
ONE_CHANGE = """\
<!-- hydrate-diff -->
### hydrate: rendered diff `HEAD~1 ({base})` → `HEAD ({head})`

**1 cluster changed in 1 group, 3 unchanged; objects +0 ~1 -0**

| environment | class | clusters changed | unchanged | added | removed | objects + | ~ | − |
|---|---|--:|--:|--:|--:|--:|--:|--:|
| dev | datacenter | 0 | 1 | 0 | 0 | 0 | 0 | 0 |
| dev | edge | 1 | 0 | 0 | 0 | 0 | 1 | 0 |
| dev | micro-dc | 0 | 1 | 0 | 0 | 0 | 0 | 0 |
| dev | pop | 0 | 1 | 0 | 0 | 0 | 0 | 0 |

<details>
<summary><b>edge-lab (class edge, dev)</b> · +0 ~1 -0</summary>

<details>
<summary><code>~ Deployment monitoring/monitoring-agent [monitoring-agent]: spec.replicas</code></summary>

```diff
--- a/monitoring-agent/deployment.apps_monitoring_monitoring-agent.yaml
+++ b/monitoring-agent/deployment.apps_monitoring_monitoring-agent.yaml
@@ -13,7 +13,7 @@
   name: monitoring-agent
   namespace: monitoring
 spec:
-  replicas: 1
+  replicas: 2
   selector:
     matchLabels:
       app.kubernetes.io/instance: monitoring-agent
```

</details>

</details>
"""


def test_the_markdown_comment_in_full(example_repo: pygit2.Repository) -> None:
    _edit(example_repo, "fleet/classes/edge.yaml", "agentReplicas: 1", "agentReplicas: 2")
    commit_all(example_repo, "Two agents on the edge")
    result = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--env", "dev",
                     "--format", "markdown")
    assert result.code == 0, result.err
    assert result.out == ONE_CHANGE.format(base=_short(example_repo, "HEAD~1"),
                                           head=_short(example_repo, "HEAD"))


BROKEN_BASES = {
    # a chart that fails on the base's values
    "render": ("overlays/clusters/store-lab/pos-app/values.yaml", "storeId: null\n",
               "store-lab/pos-app: helm failed (exit 1): execution error at "
               "(bases/pos-app/chart/templates/service.yaml:7:8): storeId is required "
               '(the store number, e.g. "0042")'),
    # an inventory that does not load
    "inventory": ("fleet/clusters/store-lab.yaml", "name: store-lab\nclass: [pop\n",
                  "fleet/clusters/store-lab.yaml:"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_BASES))
def test_a_base_that_does_not_render_is_never_no_change(example_repo: pygit2.Repository,
                                                        broken: str) -> None:
    """A change that fixes a broken base is reported as a failure (exit 2 with
    --exit-code), in every format: never as "no changes"."""
    rel, text, error = BROKEN_BASES[broken]
    path = Path(example_repo.workdir) / rel
    good = path.read_text() if path.exists() else None
    _write(example_repo, rel, text)
    commit_all(example_repo, "Broken")
    if good is None:
        path.unlink()
    else:
        path.write_text(good)
    commit_all(example_repo, "Fixed")
    repo = example_repo.workdir
    args = ("--repo", repo, "diff", "--base", "HEAD~1", "--env", "dev", "--exit-code")
    markdown = hydrate(*args, "--format", "markdown")
    assert markdown.code == 2, markdown.err
    head = [
        "<!-- hydrate-diff -->",
        f"### hydrate: rendered diff `HEAD~1 ({_short(example_repo, 'HEAD~1')})` → "
        f"`HEAD ({_short(example_repo, 'HEAD')})`",
        "",
        "#### ❌ hydrate could not render this change",
        "",
        "```text"]
    lines = markdown.out.splitlines()
    assert lines[:len(head)] == head
    assert lines[len(head)].startswith(f"base HEAD~1 does not render: {error}")
    assert lines[-1] == "```"
    assert "o rendered changes" not in markdown.out
    first = markdown.err.splitlines()[0]
    assert first.startswith(f"hydrate: error: base HEAD~1 does not render: {error}")
    doc = _valid(hydrate(*args, "--format", "json").out)
    assert doc["error"].startswith(f"base HEAD~1 does not render: {error}")
    assert (doc["groups"], doc["summary"]["clustersChanged"]) == ([], 0)
    plain = hydrate(*args)
    assert plain.code == 2
    assert plain.out.splitlines()[1].startswith(f"render failed: base HEAD~1 does not render: "
                                                f"{error}")
    assert hydrate(*args[:-1]).code == 1  # without --exit-code: an error all the same


def test_against_the_environment_branch(example_repo: pygit2.Repository) -> None:
    repo = example_repo.workdir
    assert hydrate("--repo", repo, "publish", "--env", "dev").code == 0
    clean = hydrate("--repo", repo, "diff", "--against-branch", "--env", "dev", "--format", "json")
    assert clean.code == 0, clean.err
    assert _valid(clean.out)["groups"] == []
    _edit(example_repo, "fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 5")
    commit_all(example_repo, "Five")
    doc = _json(hydrate("--repo", repo, "diff", "--against-branch", "--env", "dev",
                        "--format", "json"))
    assert _clusters(doc) == [["store-lab"]]
    assert doc["base"]["rev"] == "env/dev"


def test_base_or_against_branch_is_required(example_repo: pygit2.Repository) -> None:
    result = hydrate("--repo", example_repo.workdir, "diff")
    assert result.code == 2
    assert "give either --base REV or --against-branch" in result.err


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_no_change_is_said_plainly(example_repo: pygit2.Repository, fmt: str) -> None:
    result = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD", "--env", "staging",
                     "--format", fmt)
    assert result.code == 0
    if fmt == "json":
        assert _valid(result.out)["groups"] == []
    else:
        assert "o rendered changes" in result.out


def test_against_branches_names_each_head_in_full(example_repo: pygit2.Repository) -> None:
    repo = example_repo.workdir
    assert hydrate("--repo", repo, "publish", *BYPASS, "--env", "dev", "--env", "staging").code == 0
    heads = {env: str(example_repo.references[f"refs/heads/env/{env}"].target)
             for env in ("dev", "staging")}
    one = _json(hydrate("--repo", repo, "diff", "--against-branch", "--env", "dev",
                        "--format", "json"))
    assert one["base"]["commit"] == heads["dev"]
    both = hydrate("--repo", repo, "diff", "--against-branch", "--env", "dev", "--env", "staging",
                   "--env", "prod", "--format", "json")
    assert both.code == 0, both.err
    base = _valid(both.out)["base"]
    assert base["commit"] is None
    assert base["branches"] == [
        {"environment": "dev", "branch": "env/dev", "commit": heads["dev"]},
        {"environment": "staging", "branch": "env/staging", "commit": heads["staging"]},
        {"environment": "prod", "branch": "env/prod", "commit": None}]
    text = hydrate("--repo", repo, "diff", "--against-branch", "--env", "staging", "--env", "prod")
    assert text.out.splitlines()[0] == (
        f"hydrate diff env/staging ({heads['staging'][:7]}), env/prod (not published) → "
        f"HEAD ({str(example_repo.head.target)[:7]})")


def test_a_configuration_folder_inside_a_bigger_repository(tmp_path: Path) -> None:
    top = tmp_path / "monorepo"
    copy_example(top / "platform/fleet")
    repo = pygit2.init_repository(str(top), initial_head="main")
    commit_all(repo, "Monorepo")
    replace_in(top / "platform/fleet/fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 5")
    commit_all(repo, "Five")
    result = hydrate("--repo", top / "platform/fleet", "diff", "--base", "HEAD~1", "--format",
                     "json")
    assert result.code == 0, result.err
    (changed,) = _clusters(_valid(result.out))
    assert sorted(changed) == ["store-0001", "store-0002", "store-0003", "store-0004",
                               "store-0005", "store-0006", "store-lab"]


def test_a_change_that_waives_an_error_the_api_server_enforces_shows_it(
        example_repo: pygit2.Repository) -> None:
    root = Path(example_repo.workdir)
    daemonset = root / "bases/log-shipper/daemonset.yaml"
    daemonset.write_text(daemonset.read_text().replace("        imagePullPolicy: IfNotPresent",
                                                       "        imagePullPolcy: IfNotPresent"))
    line = len((root / "fleet/policy.yaml").read_text().splitlines()) + 1  # the waiver's
    with (root / "fleet/policy.yaml").open("a") as f:
        f.write("- {rule: schema, packages: [log-shipper], objects: [DaemonSet/logging/log-shipper], "
                "reason: vendor bug, expires: 2099-01-01}\n")
    commit_all(example_repo, "log-shipper typo, waived")
    doc = _diff(example_repo, "--cluster", "store-0001")
    (added,) = doc["findings"]["added"]
    assert (added["rule"], added["field"]) == ("schema", "spec.template.spec.containers[0].imagePullPolcy")
    assert added["message"].endswith(f"(waived by fleet/policy.yaml:{line}: vendor bug)")


def test_findings_the_change_brings_and_fixes(example_repo: pygit2.Repository) -> None:
    # Base: a store runs an untagged image. Head: that is fixed, and a privileged container
    # appears in the same package (a change of one package on one cluster).
    _write(example_repo, "overlays/clusters/store-0003/pos-app/values.yaml", "image: {tag: latest}\n")
    commit_all(example_repo, "store-0003 on latest")
    (Path(example_repo.workdir) / "overlays/clusters/store-0003/pos-app/values.yaml").unlink()
    _write(example_repo, "overlays/clusters/store-0003/pos-app/kustomization.yaml",
           "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n"
           "- target: {kind: Deployment, name: pos-app}\n  patch: |\n"
           "    - {op: add, value: true,\n"
           "       path: /spec/template/spec/containers/0/securityContext/privileged}\n")
    commit_all(example_repo, "store-0003 privileged")
    doc = _diff(example_repo)
    added, removed = doc["findings"]["added"], doc["findings"]["removed"]
    assert [(f["rule"], f["severity"], f["clusters"], f["field"]) for f in removed] == [
        ("latest-tag", "error", ["store-0003"], "spec.template.spec.containers[0].image")]
    # The store's inline patch set the field: the findings point at its operation, with
    # the chart's template (where the object comes from) as the related location.
    patch = "overlays/clusters/store-0003/pos-app/kustomization.yaml:6"
    assert sorted((f["rule"], f["clusters"], f"{f['source']['path']}:{f['source']['line']}")
                  for f in added) == [("privilege-escalation", ["store-0003"], patch),
                                      ("privileged", ["store-0003"], patch)]
    assert all(f["related"] == [{"path": "bases/pos-app/chart/templates/deployment.yaml", "line": 73}]
               for f in added)
    md = hydrate("--repo", example_repo.workdir, "diff", "--base", "HEAD~1", "--format", "markdown")
    assert "#### 🔎 Validation: 2 new findings, 1 fixed" in md.out
    assert "- ✅ fixed: **latest-tag** `Deployment/pos/pos-app` container 'pos-app' image " in md.out
