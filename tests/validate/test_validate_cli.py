"""`hydrate validate` on the example fleet with one of each kind of defect planted, through
the real CLI, helm and kustomize: each finding exact, at the line that produced it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pygit2
import pytest

from tests.conftest import appending, commit_all, copy_example, hydrate, replace_in, writing

COMPONENT = "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
HPA = """apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: log-shipper}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: none}
  maxReplicas: 2
"""
CUSTOM = """apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: bad, namespace: cert-manager}
spec:
  secretName: bad-tls
  issuerRef: {name: internal, kind: ClusterIssuer}
  dnsNames: [a.example.com]
  duration: 5
  renewBeforeExpiry: 1h
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: cert-manager}
---
apiVersion: apps.example.com/v1
kind: Deployment
metadata: {name: d, namespace: cert-manager}
spec: {replicas: many}
---
# SOPS-encrypted: no finding (the agent decrypts it and drops the sops section).
apiVersion: v1
kind: Secret
metadata: {name: sealed, namespace: cert-manager}
data:
  password: ENC[AES256_GCM,data:Tr7o1w==,iv:1=2bCbuH7r7uNBg/UXnwTeV26Kq1cqoGMd5g3X7xv8Q=,\
tag:2bJ9/6xT5fZtEy2ZrLQiTA==,type:str]
sops: {version: 3.9.0, mac: x}
"""


def _plant(root: Path) -> None:
    # Kustomize: a typo'd field in a base file.
    replace_in(root / "bases/log-shipper/daemonset.yaml", "        imagePullPolicy: IfNotPresent",
               "        imagePullPolcy: IfNotPresent")
    # An API version removed in 1.26, served by the edge class once it runs 1.25.
    writing("bases/log-shipper/hpa.yaml", HPA)(root)
    replace_in(root / "bases/log-shipper/kustomization.yaml", "- daemonset.yaml",
               "- daemonset.yaml\n- hpa.yaml")
    replace_in(root / "fleet/classes/edge.yaml", 'kubernetesVersion: "1.29"', 'kubernetesVersion: "1.25"')
    # Helm: an untagged image on one store (latest-tag is an error in the example policy).
    writing("overlays/clusters/store-0003/pos-app/values.yaml", "image: {tag: latest}\n")(root)
    # Custom resources: one against its CRD, two with no schema anywhere.
    writing("overlays/clusters/dc-fra-1/cert-manager/kustomization.yaml",
            f"{COMPONENT}resources: [custom.yaml]\n")(root)
    writing("overlays/clusters/dc-fra-1/cert-manager/custom.yaml", CUSTOM)(root)
    # Capacity: the edge class shrinks below what its clusters request.
    replace_in(root / "fleet/classes/edge.yaml", "capacity: {cpu: \"4\", memory: 8Gi",
               "capacity: {cpu: 140m, memory: 8Gi")
    # A required package one cluster drops, and a waiver nothing uses.
    appending("fleet/clusters/edge-lab.yaml", "packages: {remove: [log-shipper]}\n")(root)
    appending("fleet/policy.yaml",
              "- rule: privileged\n  packages: [pos-app]\n  reason: never needed\n")(root)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = copy_example(tmp_path_factory.mktemp("planted") / "config")
    _plant(root)
    result = hydrate("--repo", root, "validate", "--format", "json")
    assert result.code == 1, result.err
    return root, json.loads(result.out)


def _row(f: dict[str, Any]) -> tuple[Any, ...]:
    obj = f["object"]
    return (f["rule"], f["severity"], f"{obj['kind']}/{obj['name']}" if obj else None, f["field"],
            f"{f['source']['path']}:{f['source']['line']}" if f["source"] else None,
            tuple(f["clusters"]))


DATACENTER = ("dc-ams-1", "dc-fra-1", "dc-fra-2", "dc-lab-1")
MICRO_DC = ("office-berlin", "office-lab", "office-paris")
POP = ("store-0001", "store-0002", "store-0003", "store-0004", "store-0005", "store-0006", "store-lab")
EDGE = ("edge-hamburg-port", "edge-lyon-plant", "edge-rotterdam-port")  # edge-lab has no log-shipper
CUSTOM_FILE = "overlays/clusters/dc-fra-1/cert-manager/custom.yaml"
HPA_NOT_SERVED = ("class {cls}: autoscaling/v2beta2 HorizontalPodAutoscaler is not served by "
                  "Kubernetes {v}; use autoscaling/v2")


def test_each_planted_defect_is_one_exact_finding(planted: tuple[Path, dict[str, Any]]) -> None:
    _, report = planted
    rows = [(*_row(f), f["message"]) for f in report["findings"]]
    assert rows == [
        ("api-not-served", "error", "HorizontalPodAutoscaler/log-shipper", None,
         "bases/log-shipper/hpa.yaml:1", DATACENTER, HPA_NOT_SERVED.format(cls="datacenter", v="1.31")),
        ("api-not-served", "error", "HorizontalPodAutoscaler/log-shipper", None,
         "bases/log-shipper/hpa.yaml:1", MICRO_DC, HPA_NOT_SERVED.format(cls="micro-dc", v="1.30")),
        ("api-not-served", "error", "HorizontalPodAutoscaler/log-shipper", None,
         "bases/log-shipper/hpa.yaml:1", POP, HPA_NOT_SERVED.format(cls="pop", v="1.30")),
        ("capacity", "error", None, None, "fleet/classes/edge.yaml:4", EDGE,
         "requests are over the capacity of class edge: cpu 145m of 140m (104 %), memory 264Mi "
         "of 8Gi (3 %), pods 4 of 110 (4 %)"),
        # Set by the store's values layer: there (the template's line is the related one).
        ("latest-tag", "error", "Deployment/pos-app", "spec.template.spec.containers[0].image",
         "overlays/clusters/store-0003/pos-app/values.yaml:1", ("store-0003",),
         "container 'pos-app' image 'ghcr.io/example-retail/pos-app:latest' uses the latest tag: "
         "pin a version or a digest"),
        ("required-package", "error", None, None, "fleet/policy.yaml:9", ("edge-lab",),
         "the policy requires package log-shipper on every cluster; these clusters do not run it "
         "(class edge, and the cluster's packages: add/remove)"),
        # One typo, every class: one finding (the message names no version).
        ("schema", "error", "DaemonSet/log-shipper", "spec.template.spec.containers[0].imagePullPolcy",
         "bases/log-shipper/daemonset.yaml:37", tuple(sorted(DATACENTER + EDGE + MICRO_DC + POP)),
         "spec.template.spec.containers[0].imagePullPolcy: unknown field (not in apps/v1 DaemonSet; "
         "did you mean 'imagePullPolicy'?)"),
        ("schema", "error", "Certificate/bad", "spec.duration", f"{CUSTOM_FILE}:8", ("dc-fra-1",),
         "spec.duration: 5 is not of type 'string'"),
        ("schema", "error", "Certificate/bad", "spec.renewBeforeExpiry", f"{CUSTOM_FILE}:9", ("dc-fra-1",),
         "spec.renewBeforeExpiry: unknown field (not in cert-manager.io/v1 Certificate of CRD "
         "certificates.cert-manager.io: the API server would drop it; did you mean 'renewBefore'?)"),
        ("capacity", "warning", None, None, "fleet/classes/edge.yaml:4", ("edge-lab",),
         "requests are above 80 % of the capacity of class edge: cpu 135m of 140m (96 %), memory "
         "240Mi of 8Gi (3 %), pods 3 of 110 (3 %)"),
        ("unknown-kind", "warning", "Widget/w", None, f"{CUSTOM_FILE}:11", ("dc-fra-1",),
         "no schema for example.com/v1 Widget: no CRD for it is rendered in this cluster and it "
         "is not built into Kubernetes 1.31"),
        # Not held to the built-in apps/v1 Deployment (its replicas: many would fail that).
        ("unknown-kind", "warning", "Deployment/d", None, f"{CUSTOM_FILE}:15", ("dc-fra-1",),
         "no schema for apps.example.com/v1 Deployment: no CRD for it is rendered in this cluster "
         "and it is not built into Kubernetes 1.31"),
        ("waiver-unused", "warning", None, None, "fleet/policy.yaml:56", (),
         "the waiver of privileged (never needed) matches no finding; remove it"),
    ]
    assert report["summary"]["errors"] == 9
    assert report["summary"]["warnings"] == 4
    latest = next(f for f in report["findings"] if f["rule"] == "latest-tag")
    assert latest["related"] == [{"path": "bases/pos-app/chart/templates/deployment.yaml", "line": 38}]
    assert all(f["related"] == [] for f in report["findings"] if f is not latest)


def test_render_stops_on_error_findings_with_nothing_written(planted: tuple[Path, dict[str, Any]]) -> None:
    root, _ = planted
    out = root / "out"
    result = hydrate("--repo", root, "render", "--cluster", "store-0003", "--out", out)
    assert result.code == 1
    assert result.err.startswith("hydrate: error: validation found 3 errors; nothing was written\n")
    assert ("  overlays/clusters/store-0003/pos-app/values.yaml:1: error [latest-tag] "
            "Deployment/pos/pos-app: spec.template.spec.containers[0].image: container 'pos-app' image "
            "'ghcr.io/example-retail/pos-app:latest' uses the latest tag: pin a version or a digest "
            "(clusters: store-0003)\n") in result.err
    assert not out.exists()


def test_sarif_for_code_scanning(planted: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    root, report = planted
    path = tmp_path / "hydrate.sarif"
    result = hydrate("--repo", root, "validate", "--format", "sarif", "--output", path)
    assert result.code == 1
    assert result.err == f"wrote {path}: 9 errors, 4 warnings\n"
    sarif = json.loads(path.read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules][:3] == ["schema", "api-not-served", "unknown-kind"]
    assert all(r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"]
               for r in rules)
    results = run["results"]
    assert len(results) == len(report["findings"])
    fingerprints = [r["partialFingerprints"]["hydrateFinding/v1"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)
    cert = next(r for r in results if "spec.duration" in r["message"]["text"])
    assert cert["ruleId"] == "schema"
    assert cert["level"] == "error"
    location = cert["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "overlays/clusters/dc-fra-1/cert-manager/custom.yaml"
    assert location["region"] == {"startLine": 8}
    latest = next(r for r in results if r["ruleId"] == "latest-tag")
    assert latest["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "overlays/clusters/store-0003/pos-app/values.yaml"
    assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in latest["relatedLocations"]] == [
        "bases/pos-app/chart/templates/deployment.yaml"]
    for r in results:  # every location is a repository file, relative
        for loc in r.get("locations", []) + r.get("relatedLocations", []):
            assert (root / loc["physicalLocation"]["artifactLocation"]["uri"]).is_file()


def test_an_expired_waiver_waives_nothing_and_is_an_error(example: Path) -> None:
    result = hydrate("--repo", example, "validate", "--cluster", "store-0001",
                     env={"HYDRATE_NOW": "2027-07-01T08:00:00Z"})
    assert result.code == 1
    lines = result.out.splitlines()
    assert ("fleet/policy.yaml:45: error [waiver-expired] the waiver of run-as-root (the node's log "
            "files are readable by root only) expired on 2027-06-30; fix what it waived, or extend "
            "it with a new reason") in lines
    assert ("bases/log-shipper/daemonset.yaml:73: warning [run-as-root] DaemonSet/logging/log-shipper: "
            "spec.template.spec.containers[0].securityContext: container 'fluent-bit' runs as root "
            "(runAsUser: 0)") in lines
    assert re.fullmatch(r"validated 1 cluster \(\d+ distinct objects in [\d.]+s\): 1 error, 1 warning",
                        lines[-1]), lines[-1]


def _rules(root: Path, cluster: str, now: str) -> list[tuple[str, str, str | None]]:
    """(rule, severity, object kind/name) of each finding `validate --cluster` reports."""
    result = hydrate("--repo", root, "validate", "--cluster", cluster, "--format", "json",
                     env={"HYDRATE_NOW": now})
    assert result.code in (0, 1), result.err
    return [(f["rule"], f["severity"], f"{f['object']['kind']}/{f['object']['name']}"
             if f["object"] else None) for f in json.loads(result.out)["findings"]]


def test_a_waiver_still_holds_on_its_expiry_day(example: Path) -> None:
    """The run-as-root waiver expires 2027-06-30: on that day, up to its last second, it
    waives; from the first second of the next day it is an error and waives nothing."""
    for now in ("2027-06-30T00:00:00Z", "2027-06-30T23:59:59Z"):
        assert _rules(example, "store-0001", now) == [], now
    assert _rules(example, "store-0001", "2027-07-01T00:00:00Z") == [
        ("waiver-expired", "error", None),
        ("run-as-root", "warning", "DaemonSet/log-shipper")]


HOST_PATH_WAIVER = """- rule: host-path
  packages: [log-shipper]
  objects: [DaemonSet/logging/log-shipper]
  reason: fluent-bit tails the node's container logs and keeps its position on the node
"""


@pytest.mark.parametrize(("scope", "waived", "not_waived"), [
    ("  sites: [store-0001]\n", "store-0001", "store-0002"),
    ("  classes: [pop]\n", "store-0002", "dc-fra-1"),
    ("  clusters: [dc-*]\n", "dc-fra-1", "store-0001"),
])
def test_a_waiver_scoped_to_sites_or_classes_applies_there_only(
        example: Path, scope: str, waived: str, not_waived: str) -> None:
    """The log-shipper's host-path waiver narrowed to a site, a class or clusters: the
    finding is waived there and reported everywhere else."""
    path = example / "fleet/policy.yaml"
    text = path.read_text()
    assert HOST_PATH_WAIVER in text
    path.write_text(text.replace(HOST_PATH_WAIVER, HOST_PATH_WAIVER + scope))
    now = "2026-12-01T08:00:00Z"
    host_path = ("host-path", "warning", "DaemonSet/log-shipper")
    assert host_path not in _rules(example, waived, now)
    assert host_path in _rules(example, not_waived, now)


def test_publish_stops_on_error_findings_with_nothing_pushed(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "config")
    writing("overlays/clusters/store-lab/pos-app/values.yaml", "image: {tag: latest}\n")(root)
    repo = pygit2.init_repository(str(root), initial_head="main")
    commit_all(repo, "store-lab (dev) on latest")
    remote = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    result = hydrate("--repo", root, "publish", "--remote", remote.path, "--push")
    assert result.code == 1
    assert result.err.startswith("hydrate: error: validation found 1 error; nothing was written\n")
    assert "[latest-tag] Deployment/pos/pos-app" in result.err
    assert list(remote.references) == []
    assert [r for r in repo.references if r.startswith("refs/heads/env/")] == []


def test_an_output_that_cannot_be_written_is_one_line(example: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "hydrate.sarif"
    result = hydrate("--repo", example, "validate", "--cluster", "store-0001", "--format", "sarif",
                     "--output", target)
    assert result.code == 1
    assert result.err == (f"hydrate: error: --output {target}: cannot write: No such file or "
                          "directory\n")
    assert not target.parent.exists()


SCALED = COMPONENT + "resources: [scaling.yaml]\n"
SCALING = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: pos-app, namespace: pos}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: pos-app}
  minReplicas: 30
  maxReplicas: 40
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: store, namespace: pos}
spec:
  replicas: 2
  resources: {requests: {cpu: "1", memory: 2Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: limited, namespace: pos}
spec:
  containers:
  - name: app
    image: registry.example.com/app:1.0
    resources: {requests: {memory: 10Mi}, limits: {cpu: "2", memory: 10Mi}}
---
apiVersion: cache.example.com/v1
kind: Cache
metadata: {name: tills, namespace: pos}
spec: {size: 3, pod: {containers: [{name: c, resources: {requests: {cpu: 250m, memory: 1Gi}}}]}}
"""
CACHE_KIND = """workloads:   # where the cache operator keeps its pods
- {apiGroup: cache.example.com, kind: Cache, replicas: [spec.size], podSpec: spec.pod}
"""


def _requested(root: Path, cluster: str) -> dict[str, float]:
    result = hydrate("--repo", root, "validate", "--cluster", cluster, "--format", "json")
    assert result.code in (0, 1), result.err
    (use,) = json.loads(result.out)["capacity"]
    return dict(use["requested"])


def test_capacity_counts_autoscalers_operators_and_limits(example: Path) -> None:
    before = _requested(example, "store-0001")
    writing("overlays/clusters/store-0001/pos-app/kustomization.yaml", SCALED)(example)
    writing("overlays/clusters/store-0001/pos-app/scaling.yaml", SCALING)(example)
    appending("fleet/policy.yaml", CACHE_KIND)(example)
    after = _requested(example, "store-0001")
    # pos-app: 2 replicas of 100m / 192Mi become the autoscaler's 30; the Prometheus its
    # operator runs, 2 x (1 core, 2Gi); the pod with a CPU limit and no request, 2 cores;
    # the policy's own kind, 3 x (250m, 1Gi).
    assert round(after["cpu"] - before["cpu"], 6) == round(28 * 0.1 + 2 * 1 + 2 + 3 * 0.25, 6)
    assert after["memory"] - before["memory"] == (28 * 192 * 2**20 + 2 * 2 * 2**30 + 10 * 2**20
                                                  + 3 * 2**30)
    assert after["pods"] - before["pods"] == 28 + 2 + 1 + 3


def test_a_workload_scaled_to_zero_requests_nothing(example: Path) -> None:
    """pos-app at 0 replicas on store-0001: its 2 pods (100m, 192Mi each) leave the
    capacity count entirely (a zero taken for "unset" would count one)."""
    before = _requested(example, "store-0001")
    replace_in(example / "fleet/clusters/store-0001.yaml", 'vars: {storeId: "0001"}',
               'vars: {storeId: "0001", posReplicas: 0}')
    after = _requested(example, "store-0001")
    assert before["pods"] - after["pods"] == 2
    assert round(before["cpu"] - after["cpu"], 6) == 0.2
    assert before["memory"] - after["memory"] == 2 * 192 * 2**20


SCHEMA_WAIVER = """- rule: schema
  packages: [log-shipper]
  objects: [DaemonSet/logging/log-shipper]
  reason: the typo ships until fluent-bit 3 (vendor bug 123)
  expires: 2027-01-31
"""


def test_a_waived_error_the_api_server_enforces_is_counted_in_every_report(example: Path,
                                                                          tmp_path: Path) -> None:
    replace_in(example / "bases/log-shipper/daemonset.yaml", "        imagePullPolicy: IfNotPresent",
               "        imagePullPolcy: IfNotPresent")
    # The waiver's line: the first of SCHEMA_WAIVER, after what the policy holds.
    waiver = f"fleet/policy.yaml:{len((example / 'fleet/policy.yaml').read_text().splitlines()) + 1}"
    appending("fleet/policy.yaml", SCHEMA_WAIVER)(example)
    now = {"HYDRATE_NOW": "2026-12-01T08:00:00Z"}
    text = hydrate("--repo", example, "validate", "--cluster", "store-0001", env=now)
    assert text.code == 0, text.out + text.err
    lines = text.out.splitlines()
    at = lines.index("waived (1 error the API server rejects, published because fleet/policy.yaml "
                     "waives them):")
    assert lines[at + 1] == (
        "  bases/log-shipper/daemonset.yaml:37: error [schema] DaemonSet/logging/log-shipper: "
        "spec.template.spec.containers[0].imagePullPolcy: unknown field (not in apps/v1 DaemonSet; "
        "did you mean 'imagePullPolicy'?)")
    assert lines[at + 2] == ("      package log-shipper · 1 cluster: store-0001 · waiver "
                             f"{waiver} (the typo ships until fluent-bit 3 (vendor bug 123))")
    assert lines[-1].endswith(": 0 errors, 0 warnings, 1 waived error")
    report = json.loads(hydrate("--repo", example, "validate", "--cluster", "store-0001",
                                "--format", "json", env=now).out)
    assert report["summary"]["waived"] == {"schema": 1}
    assert [(w["rule"], w["field"], w["waiver"]) for w in report["waived"]] == [
        ("schema", "spec.template.spec.containers[0].imagePullPolcy", waiver)]
    sarif = json.loads(hydrate("--repo", example, "validate", "--cluster", "store-0001",
                               "--format", "sarif", env=now).out)
    (suppressed,) = [r for r in sarif["runs"][0]["results"] if r.get("suppressions")]
    assert suppressed["ruleId"] == "schema"
    assert suppressed["suppressions"][0]["justification"].startswith("the typo ships until")
    rendered = hydrate("--repo", example, "render", "--cluster", "store-0001", "--out",
                       tmp_path / "out", env=now)
    assert rendered.code == 0, rendered.err
    assert ("validation: 1 waived error (schema: the API server rejects these objects) "
            "(`hydrate validate` lists them)") in rendered.err
    site = hydrate("--repo", example, "report", "--html", tmp_path / "site", env=now)
    assert site.code == 0, site.err
    page = (tmp_path / "site/index.html").read_text()
    assert 'id="waived"' in page
    assert "DaemonSet/logging/log-shipper" in page[page.index('id="waived"'):]


ALPHA_POLICY = COMPONENT + "resources: [policy.yaml]\n"
VAP = """apiVersion: admissionregistration.k8s.io/v1alpha1
kind: ValidatingAdmissionPolicy
metadata: {name: no-latest}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}]
  validations: [{expression: "true"}]
"""


def test_an_api_off_by_default_is_not_served_unless_the_class_or_cluster_enables_it(example: Path) -> None:
    writing("overlays/clusters/edge-lab/rbac-baseline/kustomization.yaml", ALPHA_POLICY)(example)
    writing("overlays/clusters/edge-lab/rbac-baseline/policy.yaml", VAP)(example)
    found = json.loads(hydrate("--repo", example, "validate", "--cluster", "edge-lab", "--format",
                               "json").out)["findings"]
    assert [(f["rule"], f["severity"], f["object"]["kind"]) for f in found if f["object"]] == [
        ("api-not-served", "error", "ValidatingAdmissionPolicy")]
    assert found[0]["message"].startswith(
        "class edge: admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy is alpha: "
        "Kubernetes 1.29 serves it only if its API server enables it;")
    appending("fleet/classes/edge.yaml", "apiVersions: [admissionregistration.k8s.io/v1alpha1]\n")(example)
    result = hydrate("--repo", example, "validate", "--cluster", "edge-lab", "--format", "json")
    assert result.code == 0, result.out
    assert [f for f in json.loads(result.out)["findings"] if f["rule"] == "api-not-served"] == []
    # A cluster's own apiVersions replaces its class's, for validation as for the render.
    appending("fleet/clusters/edge-lab.yaml", "apiVersions: []\n")(example)
    result = hydrate("--repo", example, "validate", "--cluster", "edge-lab", "--format", "json")
    assert result.code == 1
    assert [f["rule"] for f in json.loads(result.out)["findings"]] == ["api-not-served"]
    replace_in(example / "fleet/clusters/edge-lab.yaml", "apiVersions: []\n",
               "apiVersions: [admissionregistration.k8s.io/v1alpha1/ValidatingAdmissionPolicy]\n")
    replace_in(example / "fleet/classes/edge.yaml",
               "apiVersions: [admissionregistration.k8s.io/v1alpha1]\n", "")
    result = hydrate("--repo", example, "validate", "--cluster", "edge-lab", "--format", "json")
    assert result.code == 0, result.out


def test_a_field_a_layer_set_points_at_that_layer(example: Path) -> None:
    # The site's Component patch makes fluent-bit privileged: the pull request that adds
    # it touches only the patch, so the finding is there, with the base file as related.
    replace_in(example / "overlays/sites/rotterdam-port/log-shipper/patch.yaml.j2",
               "      - name: fluent-bit\n",
               "      - name: fluent-bit\n        securityContext:\n          privileged: true\n")
    report = json.loads(hydrate("--repo", example, "validate", "--cluster", "edge-rotterdam-port",
                                "--format", "json").out)
    (found,) = [f for f in report["findings"] if f["rule"] == "privileged"]
    assert (found["source"], found["related"]) == (
        {"path": "overlays/sites/rotterdam-port/log-shipper/patch.yaml.j2", "line": 13},
        [{"path": "bases/log-shipper/daemonset.yaml", "line": 73}])


def test_a_chart_whose_output_changes_between_renders_is_an_error(example: Path, tmp_path: Path) -> None:
    # The rollme annotation of Helm's docs, and a build date at day resolution (two renders
    # a second apart print the same day: the second render moves `now` on).
    replace_in(example / "bases/pos-app/chart/templates/deployment.yaml",
               '        prometheus.io/scrape: "true"\n',
               '        prometheus.io/scrape: "true"\n'
               '        rollme: {{ randAlphaNum 8 | quote }}\n'
               '        built: {{ now | date "2006-01-02" | quote }}\n'
               '        note: {{ printf "now" | quote }}\n')
    env = {"HYDRATE_CACHE_DIR": str(tmp_path / "cache")}
    runs = []
    for _ in range(2):  # cold, then warm: the finding does not depend on the cache
        result = hydrate("--repo", example, "validate", "--cluster", "store-0001", "--format", "json",
                         env=env)
        assert result.code == 1, result.err
        runs.append([f for f in json.loads(result.out)["findings"] if f["rule"] == "non-deterministic"])
    assert runs[0] == runs[1]
    template = "bases/pos-app/chart/templates/deployment.yaml"
    assert [(f["severity"], f"{f['object']['kind']}/{f['object']['name']}", f["field"],
             f"{f['source']['path']}:{f['source']['line']}") for f in runs[0]] == [
        ("error", "Deployment/pos-app", "spec.template.metadata.annotations.rollme", f"{template}:26"),
        ("error", "Deployment/pos-app", "spec.template.metadata.annotations.built", f"{template}:27")]
    assert runs[0][1]["message"].startswith(
        "spec.template.metadata.annotations.built differs between two renders of the same input "
        "(the chart calls now, randAlphaNum): each render, and a fresh CI cache, publishes a new "
        "value;")
    # Nothing is written; a waiver (it is an opinion the API server does not enforce) lets it be.
    out = tmp_path / "out"
    assert hydrate("--repo", example, "render", "--cluster", "store-0001", "--out", out, env=env).code == 1
    assert not out.exists()
    appending("fleet/policy.yaml", "- rule: non-deterministic\n  packages: [pos-app]\n"
                                   "  reason: the annotation restarts the tills on purpose\n")(example)
    assert hydrate("--repo", example, "render", "--cluster", "store-0001", "--out", out, env=env).code == 0
