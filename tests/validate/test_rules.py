"""The built-in rules (pipeline/validate/rules.py): for each object rule what must hit, as
the exact (rule, field, message), and the near misses that must not."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.validate import rules
from pipeline.validate.podspec import POD_SPECS
from pipeline.validate.rules import RULES, Hit

ENC = ("ENC[AES256_GCM,data:Tr7o1w==,iv:1=2bCbuH7r7uNBg/UXnwTeV26Kq1cqoGMd5g3X7xv8Q=,"
       "tag:2bJ9/6xT5fZtEy2ZrLQiTA==,type:str]")
POD = "spec.template.spec"
C0 = f"{POD}.containers[0]"
CONTAINER_RULES = ("latest-tag", "missing-requests", "missing-memory-limit", "privileged",
                   "host-namespaces", "host-path", "privilege-escalation", "run-as-root")
ALL = {rid: dict(r.params) for rid, r in RULES.items() if r.check is not None}


def _box(**extra: Any) -> dict[str, Any]:
    """A container that passes every rule, changed by `extra`."""
    return {"name": "app", "image": "nginx:1.27",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}},
            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False}, **extra}


def _deploy(*boxes: dict[str, Any], api: str = "apps/v1", **pod: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": list(boxes) or [_box()], **pod}}}}


def _run(body: Any, rule: str, **params: Any) -> list[tuple[str, str, str]]:
    return [(rid, hit.path, hit.message)
            for rid, hit in rules.check(body, {rule: {**RULES[rule].params, **params}})]


def test_every_contract_rule_with_its_default_severity() -> None:
    assert {rid: r.severity for rid, r in RULES.items()} == {
        "schema": "error", "api-not-served": "error", "unknown-kind": "warning",
        "plaintext-secret": "error", "latest-tag": "warning", "missing-requests": "warning",
        "missing-memory-limit": "warning", "privileged": "warning", "host-namespaces": "warning",
        "host-path": "warning", "privilege-escalation": "warning", "run-as-root": "warning",
        "cluster-admin-binding": "warning", "ingress-without-tls": "warning",
        "namespace-without-psa": "warning", "unrendered-release": "warning", "capacity": "error",
        "required-package": "error", "webhook-not-ready": "warning", "waiver-expired": "error",
        "waiver-unused": "warning", "non-deterministic": "error",
        # fleet/policy.yaml access: (pipeline.access.policy): only judged when it is there
        **{f"access-{r}": "error" for r in ("tenant-scope", "tenant-role", "cluster-admin", "escalate",
                                            "bind", "impersonate", "secrets", "pods-exec")}}
    elsewhere = {"schema", "api-not-served", "unknown-kind", "capacity", "required-package",
                 "webhook-not-ready", "waiver-expired", "waiver-unused", "non-deterministic",
                 *(r for r in RULES if r.startswith("access-"))}
    assert {rid for rid, r in RULES.items() if r.check is None} == elsewhere
    assert all(r.id == rid and r.short and r.full and r.help for rid, r in RULES.items())
    assert {rid: dict(r.params) for rid, r in RULES.items() if r.params} == {
        "host-path": {"allowedPaths": ()}, "namespace-without-psa": {"level": None}}
    with pytest.raises(TypeError):
        RULES["latest-tag"] = RULES["privileged"]  # type: ignore[index]
    with pytest.raises(TypeError):
        RULES["host-path"].params["allowedPaths"] = ["/"]  # type: ignore[index]


def test_a_clean_workload_passes_every_rule() -> None:
    assert rules.check(_deploy(_box(), _box(name="side")), ALL) == []


def test_check_runs_only_the_rules_given_in_rule_then_path_order() -> None:
    boxes = [_box(name=f"c{i}", image="nginx", resources={}) for i in range(11)]
    body = _deploy(*boxes, hostNetwork=True)
    assert rules.check(body, {}) == []
    found = rules.check(body, {"missing-requests": {}, "latest-tag": {}})
    assert [rid for rid, _ in found] == ["latest-tag"] * 11 + ["missing-requests"] * 11
    assert [hit.path for _, hit in found[:3]] == [f"{POD}.containers[{i}].image" for i in range(3)]
    assert found[10][1].path == f"{POD}.containers[10].image"  # after [9], not after [1]
    assert all(isinstance(hit, Hit) for _, hit in found)


def test_a_rules_check_can_be_called_on_its_own() -> None:
    check = RULES["latest-tag"].check
    assert check is not None
    assert list(check(_deploy(_box(image="nginx")), {})) == [
        Hit("container 'app' image 'nginx' has no tag: pin a version or a digest", f"{C0}.image")]
    assert list(check({"apiVersion": "v1", "kind": "Service"}, {})) == []


# plaintext-secret

def _secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, **fields}


def _plain(field: str, keys: str) -> tuple[str, str, str]:
    return ("plaintext-secret", field, f"{field} holds plaintext values ({keys}): use SealedSecrets, "
                                       "External Secrets or SOPS-encrypted values (ENC[...])")


def test_plaintext_secret_judges_every_value() -> None:
    # A sops: section proves nothing; SOPS' unencrypted_regex leaves b in clear.
    body = _secret(data={"a": ENC, "b": "aHVudGVyMg=="}, stringData={"pw": "hunter2", "n": 12},
                   sops={"version": "3.9.0"})
    assert _run(body, "plaintext-secret") == [_plain("data", "b"), _plain("stringData", "n, pw")]
    fake = _secret(data={"a": "ENC[this is no ciphertext]", "b": f"x{ENC}", "c": None})
    assert _run(fake, "plaintext-secret") == [_plain("data", "a, b, c")]


def test_plaintext_secret_names_at_most_five_keys_and_never_a_value() -> None:
    found = _run(_secret(data={f"k{i}": "s3cr3t-value" for i in range(7)}), "plaintext-secret")
    assert found == [_plain("data", "k0, k1, k2, k3, k4 and 2 more")]
    assert "s3cr3t" not in found[0][2]
    assert _run(_secret(stringData=["s3cr3t"]), "plaintext-secret") == [
        ("plaintext-secret", "stringData", "stringData is not a mapping of encrypted values")]


@pytest.mark.parametrize("body", [
    _secret(data={"a": ENC}, stringData={"b": ENC}),
    _secret(data={}, stringData=None),
    _secret(type="kubernetes.io/service-account-token"),
    {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "spec": {"encryptedData": {"a": "b"}}},
    {"apiVersion": "example.com/v1", "kind": "Secret", "data": {"a": "b"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}},
])
def test_plaintext_secret_near_misses(body: dict[str, Any]) -> None:
    assert _run(body, "plaintext-secret") == []


# latest-tag

@pytest.mark.parametrize(("image", "problem"), [
    ("nginx", "has no tag"), ("nginx:", "has no tag"), ("reg:5000/team/app", "has no tag"),
    ("nginx:latest", "uses the latest tag"), ("reg:5000/app:latest", "uses the latest tag"),
    ("nginx:1.27", None), ("reg:5000/team/app:1.2", None), ("nginx@sha256:" + "a" * 64, None),
    ("nginx:latest@sha256:" + "a" * 64, None),  # the digest pins it
])
def test_latest_tag(image: str, problem: str | None) -> None:
    expected = [("latest-tag", f"{C0}.image", f"container 'app' image {image!r} {problem}: pin a "
                                              "version or a digest")] if problem else []
    assert _run(_deploy(_box(image=image)), "latest-tag") == expected


def test_init_and_ephemeral_containers_are_named_as_such() -> None:
    body = _deploy(_box(), initContainers=[_box(name="setup", image="busybox")],
                   ephemeralContainers=[{"name": "debug", "image": "busybox:latest"}])
    assert _run(body, "latest-tag") == [
        ("latest-tag", f"{POD}.ephemeralContainers[0].image",
         "ephemeral container 'debug' image 'busybox:latest' uses the latest tag: pin a version or a digest"),
        ("latest-tag", f"{POD}.initContainers[0].image",
         "init container 'setup' image 'busybox' has no tag: pin a version or a digest")]
    # The API forbids resources on ephemeral containers: nothing to ask for.
    assert _run(body, "missing-requests") == _run(body, "missing-memory-limit") == []


# missing-requests, missing-memory-limit

def test_requests_say_which_is_missing() -> None:
    body = _deploy(_box(resources={"requests": {"cpu": "1", "memory": None}, "limits": {"cpu": "1"}}),
                   _box(name="side", resources=None))
    assert _run(body, "missing-requests") == [
        ("missing-requests", f"{C0}.resources", "container 'app' requests no memory: the scheduler "
                                                "cannot place it with care, and capacity cannot count it"),
        ("missing-requests", f"{POD}.containers[1].resources",
         "container 'side' requests no cpu and no memory: the scheduler cannot place it with care, "
         "and capacity cannot count it")]
    assert _run(body, "missing-memory-limit") == [
        ("missing-memory-limit", f"{C0}.resources",
         "container 'app' has no memory limit: a leak takes the node's memory from every other pod"),
        ("missing-memory-limit", f"{POD}.containers[1].resources",
         "container 'side' has no memory limit: a leak takes the node's memory from every other pod")]


def test_a_limit_without_a_request_is_the_request() -> None:
    # Kubernetes defaults a missing request to the limit, resource by resource.
    body = _deploy(_box(resources={"requests": {"memory": "10Mi"}, "limits": {"cpu": "8"}}),
                   _box(name="b", resources={"limits": {"cpu": "1", "memory": "1Gi"}}),
                   _box(name="c", resources={"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}))
    assert _run(body, "missing-requests") == [
        ("missing-requests", f"{POD}.containers[2].resources",
         "container 'c' requests no memory: the scheduler cannot place it with care, and "
         "capacity cannot count it")]


# privileged, privilege-escalation, run-as-root

def test_privileged_and_privilege_escalation() -> None:
    body = _deploy(_box(securityContext={"privileged": True, "runAsNonRoot": True}),
                   _box(name="b", securityContext={"allowPrivilegeEscalation": True}),
                   _box(name="c", securityContext=None))
    assert _run(body, "privileged") == [
        ("privileged", f"{C0}.securityContext.privileged",
         "container 'app' runs privileged: it holds every capability of the host")]
    unset = ("may gain more privileges than its parent process: set "
             "securityContext.allowPrivilegeEscalation: false")
    assert _run(body, "privilege-escalation") == [
        ("privilege-escalation", f"{C0}.securityContext.privileged",
         "container 'app' is privileged, which allows privilege escalation"),
        ("privilege-escalation", f"{POD}.containers[1].securityContext", f"container 'b' {unset}"),
        ("privilege-escalation", f"{POD}.containers[2].securityContext", f"container 'c' {unset}")]


@pytest.mark.parametrize("context", [{"privileged": "true"}, {"privileged": False}, "privileged"])
def test_privileged_only_when_true(context: Any) -> None:
    assert _run(_deploy(_box(securityContext=context)), "privileged") == []


def test_privilege_escalation_near_misses() -> None:
    safe = _deploy(_box(securityContext={"allowPrivilegeEscalation": False}))
    assert _run(safe, "privilege-escalation") == []
    # Windows pods cannot set the field at all.
    windows = _deploy(_box(securityContext={}), os={"name": "windows"})
    assert _run(windows, "privilege-escalation") == []


def test_run_as_root_reads_the_pod_and_lets_the_container_win() -> None:
    root = "runs as root (runAsUser: 0)"
    unset = "may run as root: set runAsNonRoot: true (on the pod or the container)"
    pod_level = {"runAsNonRoot": True}
    assert _run(_deploy(_box(securityContext={}), securityContext=pod_level), "run-as-root") == []
    body = _deploy(_box(securityContext={"runAsNonRoot": False}),
                   _box(name="b", securityContext={"runAsUser": 0}),
                   _box(name="c", securityContext={"runAsUser": 1000}),
                   securityContext={"runAsNonRoot": True})
    assert _run(body, "run-as-root") == [
        ("run-as-root", f"{C0}.securityContext", f"container 'app' {unset}"),
        ("run-as-root", f"{POD}.containers[1].securityContext", f"container 'b' {root}")]
    body = _deploy(_box(securityContext={}), _box(name="b", securityContext={"runAsUser": 1000}),
                   securityContext={"runAsNonRoot": True, "runAsUser": 0})
    assert _run(body, "run-as-root") == [("run-as-root", f"{C0}.securityContext", f"container 'app' {root}")]
    boolean = {"runAsNonRoot": True, "runAsUser": False}  # False == 0 in Python, not in YAML
    assert _run(_deploy(_box(securityContext=boolean)), "run-as-root") == []
    # A non-zero runAsUser alone is not runAsNonRoot (Pod Security's restricted level agrees).
    assert _run(_deploy(_box(securityContext={"runAsUser": 1000})), "run-as-root") == [
        ("run-as-root", f"{C0}.securityContext", f"container 'app' {unset}")]


# host-namespaces, host-path

def test_host_namespaces_one_hit_per_field() -> None:
    body = _deploy(hostNetwork=True, hostPID=True, hostIPC=True)
    assert _run(body, "host-namespaces") == [
        ("host-namespaces", f"{POD}.hostIPC", "the pod shares the host's IPC namespace (hostIPC: true)"),
        ("host-namespaces", f"{POD}.hostNetwork",
         "the pod shares the host's network namespace (hostNetwork: true)"),
        ("host-namespaces", f"{POD}.hostPID", "the pod shares the host's process namespace (hostPID: true)")]
    assert _run(_deploy(hostNetwork=False, hostPID="true", hostIPC=None), "host-namespaces") == []


def test_host_path_and_its_allowed_paths() -> None:
    body = _deploy(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}},
                            {"name": "up", "hostPath": {"path": "/var/log/../../etc"}},
                            {"hostPath": {"type": "Directory"}},
                            {"name": "tmp", "emptyDir": {}}, {"name": "odd", "hostPath": None}])

    def hit(index: int, message: str) -> tuple[str, str, str]:
        return ("host-path", f"{POD}.volumes[{index}].hostPath", message)

    logs = hit(0, "volume 'logs' mounts the host's /var/log")
    up = hit(1, "volume 'up' mounts the host's /var/log/../../etc")
    nameless = hit(2, "a volume mounts the host's filesystem")
    assert _run(body, "host-path") == [logs, up, nameless]
    assert rules.check(body, {"host-path": {"allowedPaths": ["/var/log/"]}}) == [
        ("host-path", Hit(m, p)) for _, p, m in (up, nameless)]
    assert _run(body, "host-path", allowedPaths="/var/log") == [up, nameless]  # one path, not a list
    assert _run(body, "host-path", allowedPaths=["/var/lo"]) == [logs, up, nameless]  # folders, not strings
    assert _run(body, "host-path", allowedPaths=["/"]) == [nameless]


# cluster-admin-binding

def _binding(kind: str = "ClusterRoleBinding", ref: str = "ClusterRole", name: str = "cluster-admin",
             api: str = "rbac.authorization.k8s.io/v1", **extra: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "ops"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": ref, "name": name}, **extra}


def test_cluster_admin_bindings_name_their_subjects() -> None:
    subjects = [{"kind": "Group", "name": "ops"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]
    assert _run(_binding(subjects=subjects), "cluster-admin-binding") == [
        ("cluster-admin-binding", "roleRef", "grants cluster-admin to Group ops, ServiceAccount build/ci: "
                                             "bind a role with only what they need")]
    many = [{"kind": "User", "name": f"u{i}"} for i in range(6)]
    assert _run(_binding("RoleBinding", subjects=many), "cluster-admin-binding") == [
        ("cluster-admin-binding", "roleRef", "grants cluster-admin to User u0, User u1, User u2, User u3, "
                                             "User u4 and 1 more: bind a role with only what they need")]


@pytest.mark.parametrize("body", [
    _binding(name="view"), _binding("RoleBinding", ref="Role"),
    _binding(api="example.com/v1"), _binding(roleRef=None), _binding(roleRef="cluster-admin"),
])
def test_cluster_admin_near_misses(body: dict[str, Any]) -> None:
    assert _run(body, "cluster-admin-binding") == []


# ingress-without-tls

def _ingress(tls: Any, *hosts: str, api: str = "networking.k8s.io/v1") -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": [{"host": h} for h in hosts] + [{"http": {}}]}
    if tls is not ...:
        spec["tls"] = tls
    return {"apiVersion": api, "kind": "Ingress", "metadata": {"name": "web"}, "spec": spec}


def test_ingress_tls_covers_every_host() -> None:
    plain = ("ingress-without-tls", "spec",
             "serves plain HTTP: add spec.tls (e.g. with a cert-manager issuer)")
    assert _run(_ingress(..., "a.example.com"), "ingress-without-tls") == [plain]
    assert _run(_ingress([], "a.example.com"), "ingress-without-tls") == [plain]
    partial = _ingress([{"hosts": ["a.example.com", "*.shop.example.com"]}, {"hosts": 3}],
                       "a.example.com", "b.example.com", "c.shop.example.com", "x.y.shop.example.com")
    assert _run(partial, "ingress-without-tls") == [
        ("ingress-without-tls", "spec.tls",
         "hosts without TLS: b.example.com, x.y.shop.example.com: add them to spec.tls")]


@pytest.mark.parametrize("body", [
    _ingress([{"hosts": ["a.example.com"], "secretName": "a"}], "a.example.com"),
    _ingress([{"secretName": "default"}], "a.example.com"),  # no hosts: the default certificate
    _ingress(..., "a.example.com", api="example.com/v1"),
])
def test_ingress_near_misses(body: dict[str, Any]) -> None:
    assert _run(body, "ingress-without-tls") == []


# namespace-without-psa

def _namespace(labels: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": labels}}


def test_namespace_pod_security_and_its_level() -> None:
    for labels in (None, {}, "x", {"pod-security.kubernetes.io/warn": "restricted"}):
        assert _run(_namespace(labels), "namespace-without-psa") == [
            ("namespace-without-psa", "metadata.labels",
             "has no Pod Security label: set pod-security.kubernetes.io/enforce (restricted or baseline)")]
    assert _run(_namespace(None), "namespace-without-psa", level="restricted") == [
        ("namespace-without-psa", "metadata.labels",
         "has no Pod Security label: set pod-security.kubernetes.io/enforce (restricted)")]
    baseline = _namespace({"pod-security.kubernetes.io/enforce": "baseline"})
    assert _run(baseline, "namespace-without-psa") == []
    assert _run(baseline, "namespace-without-psa", level="baseline") == []
    assert _run(baseline, "namespace-without-psa", level="privileged") == []
    assert _run(baseline, "namespace-without-psa", level="restricted") == [
        ("namespace-without-psa", "metadata.labels",
         "enforces Pod Security level 'baseline'; the policy asks for 'restricted'")]


# where pod specs are, and sloppy input

@pytest.mark.parametrize(("group", "kind"), sorted(POD_SPECS))
def test_every_workload_kind_is_read_at_its_pod_spec(group: str, kind: str) -> None:
    api = f"{group}/v1" if group else "v1"
    spec = {"hostPID": True, "containers": [_box()]}
    body: dict[str, Any] = {
        "Pod": {"spec": spec}, "CronJob": {"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}},
    }.get(kind, {"spec": {"template": {"spec": spec}}})
    path = {"Pod": "spec", "CronJob": "spec.jobTemplate.spec.template.spec"}.get(kind, POD)
    assert _run({"apiVersion": api, "kind": kind, **body}, "host-namespaces") == [
        ("host-namespaces", f"{path}.hostPID", "the pod shares the host's process namespace (hostPID: true)")]


@pytest.mark.parametrize("api", ["apps.example.com/v1", "example.com/v1", "v1", "extensions/v1beta1"])
def test_a_deployment_of_another_group_is_no_workload(api: str) -> None:
    body = _deploy(_box(image="nginx", securityContext={"privileged": True}), api=api, hostNetwork=True)
    assert rules.check(body, ALL) == []


@pytest.mark.parametrize("spec", [
    None, "text", 3, ["a"], {"containers": "x", "initContainers": {"a": 1}, "volumes": "x"},
    {"containers": [None, 3, "x", []], "volumes": [None, "x", {"hostPath": "x"}]},
    {"containers": [{"image": 5, "resources": [], "securityContext": "x"}], "securityContext": [],
     "os": "windows"},
])
def test_sloppy_workloads_never_raise(spec: Any) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": spec}}}
    found = rules.check(body, ALL)
    assert {rid for rid, _ in found} <= {"missing-requests", "missing-memory-limit", "privilege-escalation",
                                          "run-as-root"}


@pytest.mark.parametrize("body", [
    None, [], "text", {}, {"apiVersion": 3, "kind": None}, {"apiVersion": "apps/v1", "kind": "Deployment"},
    {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": None}},
    _secret(data=3), _binding(subjects="x"), _binding(subjects=[None, "x", {"name": "a"}]),
    _ingress([None, "x", {"hosts": "a.example.com"}], "a.example.com"), _ingress("x"),
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
     "spec": {"tls": [{"hosts": ["a"]}], "rules": "x"}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
     "spec": {"tls": [{"hosts": ["a"]}], "rules": [{"host": ["a"]}, {"host": {"a": 1}}, None]}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": None},
])
def test_sloppy_objects_never_raise(body: Any) -> None:
    assert isinstance(rules.check(body, ALL), list)
    for rid, params in ALL.items():
        check = RULES[rid].check
        assert check is not None
        list(check(body, params))


# unrendered-release: a Flux HelmRelease or an Argo CD Application passes through opaque

def test_a_helm_release_or_an_application_in_a_package_is_a_finding() -> None:
    release = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "podinfo", "namespace": "apps"},
               "spec": {"chart": {"spec": {"chart": "podinfo", "version": "6.7.1"}},
                        "values": {"replicaCount": 2}}}
    ((rid, path, message),) = _run(release, "unrendered-release")
    assert (rid, path) == ("unrendered-release", "spec.chart")
    assert message.startswith("asks Flux to render podinfo on the cluster, so its objects are in "
                              "no render, diff or validation: hydrate renders charts itself;")
    assert "spec.values as its values.yaml" in message
    assert "docs/guides.md: adopt a Flux repository" in message
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "guestbook", "namespace": "argocd"},
           "spec": {"source": {"repoURL": "https://github.com/argoproj/argocd-example-apps",
                               "path": "guestbook", "targetRevision": "HEAD"}}}
    ((rid, path, message),) = _run(app, "unrendered-release")
    assert (rid, path) == ("unrendered-release", "spec.source")
    assert message.startswith("asks Argo CD to render https://github.com/argoproj/argocd-example-apps "
                              "guestbook on the cluster")
    assert "docs/guides.md: adopt an Argo CD app-of-apps" in message
    assert _run({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
                "unrendered-release") == []
