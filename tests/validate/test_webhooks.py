"""Rule webhook-not-ready: objects applied before the webhook that must admit them can
answer, judged as Argo CD orders a sync (tests/data/agents/argocd-sync-order.json)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pygit2

from pipeline.config import yamlio
from pipeline.render.engine import PackageRender
from pipeline.render.resources import ResId, Resource
from pipeline.validate import webhooks
from tests.conftest import ROOT, commit_all, hydrate, replace_in

ORDER = json.loads((ROOT / "tests" / "data" / "agents" / "argocd-sync-order.json").read_text())


def _res(body: dict[str, Any]) -> Resource:
    scoped = body["kind"] in ("ClusterIssuer", "Namespace", "ValidatingWebhookConfiguration",
                              "MutatingWebhookConfiguration", "CustomResourceDefinition")
    rid = ResId.of(body)
    return Resource(rid._replace(namespace="") if scoped else rid, yamlio.dump(body).encode(),
                    None, body)


def _config(name: str = "issuers-webhook", policy: str | None = None, **hook: Any) -> dict[str, Any]:
    webhook = {"name": "validate.issuers.example.com", "sideEffects": "None",
               "admissionReviewVersions": ["v1"],
               "clientConfig": {"service": {"namespace": "issuers", "name": "webhook"}},
               "rules": [{"apiGroups": ["issuers.example.com"], "apiVersions": ["v1"],
                          "operations": ["CREATE", "UPDATE"], "resources": ["*/*"]}], **hook}
    if policy is not None:
        webhook["failurePolicy"] = policy
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": name}, "webhooks": [webhook]}


SERVICE = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "webhook", "namespace": "issuers"}, "spec": {"ports": [{"port": 443}]}}
CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
       "metadata": {"name": "issuers.issuers.example.com"},
       "spec": {"group": "issuers.example.com", "scope": "Cluster",
                "names": {"kind": "Issuer", "plural": "issuers"}}}


def _issuer(name: str = "selfsigned", **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "issuers.example.com/v1", "kind": "Issuer",
            "metadata": {"name": name, **meta}, "spec": {}}


def _flagged(*packages: tuple[str, int, list[dict[str, Any]]]) -> list[str]:
    renders = [PackageRender(name, wave, tuple(_res(b) for b in bodies))
               for name, wave, bodies in packages]
    return [f"{u.placed.id.kind}/{u.placed.id.name}" for u in webhooks.unready(renders)]


def test_the_kind_order_is_argo_cds() -> None:
    assert list(webhooks.KINDS_FIRST) == ORDER["kindsFirst"]


def test_an_object_in_the_wave_of_the_webhook_it_needs_is_flagged() -> None:
    assert _flagged(("issuers", 1, [_config(), SERVICE, CRD, _issuer()])) == ["Issuer/selfsigned"]
    # Two packages of one wave are one step for Argo CD.
    assert _flagged(("controller", 1, [_config(), SERVICE, CRD]),
                    ("config", 1, [_issuer()])) == ["Issuer/selfsigned"]
    # failurePolicy Fail is the default; Ignore lets the object through.
    assert _flagged(("issuers", 1, [_config(policy="Fail"), SERVICE, CRD, _issuer()])) == \
        ["Issuer/selfsigned"]
    assert _flagged(("issuers", 1, [_config(policy="Ignore"), SERVICE, CRD, _issuer()])) == []


def test_a_later_wave_waits_for_the_webhook() -> None:
    assert _flagged(("controller", 1, [_config(), SERVICE, CRD]), ("config", 2, [_issuer()])) == []
    # A Service in a later wave than the object: the webhook is not there to answer yet.
    assert _flagged(("controller", 1, [_config(), CRD, _issuer()]),
                    ("backend", 2, [SERVICE])) == ["Issuer/selfsigned"]


def test_what_argo_cd_applies_before_the_configuration_is_not_intercepted() -> None:
    # Other kinds than the known ones sort by name: "aaa" goes before "issuers-webhook".
    assert _flagged(("issuers", 1, [_config(), SERVICE, CRD, _issuer("aaa")])) == []
    assert _flagged(("issuers", 1, [_config(name="a-webhook"), SERVICE, CRD, _issuer("aaa")])) \
        == ["Issuer/aaa"]
    # Known kinds (a ConfigMap) go before every other kind of the wave.
    core = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
             "resources": ["configmaps"]}]
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "z", "namespace": "app"}}
    assert _flagged(("p", 1, [_config(rules=core), SERVICE, config_map])) == []
    assert _flagged(("p", 1, [_config(rules=core), SERVICE]), ("q", 1, [])) == []
    # ... unless the configuration came in an earlier wave.
    assert _flagged(("a", 0, [_config(rules=core)]), ("p", 1, [SERVICE, config_map])) == \
        ["ConfigMap/z"]


def test_what_the_webhook_does_not_intercept_is_not_flagged() -> None:
    def rules(**rule: Any) -> list[dict[str, Any]]:
        return [{"apiGroups": ["issuers.example.com"], "apiVersions": ["v1"],
                 "operations": ["CREATE"], "resources": ["issuers"], **rule}]

    assert _flagged(("p", 1, [_config(rules=rules()), SERVICE, CRD, _issuer()])) == ["Issuer/selfsigned"]
    for other in (rules(resources=["certificates"]), rules(operations=["UPDATE", "DELETE"]),
                  rules(apiGroups=["other.example.com"]), rules(apiVersions=["v2"]),
                  rules(scope="Namespaced"), rules(resources=["issuers/status"])):
        assert _flagged(("p", 1, [_config(rules=other), SERVICE, CRD, _issuer()])) == [], other
    assert _flagged(("p", 1, [_config(rules=rules(operations=["*"], scope="Cluster")),
                              SERVICE, CRD, _issuer()])) == ["Issuer/selfsigned"]
    # Selectors: on the object's labels, and on its Namespace's as rendered.
    skip = {"matchExpressions": [{"key": "validate", "operator": "NotIn", "values": ["off"]}]}
    assert _flagged(("p", 1, [_config(objectSelector=skip), SERVICE, CRD,
                              _issuer(labels={"validate": "off"})])) == []
    assert _flagged(("p", 1, [_config(objectSelector=skip), SERVICE, CRD, _issuer()])) == \
        ["Issuer/selfsigned"]
    namespaced = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                   "resources": ["configmaps"]}]
    plain = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "app"}}
    off = {"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": "app", "labels": {"validate": "off"}}}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "z", "namespace": "app"}}
    early = _config(rules=namespaced, namespaceSelector=skip)
    assert _flagged(("ns", 0, [plain, early]), ("p", 1, [SERVICE, config_map])) == ["ConfigMap/z"]
    assert _flagged(("ns", 0, [off, early]), ("p", 1, [SERVICE, config_map])) == []
    by_name = _config(rules=namespaced, namespaceSelector={"matchLabels": {
        "kubernetes.io/metadata.name": "other"}})
    assert _flagged(("ns", 0, [plain, by_name]), ("p", 1, [SERVICE, config_map])) == []
    # Configurations the schema check refuses do not crash this one.
    for broken in ({"webhooks": "x"}, {"webhooks": [{"clientConfig": "x"}]},
                   {"webhooks": [{"clientConfig": {"service": {"namespace": "issuers",
                                                               "name": "webhook"}},
                                  "rules": "x", "objectSelector": "x"}]}):
        bad = {**_config(), **broken}
        assert _flagged(("p", 1, [bad, SERVICE, CRD, _issuer()])) == []
    # A webhook called by URL, or through a Service the render does not create.
    url = _config(clientConfig={"url": "https://issuers.example.com/validate"})
    assert _flagged(("p", 1, [url, SERVICE, CRD, _issuer()])) == []
    assert _flagged(("p", 1, [_config(), CRD, _issuer()])) == []


def test_validate_flags_it_on_the_line_that_made_it(tmp_path: Path,
                                                    example_repo: pygit2.Repository) -> None:
    """The example fleet's layout before cert-manager-issuers: the ClusterIssuer in
    cert-manager's own wave."""
    root = Path(example_repo.workdir)
    clean = hydrate("--repo", root, "validate", "--format", "json")
    assert clean.code == 0
    assert not [f for f in json.loads(clean.out)["findings"] if f["rule"] == "webhook-not-ready"]
    shutil.move(root / "bases/cert-manager-issuers/cluster-issuer.yaml",
                root / "bases/cert-manager/cluster-issuer.yaml")
    shutil.rmtree(root / "bases/cert-manager-issuers")
    replace_in(root / "bases/cert-manager/kustomization.yaml", "- webhook.yaml\n",
               "- webhook.yaml\n- cluster-issuer.yaml\n")
    for cls in ("datacenter", "micro-dc", "pop"):
        replace_in(root / f"fleet/classes/{cls}.yaml", "- cert-manager-issuers\n", "")
    commit_all(example_repo, "The issuer back in cert-manager's wave")
    result = hydrate("--repo", root, "validate", "--format", "json")
    assert result.code == 0, result.err  # a warning
    (found,) = [f for f in json.loads(result.out)["findings"] if f["rule"] == "webhook-not-ready"]
    assert found["severity"] == "warning"
    assert found["package"] == "cert-manager"
    assert found["object"] == {"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
                               "namespace": None, "name": "selfsigned"}
    assert found["source"]["path"] == "bases/cert-manager/cluster-issuer.yaml"
    assert len(found["clusters"]) == 14
    assert found["message"].startswith(
        "ClusterIssuer selfsigned is applied in sync wave 1, after ValidatingWebhookConfiguration "
        "cert-manager-webhook (wave 1), whose webhook webhook.cert-manager.io (failurePolicy Fail) "
        "must admit it by calling Service cert-manager/cert-manager-webhook, created in the same "
        "wave")
    # Off in the policy: no finding.
    (root / "fleet/policy.yaml").write_text("rules:\n  webhook-not-ready: \"off\"\n")
    off = hydrate("--repo", root, "validate", "--format", "json")
    assert off.code == 0, off.err
    assert not [f for f in json.loads(off.out)["findings"] if f["rule"] == "webhook-not-ready"]
