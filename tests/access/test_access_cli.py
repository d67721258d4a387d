"""`hydrate access`, the tenant policy and the diff's Access section on the example fleet,
through the real CLI, helm and kustomize."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pygit2
import pytest

from tests.conftest import ROOT, appending, commit_all, hydrate, replace_in, writing

SCHEMA = json.loads((ROOT / "docs/diff.schema.json").read_text())
TEAM = "overlays/classes/pop/rbac-baseline/retail-app-team.yaml"


def test_can_answers_per_cluster_and_exits_4_when_one_denies(example: Path) -> None:
    allowed = hydrate("--repo", example, "access", "--class", "pop", "--subject", "group:retail-app-team",
                      "--can", "delete", "secrets", "--namespace", "pos")
    assert allowed.code == 0, allowed.err
    assert "yes on all 7 clusters: pop 7 (dev, staging, prod)" in allowed.out
    assert f"RoleBinding pos/retail-app-team-edit ({TEAM}:8)" in allowed.out
    # Not cluster-wide, not in another namespace, not on the classes without pos-app.
    for args in (["--class", "pop"], ["--class", "pop", "--namespace", "kube-system"],
                 ["--namespace", "pos"]):
        denied = hydrate("--repo", example, "access", *args, "--subject", "group:retail-app-team",
                         "--can", "delete", "secrets")
        assert denied.code == 4, (args, denied.out, denied.err)
        assert "no on" in denied.out


def test_can_without_a_subject_lists_who_can(example: Path) -> None:
    result = hydrate("--repo", example, "access", "--class", "edge", "--can", "get", "secrets")
    assert result.code == 0, result.err
    who = [line for line in result.out.splitlines() if line and not line.startswith(" ")]
    assert who[:2] == ["group:platform-admins", "group:platform-developers"]
    assert "group:retail-app-team" not in result.out  # not bound on the edge class
    assert "edge-lab" in result.out


def test_json_lists_each_permission_with_clusters_binding_and_line(example: Path) -> None:
    result = hydrate("--repo", example, "access", "--subject", "group:retail-app-team", "--format", "json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    (entry,) = doc["subjects"]
    assert entry["subject"] == {"kind": "Group", "name": "retail-app-team", "namespace": None}
    secrets = [p for p in entry["permissions"] if p["resource"] == "secrets"]
    assert {v for p in secrets for v in p["verbs"]} >= {"get", "delete", "create"}
    assert all(p["namespace"] == "pos" for p in entry["permissions"])
    via = secrets[0]["via"]
    assert via["binding"]["source"] == {"path": TEAM, "line": 8}  # its roleRef
    assert via["role"] == "ClusterRole edit"
    assert via["aggregated"] is True
    assert "store-0001" in secrets[0]["clusters"]
    assert "edge-lab" not in secrets[0]["clusters"]
    assert "dc-lab-1" not in secrets[0]["clusters"]  # runs pos-app, but is no pop
    # The built-in data is named with its source and licence.
    (source,) = doc["builtin"].values()
    assert "kubernetes/kubernetes" in json.dumps(source)


def test_service_account_gets_what_its_groups_are_bound_to(example: Path) -> None:
    writing("bases/pos-app/chart/templates/sa-read.yaml", """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: all-sa-read-nodes}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:node-proxier}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:serviceaccounts:pos"}
""")(example)
    yes = hydrate("--repo", example, "access", "--cluster", "store-0001", "--subject",
                  "serviceaccount:pos/default", "--can", "list", "endpointslices.discovery.k8s.io")
    assert yes.code == 0, yes.out + yes.err
    assert "ClusterRoleBinding all-sa-read-nodes" in yes.out, yes.out + yes.err
    no = hydrate("--repo", example, "access", "--cluster", "store-0001", "--subject",
                 "serviceaccount:ingress/default", "--can", "list", "endpointslices.discovery.k8s.io")
    assert no.code == 4, no.out


@pytest.mark.parametrize(("args", "message"), [
    (["--subject", "pod:x"], "KIND:NAME"),
    (["--subject", "serviceaccount:nonamespace"], "serviceaccount:NAMESPACE/NAME"),
    (["--can", "get", ".apps"], "name a resource"),
])
def test_usage_errors_exit_2(example: Path, args: list[str], message: str) -> None:
    result = hydrate("--repo", example, "access", *args)
    assert result.code == 2, result.err
    assert message in result.err, result.err


def test_a_tenant_bound_beyond_its_policy_fails_validation_at_the_binding(example: Path) -> None:
    replace_in(example / TEAM, "  name: edit", "  name: admin")
    appending(TEAM, """---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: team-reads-everything
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: view
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: retail-app-team
""")(example)
    result = hydrate("--repo", example, "validate", "--format", "json")
    assert result.code == 1, result.err
    found = {(f["rule"], f["object"]["name"]): f for f in json.loads(result.out)["findings"]
             if f["rule"].startswith("access-")}
    role = found[("access-tenant-role", "retail-app-team-edit")]
    assert role["severity"] == "error"
    assert role["source"] == {"path": TEAM, "line": 8}
    assert "rolebindings.rbac.authorization.k8s.io" in role["message"]  # admin's, not edit's
    assert role["package"] == "rbac-baseline"
    assert len(role["clusters"]) == 7
    scope = found[("access-tenant-scope", "team-reads-everything")]
    assert "cluster-wide" in scope["message"]
    # A waiver with a scope takes the finding away, as for any rule.
    replace_in(example / "fleet/policy.yaml", "waivers:\n", """waivers:
- rule: access-tenant-scope
  objects: [ClusterRoleBinding/team-reads-everything]
  reason: read-only across namespaces for the migration
""")
    after = hydrate("--repo", example, "validate", "--format", "sarif")
    assert after.code == 1, after.err
    rules = {r["ruleId"] for r in json.loads(after.out)["runs"][0]["results"]}
    assert "access-tenant-role" in rules
    assert "access-tenant-scope" not in rules


def test_unknown_keys_in_the_access_policy_are_named(example: Path) -> None:
    replace_in(example / "fleet/policy.yaml", "    maxRole: edit", "    maxRole: edit\n    maxrole: view")
    result = hydrate("--repo", example, "validate")
    assert result.code == 1, result.err
    assert "fleet/policy.yaml" in result.err, result.err
    assert "maxrole" in result.err, result.err


def test_the_diff_leads_with_the_access_a_change_gives(example_repo: pygit2.Repository) -> None:
    root = Path(example_repo.workdir)
    replace_in(root / TEAM, "  name: edit", "  name: admin")
    commit_all(example_repo, "Give the retail team admin")
    result = hydrate("--repo", root, "diff", "--base", "HEAD~1", "--format", "markdown",
                     "--json", root / "diff.json")
    assert result.code == 0, result.err
    doc = json.loads((root / "diff.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    gained = [c for c in doc["access"]["gained"] if c["resource"] == "rolebindings"]
    assert gained
    assert gained[0]["subject"]["name"] == "retail-app-team"
    assert gained[0]["namespace"] == "pos"
    assert len(gained[0]["clusters"]) == 7
    assert gained[0]["via"]["role"] == "ClusterRole admin"
    assert doc["access"]["lost"] == []
    body = result.out
    assert body.index("#### 🔐 Access") < body.index("| environment |")
    assert "`group:retail-app-team` gains" in body


def test_the_fleet_page_shows_access_per_cluster_and_per_subject(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = hydrate("--repo", example, "report", "--html", out)
    assert result.code == 0, result.err
    store = (out / "clusters/store-0001.html").read_text()
    edge = (out / "clusters/edge-lab.html").read_text()
    assert "group:retail-app-team" in store
    assert f"RoleBinding pos/retail-app-team-edit ({TEAM}:8)" in store
    assert "group:retail-app-team" not in edge  # not a store
    pages = list((out / "subjects").glob("group-retail-app-team-*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert "7 clusters: pop 7 (dev, staging, prod)" in page
    assert 'href="../clusters/store-0001.html"' in page
    index = (out / "index.html").read_text()
    assert f'href="subjects/{pages[0].name}"' in index
