"""Each object rule: what must hit (exact rule, field and message) and the near misses that
must not."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pipeline.validate import rules
from pipeline.validate.rules import RULES, Hit

ENC = ("ENC[AES256_GCM,data:Tr7o1w==,iv:1=2bCbuH7r7uNBg/UXnwTeV26Kq1cqoGMd5g3X7xv8Q=,"
       "tag:2bJ9/6xT5fZtEy2ZrLQiTA==,type:str]")
SAFE = {"runAsNonRoot": True, "allowPrivilegeEscalation": False}
C0 = "spec.template.spec.containers[0]"


def _container(**extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.27",
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "64Mi"}},
            "securityContext": dict(SAFE), **extra}


def _deploy(container: dict[str, Any] | None = None, api: str = "apps/v1", **pod: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [container or _container()], **pod}}}}


def _run(rule: str, body: dict[str, Any], **params: Any) -> list[tuple[str, str]]:
    merged = {**RULES[rule].params, **params}
    return [(hit.path, hit.message) for rid, hit in rules.check(body, {rule: merged}) if rid == rule]


def test_every_contract_rule_is_known_with_its_default() -> None:
    assert {rid: r.severity for rid, r in RULES.items()} == {
        "schema": "error", "api-not-served": "error", "unknown-kind": "warning",
        "plaintext-secret": "error", "latest-tag": "warning", "missing-requests": "warning",
        "missing-memory-limit": "warning", "privileged": "warning", "host-namespaces": "warning",
        "host-path": "warning", "privilege-escalation": "warning", "run-as-root": "warning",
        "cluster-admin-binding": "warning", "ingress-without-tls": "warning",
        "namespace-without-psa": "warning", "capacity": "error", "required-package": "error",
        "waiver-expired": "error", "waiver-unused": "warning"}
    assert all(r.short and r.full and r.help for r in RULES.values())


def test_a_clean_workload_passes_every_rule() -> None:
    params = {rid: r.params for rid, r in RULES.items() if r.check}
    assert rules.check(_deploy(), params) == []


@pytest.mark.parametrize(("body", "field", "keys"), [
    ({"stringData": {"password": "hunter2"}, "sops": {}}, "stringData", "password"),
    # SOPS' unencrypted_regex leaves b in clear:
    ({"data": {"a": ENC, "b": "aHVudGVyMg=="}, "sops": {"version": "3.9.0"}}, "data", "b"),
    ({"data": {"a": "ENC[this is no ciphertext]"}, "sops": {}}, "data", "a"),
    ({"data": {"a": f"x{ENC}"}}, "data", "a"),
    ({"stringData": {"a": 12}}, "stringData", "a"),
])
def test_plaintext_is_judged_by_every_value(body: dict[str, Any], field: str, keys: str) -> None:
    assert _run("plaintext-secret", {"apiVersion": "v1", "kind": "Secret", **body}) == [
        (field, f"{field} holds plaintext values ({keys}): use SealedSecrets, External Secrets or "
                "SOPS-encrypted values (ENC[...])")]


def test_plaintext_names_keys_never_values() -> None:
    keys = {f"k{i}": "secret-value" for i in range(7)}
    assert _run("plaintext-secret", {"apiVersion": "v1", "kind": "Secret", "data": keys}) == [
        ("data", "data holds plaintext values (k0, k1, k2, k3, k4 and 2 more): use SealedSecrets, "
                 "External Secrets or SOPS-encrypted values (ENC[...])")]
    assert _run("plaintext-secret", {"apiVersion": "v1", "kind": "Secret", "data": ["a"]}) == [
        ("data", "data is not a mapping of encrypted values")]


@pytest.mark.parametrize("body", [
    {"apiVersion": "v1", "kind": "Secret", "data": {"a": ENC}, "stringData": {"b": ENC}},
    {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token"},
    {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "data": {"a": "b"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}},
])
def test_encrypted_empty_or_other_kinds_pass(body: dict[str, Any]) -> None:
    assert _run("plaintext-secret", body) == []


@pytest.mark.parametrize(("image", "expected"), [
    ("nginx", "container 'app' image 'nginx' has no tag: pin a version or a digest"),
    ("reg:5000/team/app", "container 'app' image 'reg:5000/team/app' has no tag: pin a version or a digest"),
    ("nginx:latest", "container 'app' image 'nginx:latest' uses the latest tag: pin a version or a digest"),
    ("nginx:1.27", None), ("reg:5000/team/app:1.2", None), ("nginx@sha256:" + "a" * 64, None),
])
def test_latest_tag(image: str, expected: str | None) -> None:
    found = _run("latest-tag", _deploy(_container(image=image)))
    assert found == ([(f"{C0}.image", expected)] if expected else [])


def test_init_containers_are_named_as_such() -> None:
    body = _deploy(initContainers=[{"name": "setup", "image": "busybox", "securityContext": SAFE,
                                    "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}])
    assert _run("latest-tag", body) == [
        ("spec.template.spec.initContainers[0].image",
         "init container 'setup' image 'busybox' has no tag: pin a version or a digest")]
    assert _run("missing-requests", body) == [
        ("spec.template.spec.initContainers[0].resources",
         "init container 'setup' requests no memory: the scheduler cannot place it with care, "
         "and capacity cannot count it")]


def test_requests_and_memory_limit() -> None:
    bare = _container()
    bare["resources"] = {"limits": {"cpu": "1"}}
    body = _deploy(bare)
    assert _run("missing-requests", body) == [
        (f"{C0}.resources", "container 'app' requests no cpu and no memory: the scheduler cannot "
                            "place it with care, and capacity cannot count it")]
    assert _run("missing-memory-limit", body) == [
        (f"{C0}.resources", "container 'app' has no memory limit: a leak takes the node's memory "
                            "from every other pod")]


def test_privileged_and_escalation() -> None:
    body = _deploy(_container(securityContext={"privileged": True, "runAsNonRoot": True}))
    assert _run("privileged", body) == [
        (f"{C0}.securityContext.privileged",
         "container 'app' runs privileged: it holds every capability of the host")]
    assert _run("privilege-escalation", body) == [
        (f"{C0}.securityContext.privileged",
         "container 'app' is privileged, which allows privilege escalation")]
    unset = _deploy(_container(securityContext={"runAsNonRoot": True}))
    assert _run("privilege-escalation", unset) == [
        (f"{C0}.securityContext", "container 'app' may gain more privileges than its parent "
                                  "process: set securityContext.allowPrivilegeEscalation: false")]


def test_host_namespaces_one_hit_per_field() -> None:
    body = _deploy(hostNetwork=True, hostPID=True, hostIPC=False)
    assert _run("host-namespaces", body) == [
        ("spec.template.spec.hostNetwork", "the pod shares the host's network namespace (hostNetwork: true)"),
        ("spec.template.spec.hostPID", "the pod shares the host's process namespace (hostPID: true)")]


def test_host_path_and_its_allowed_paths() -> None:
    body = _deploy(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}},
                            {"name": "data", "hostPath": {"path": "/var/lib/app"}},
                            {"name": "tmp", "emptyDir": {}}])
    assert _run("host-path", body) == [
        ("spec.template.spec.volumes[0].hostPath", "volume 'logs' mounts the host's /var/log"),
        ("spec.template.spec.volumes[1].hostPath", "volume 'data' mounts the host's /var/lib/app")]
    assert _run("host-path", body, allowedPaths=["/var/log"]) == [
        ("spec.template.spec.volumes[1].hostPath", "volume 'data' mounts the host's /var/lib/app")]
    # A prefix is a folder, not a string: /var/lo does not allow /var/log.
    assert len(_run("host-path", body, allowedPaths=["/var/lo"])) == 2


def test_run_as_root_looks_at_pod_and_container() -> None:
    pod_level = _deploy(_container(securityContext={"allowPrivilegeEscalation": False}),
                        securityContext={"runAsNonRoot": True})
    assert _run("run-as-root", pod_level) == []
    root = _deploy(_container(securityContext={"runAsUser": 0, "runAsNonRoot": True}))
    assert _run("run-as-root", root) == [
        (f"{C0}.securityContext", "container 'app' runs as root (runAsUser: 0)")]
    unset = _deploy(_container(securityContext={}))
    assert _run("run-as-root", unset) == [
        (f"{C0}.securityContext",
         "container 'app' may run as root: set runAsNonRoot: true (on the pod or the container)")]


def test_cluster_admin_bindings() -> None:
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "ops"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "Group", "name": "ops"}, {"kind": "ServiceAccount", "name": "ci"}]}
    assert _run("cluster-admin-binding", binding) == [
        ("roleRef", "grants cluster-admin to Group ops, ServiceAccount ci: bind a role with only "
                    "what they need")]
    view = copy.deepcopy(binding)
    view["roleRef"]["name"] = "view"
    assert _run("cluster-admin-binding", view) == []


def test_ingress_tls_covers_every_host() -> None:
    ingress = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
               "spec": {"rules": [{"host": "a.example.com"}, {"host": "b.example.com"},
                                  {"host": "c.shop.example.com"}],
                        "tls": [{"hosts": ["a.example.com", "*.shop.example.com"]}]}}
    assert _run("ingress-without-tls", ingress) == [
        ("spec.tls", "hosts without TLS: b.example.com: add them to spec.tls")]
    del ingress["spec"]["tls"]
    assert _run("ingress-without-tls", ingress) == [
        ("spec", "serves plain HTTP: add spec.tls (e.g. with a cert-manager issuer)")]


def test_namespace_pod_security_and_its_level() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {}}}
    assert _run("namespace-without-psa", ns) == [
        ("metadata.labels", "has no Pod Security label: set pod-security.kubernetes.io/enforce "
                            "(restricted or baseline)")]
    ns["metadata"]["labels"] = {"pod-security.kubernetes.io/enforce": "baseline"}
    assert _run("namespace-without-psa", ns) == []
    assert _run("namespace-without-psa", ns, level="restricted") == [
        ("metadata.labels", "enforces Pod Security level 'baseline'; the policy asks for 'restricted'")]


def test_pod_specs_of_every_workload_kind_and_not_of_custom_kinds() -> None:
    cron = {"apiVersion": "batch/v1", "kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {
        "spec": {"hostPID": True, "containers": []}}}}}}
    assert [p for p, _ in _run("host-namespaces", cron)] == ["spec.jobTemplate.spec.template.spec.hostPID"]
    pod = {"apiVersion": "v1", "kind": "Pod", "spec": {"hostIPC": True}}
    assert [p for p, _ in _run("host-namespaces", pod)] == ["spec.hostIPC"]
    custom = _deploy(_container(image="nginx"), api="apps.example.com/v1", hostNetwork=True)
    assert _run("latest-tag", custom) == []
    assert _run("host-namespaces", custom) == []


@pytest.mark.parametrize("junk", [None, "text", 3, ["a"], {"containers": "x"}, {"containers": [None, 3]}])
def test_sloppy_objects_never_raise(junk: Any) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": junk}}}
    params = {rid: r.params for rid, r in RULES.items() if r.check}
    assert rules.check(body, params) == []
    assert rules.check({"apiVersion": 3, "kind": None}, params) == []


def test_only_the_rules_given_run() -> None:
    body = _deploy(_container(image="nginx"), hostNetwork=True)
    assert {rid for rid, _ in rules.check(body, {"latest-tag": {}})} == {"latest-tag"}
    assert rules.check(body, {}) == []
    assert isinstance(rules.check(body, {"latest-tag": {}})[0][1], Hit)
