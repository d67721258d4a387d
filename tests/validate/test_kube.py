"""Objects against the Kubernetes schemas of their class's version, and custom resources
against the CRDs rendered with them."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.config import yamlio
from pipeline.validate import served
from pipeline.validate.crd import Compiled, CrdSchemas, compile_schema
from pipeline.validate.kube import Problem, Schemas, data_dir, supported_versions

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "rendered"
NO_CRDS = CrdSchemas.from_objects([])


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas()


def deployment(**spec: Any) -> dict[str, Any]:
    container = {"name": "app", "image": "registry.example.com/app:1.0", **spec.pop("container", {})}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "pos"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "app"}},
                     "template": {"metadata": {"labels": {"app": "app"}},
                                  "spec": {"containers": [container]}}, **spec}}


def test_versions() -> None:
    supported = supported_versions()
    assert supported[0] == "1.25"
    assert {"1.29", "1.30", "1.31", "1.37"} <= set(supported)
    schemas = Schemas()
    assert schemas.supported() == supported
    assert [schemas.schema_version(v) for v in ("1.30", "v1.30", "1.30.4", "1.25")] == ["1.30"] * 3 + ["1.25"]
    assert schemas.schema_version("1.99") == supported[-1]
    with pytest.raises(ValueError, match=r"Kubernetes 1\.24 is older than the schemas hydrate has \(1\.25 "):
        schemas.schema_version("1.24")
    for bad in ("1.3x", "2.30", "", "1"):
        with pytest.raises(ValueError, match="is not a Kubernetes version"):
            schemas.schema_version(bad)


def test_a_version_between_the_data_uses_the_newest_older_one(tmp_path: Path) -> None:
    for minor in (26, 28):
        (tmp_path / f"v1.{minor}.0-local-strict").mkdir()
    (tmp_path / "v1.27.0-local").mkdir()  # not strict: not used
    schemas = Schemas(tmp_path)
    assert schemas.supported() == ("1.26", "1.28")
    found = [schemas.schema_version(v) for v in ("1.26", "1.27", "1.28", "1.31")]
    assert found == ["1.26", "1.26", "1.28", "1.28"]
    with pytest.raises(ValueError, match=r"older than the schemas hydrate has \(1\.26 to 1\.28\)"):
        schemas.schema_version("1.25")


def test_a_valid_deployment_has_no_problems(schemas: Schemas) -> None:
    assert schemas.check("1.30", deployment(), NO_CRDS) == []


def test_unknown_fields_and_wrong_types_are_all_reported_sorted_by_field(schemas: Schemas) -> None:
    body = deployment(replicas="three",
                      container={"imagePullPolcy": "Always", "ports": [{"containerPort": "80"}]})
    body["metadata"]["lables"] = {"a": "b"}
    found = schemas.check("v1.30.2", body, NO_CRDS)
    containers = "spec.template.spec.containers[0]"
    assert found == [
        Problem("schema", "metadata.lables: unknown field (not in apps/v1 Deployment; "
                          "did you mean 'labels'?)", "metadata.lables"),
        Problem("schema", "spec.replicas: 'three' is not of type 'integer'", "spec.replicas"),
        Problem("schema", f"{containers}.imagePullPolcy: unknown field (not in apps/v1 Deployment; "
                          "did you mean 'imagePullPolicy'?)",
                f"{containers}.imagePullPolcy"),
        Problem("schema", f"{containers}.ports[0].containerPort: '80' is not of type 'integer'",
                f"{containers}.ports[0].containerPort"),
    ]
    assert schemas.check("1.30", body, NO_CRDS) == found  # deterministic


def test_required_fields(schemas: Schemas) -> None:
    body = deployment()
    del body["spec"]["selector"]
    del body["spec"]["template"]["spec"]["containers"][0]["name"]
    assert schemas.check("1.30", body, NO_CRDS) == [
        Problem("schema", "spec.selector: required field is missing", "spec.selector"),
        Problem("schema", "spec.template.spec.containers[0].name: required field is missing",
                "spec.template.spec.containers[0].name"),
    ]


@pytest.mark.parametrize("value", [8080, "80%", None])
def test_int_or_string_takes_integers_strings_and_null(schemas: Schemas, value: object) -> None:
    body = deployment(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": value,
                                                                           "maxUnavailable": value}})
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["ports"] = [{"containerPort": 8080}]
    container["readinessProbe"] = {"httpGet": {"port": value or "http"}}
    assert schemas.check("1.30", body, NO_CRDS) == []


def test_int_or_string_and_quantities_refuse_other_types(schemas: Schemas) -> None:
    body = deployment(strategy={"rollingUpdate": {"maxSurge": True}},
                      container={"resources": {"limits": {"cpu": None, "memory": "1Gi"},
                                               "requests": {"cpu": [1]}}})
    assert schemas.check("1.30", body, NO_CRDS) == [
        Problem("schema", "spec.strategy.rollingUpdate.maxSurge: true is not of type 'integer' or 'string'",
                "spec.strategy.rollingUpdate.maxSurge"),
        Problem("schema", "spec.template.spec.containers[0].resources.requests.cpu: an array is not of type "
                          "'number' or 'string'", "spec.template.spec.containers[0].resources.requests.cpu"),
    ]


def _pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "c:1"}], **spec}}


QUANTITY_FIELDS = [  # (object, the field holding a malformed quantity, its value)
    (deployment(container={"resources": {"requests": {"cpu": "1.5.5"}}}),
     "spec.template.spec.containers[0].resources.requests.cpu", "1.5.5"),
    (deployment(container={"resources": {"limits": {"memory": "1GB"}}}),
     "spec.template.spec.containers[0].resources.limits.memory", "1GB"),
    ({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10 Gi"}}}},
     "spec.resources.requests.storage", "10 Gi"),
    ({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
      "spec": {"serviceName": "db", "selector": {"matchLabels": {"a": "b"}},
               "template": {"metadata": {"labels": {"a": "b"}},
                            "spec": {"containers": [{"name": "db", "image": "db:1"}]}},
               "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {
                   "resources": {"requests": {"storage": "1e"}}}}]}},
     "spec.volumeClaimTemplates[0].spec.resources.requests.storage", "1e"),
    ({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
      "spec": {"hard": {"requests.cpu": "ten"}}}, "spec.hard.requests.cpu", "ten"),
    ({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"},
      "spec": {"limits": [{"type": "Container", "default": {"cpu": "m500"}}]}},
     "spec.limits[0].default.cpu", "m500"),
    (_pod(volumes=[{"name": "tmp", "emptyDir": {"sizeLimit": "1.5.5Gi"}}]),
     "spec.volumes[0].emptyDir.sizeLimit", "1.5.5Gi"),
    (_pod(overhead={"cpu": "1,5"}), "spec.overhead.cpu", "1,5"),
]


@pytest.mark.parametrize(("body", "field", "value"), QUANTITY_FIELDS)
@pytest.mark.parametrize("engine", ["rs", "py"])
def test_every_quantity_field_is_held_to_the_api_servers_grammar(body: dict[str, Any], field: str,
                                                                 value: str, engine: str) -> None:
    # The published schema says only "string or number"; which fields are quantities comes
    # from the data (their reference to resource.Quantity), not from a list of names.
    schemas = Schemas(compile=lambda schema: Compiled(schema, engine=engine))
    assert schemas.check("1.30", body, NO_CRDS) == [
        Problem("schema", f"{field}: {value!r} is not a quantity (e.g. 500m, 2, 1.5, 128Mi, 1Gi, 1e3)",
                field)]


@pytest.mark.parametrize("value", ["100m", "1", "1.", ".5", "+1.5", "1e3", "1E-2", "2E", "128Mi", "1Ei",
                                   "5n", "10u", " 250m ", 1.5, 2, 0, None])
def test_quantities_the_api_server_accepts_pass(schemas: Schemas, value: object) -> None:
    body = deployment(container={"resources": {"requests": {"cpu": value, "memory": value}}})
    assert schemas.check("1.30", body, NO_CRDS) == []


@pytest.mark.parametrize(("version", "api", "kind", "fix"), [
    ("1.25", "batch/v1beta1", "CronJob", "batch/v1"),
    ("1.25", "policy/v1beta1", "PodDisruptionBudget", "policy/v1"),
    ("1.29", "flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", "flowcontrol.apiserver.k8s.io/v1"),
    ("1.26", "autoscaling/v2beta2", "HorizontalPodAutoscaler", "autoscaling/v2"),
])
def test_removed_api_versions_are_not_served(schemas: Schemas, version: str, api: str, kind: str,
                                             fix: str) -> None:
    body = {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, "spec": {}}
    assert schemas.check(version, body, NO_CRDS) == [
        Problem("api-not-served", f"{api} {kind} is not served by Kubernetes {version}; use {fix}", "")]


VAP = {"apiVersion": "admissionregistration.k8s.io/v1alpha1", "kind": "ValidatingAdmissionPolicy",
       "metadata": {"name": "no-latest"},
       "spec": {"validations": [{"expression": "true"}], "failurePolicy": "Fail"}}


def test_alpha_and_new_beta_apis_are_not_served_by_default(schemas: Schemas) -> None:
    # 1.29 has admissionregistration v1alpha1 and v1beta1 in its schemas, neither on by default.
    assert schemas.check("1.29", VAP, NO_CRDS) == [Problem(
        "api-not-served", "admissionregistration.k8s.io/v1alpha1 ValidatingAdmissionPolicy is alpha: "
        "Kubernetes 1.29 serves it only if its API server enables it; no version of "
        "ValidatingAdmissionPolicy is on by default; where the clusters enable it (kube-apiserver "
        "--runtime-config), list admissionregistration.k8s.io/v1alpha1 in the class's "
        "(or the cluster's) apiVersions", "")]
    beta = {**VAP, "apiVersion": "admissionregistration.k8s.io/v1beta1"}
    assert schemas.check("1.30", beta, NO_CRDS) == [Problem(
        "api-not-served", "admissionregistration.k8s.io/v1beta1 ValidatingAdmissionPolicy is beta: "
        "Kubernetes 1.30 serves it only if its API server enables it; use admissionregistration.k8s.io/v1, "
        "or, where the clusters enable it (kube-apiserver --runtime-config), list "
        "admissionregistration.k8s.io/v1beta1 in the class's (or the cluster's) apiVersions", "")]
    assert schemas.check("1.30", {**VAP, "apiVersion": "admissionregistration.k8s.io/v1"}, NO_CRDS) == []


def test_a_class_enables_more_apis_with_api_versions(schemas: Schemas) -> None:
    for enabled in (("admissionregistration.k8s.io/v1alpha1",),
                    ("admissionregistration.k8s.io/v1alpha1/ValidatingAdmissionPolicy",)):
        assert schemas.check("1.29", VAP, NO_CRDS, enabled) == []
    # Enabled, then checked against its schema like any other.
    typo = {**VAP, "spec": {"validationz": []}}
    alpha = ("admissionregistration.k8s.io/v1alpha1",)
    assert [p.rule for p in schemas.check("1.29", typo, NO_CRDS, alpha)] == ["schema"]
    # Another kind of the group is not enabled by naming one kind.
    binding = {**VAP, "kind": "ValidatingAdmissionPolicyBinding", "spec": {}}
    assert [p.rule for p in schemas.check(
        "1.29", binding, NO_CRDS, ("admissionregistration.k8s.io/v1alpha1/ValidatingAdmissionPolicy",))] \
        == ["api-not-served"]


@pytest.mark.parametrize(("version", "api", "kind"), [
    ("1.25", "autoscaling/v2beta2", "HorizontalPodAutoscaler"),
    ("1.25", "storage.k8s.io/v1beta1", "CSIStorageCapacity"),
    ("1.26", "flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema"),
    ("1.29", "flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration"),
])
def test_the_legacy_betas_stay_served(schemas: Schemas, version: str, api: str, kind: str) -> None:
    body = {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}}
    assert [p.rule for p in schemas.check(version, body, NO_CRDS)] in ([], ["schema"])
    assert all(p.rule != "api-not-served" for p in schemas.check(version, body, NO_CRDS))


def test_the_legacy_beta_table_names_apis_the_data_has() -> None:
    schemas = Schemas()
    for version, apis in served.LEGACY_BETA.items():
        for group, api_version, kind in apis:
            assert schemas.validator(version, group, api_version, kind) is not None, (version, kind)
            assert served.stage(api_version) == "beta"


def test_a_built_in_group_without_the_kind_is_not_served(schemas: Schemas) -> None:
    psp = {"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "x"}}
    assert schemas.check("1.25", psp, NO_CRDS) == [Problem(
        "api-not-served", "policy/v1beta1 PodSecurityPolicy is not served by Kubernetes 1.25, which has "
        "no PodSecurityPolicy in the policy API group; replace it (the Kubernetes deprecated API "
        "migration guide names the successor)", "")]
    ingress = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "x"}}
    assert schemas.check("1.30", ingress, NO_CRDS) == [Problem(
        "api-not-served", "extensions/v1beta1 Ingress is not served by Kubernetes 1.30, which has no Ingress "
        "in the extensions API group; use networking.k8s.io/v1", "")]


WIDGET_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "deployments.apps.example.com"},
    "spec": {"group": "apps.example.com", "scope": "Namespaced",
             "names": {"kind": "Deployment", "plural": "deployments"},
             "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                 "type": "object", "properties": {"spec": {"type": "object", "properties": {
                     "size": {"type": "integer"}}}}}}},
                 {"name": "v1beta1", "served": False, "storage": False}]},
}


def test_a_kind_in_another_group_is_not_held_to_the_built_in_one(schemas: Schemas) -> None:
    body = {"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "x"},
            "spec": {"size": 3}}
    assert schemas.check("1.30", body, NO_CRDS) == [Problem(
        "unknown-kind", "no schema for apps.example.com/v1 Deployment: no CRD for it is rendered in this "
        "cluster and it is not built into Kubernetes 1.30", "")]
    crds = CrdSchemas.from_objects([WIDGET_CRD])
    assert schemas.check("1.30", body, crds) == []
    body["spec"] = {"size": "big", "replicas": 2}
    assert schemas.check("1.30", body, crds) == [
        Problem("schema", "spec.replicas: unknown field (not in apps.example.com/v1 Deployment of CRD "
                          "deployments.apps.example.com: the API server would drop it)", "spec.replicas"),
        Problem("schema", "spec.size: 'big' is not of type 'integer'", "spec.size"),
    ]


def test_a_custom_resource_version_the_crd_does_not_serve(schemas: Schemas) -> None:
    crds = CrdSchemas.from_objects([WIDGET_CRD])
    for api in ("v1beta1", "v2"):
        body = {"apiVersion": f"apps.example.com/{api}", "kind": "Deployment", "metadata": {"name": "x"}}
        assert schemas.check("1.30", body, crds) == [Problem(
            "api-not-served", f"apps.example.com/{api} Deployment is not served by CRD "
            "deployments.apps.example.com (served: v1); use apps.example.com/v1", "")]


def test_the_crd_itself_is_checked_against_the_built_in_schema(schemas: Schemas) -> None:
    assert schemas.check("1.30", WIDGET_CRD, NO_CRDS) == []
    broken = json.loads(json.dumps(WIDGET_CRD))
    broken["spec"]["versions"][0]["servd"] = True
    assert schemas.check("1.30", broken, NO_CRDS) == [Problem(
        "schema", "spec.versions[0].servd: unknown field (not in apiextensions.k8s.io/v1 "
        "CustomResourceDefinition; did you mean 'served'?)", "spec.versions[0].servd")]


def test_an_object_without_apiversion_or_kind(schemas: Schemas) -> None:
    assert schemas.check("1.30", {"kind": "Deployment"}, NO_CRDS) == [
        Problem("schema", "an object needs apiVersion and kind, both non-empty strings", "")]


def test_validators_are_compiled_once_per_version_and_kind() -> None:
    compiled: Counter[str] = Counter()
    bodies = [deployment(), deployment(replicas="x"),
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": [{"port": 80}]}}]

    def compile(schema: dict[str, Any]) -> Compiled:
        compiled[schema["$ref"].rsplit(".", 1)[-1]] += 1
        return compile_schema(schema)

    schemas = Schemas(compile=compile)
    assert compiled == Counter()
    for version in ("1.30", "v1.30.1", "1.31", "1.30"):
        for body in bodies:
            schemas.check(version, body, NO_CRDS)
    assert compiled == Counter({"Deployment": 2, "Service": 2})  # 1.30 and 1.31 each


def test_each_schema_is_self_contained_with_the_reachable_definitions_only() -> None:
    seen: list[dict[str, Any]] = []

    def compile(schema: dict[str, Any]) -> Compiled:
        seen.append(schema)
        return compile_schema(schema)

    Schemas(compile=compile).check("1.30", deployment(), NO_CRDS)
    (schema,) = seen
    text = json.dumps(schema)
    refs = {r.split('"')[0] for r in text.split('"$ref": "')[1:]}
    assert refs
    assert all(r.startswith("#/$defs/") for r in refs)
    reached = {r.removeprefix("#/$defs/") for r in refs} | {"io.k8s.api.apps.v1.Deployment"}
    assert reached == set(schema["$defs"])
    assert "io.k8s.api.batch.v1.Job" not in schema["$defs"]
    assert '"oneOf"' not in text
    assert '"description"' not in text
    assert schema["$defs"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "type": ["string", "integer", "null"]}


def test_the_definitions_of_a_version_are_read_once(tmp_path: Path) -> None:
    strict = tmp_path / "v1.30.0-local-strict"
    strict.mkdir()
    shutil.copy(data_dir() / "v1.30.0-local-strict" / "_definitions.json", strict)
    schemas = Schemas(tmp_path)
    assert schemas.check("1.30", deployment(), NO_CRDS) == []
    (strict / "_definitions.json").unlink()
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}
    assert schemas.check("1.30", service, NO_CRDS) == []


def _class_versions() -> dict[str, str]:
    """cluster → its class's kubernetesVersion, from the example fleet."""
    versions = {}
    classes = {(d := yaml.safe_load(p.read_text()))["name"]: d["kubernetesVersion"]
               for p in (ROOT / "fleet" / "classes").glob("*.yaml")}
    for path in (ROOT / "fleet" / "clusters").glob("*.yaml"):
        cluster = yaml.safe_load(path.read_text())
        versions[cluster["name"]] = classes[cluster["class"]]
    return versions


def test_the_rendered_example_fleet_passes(schemas: Schemas) -> None:
    versions = _class_versions()
    checked = Counter[str]()
    for cluster in sorted(p for p in GOLDEN.glob("*/*") if p.is_dir() and p.name in versions):
        files = [p for p in sorted(cluster.glob("*/*.yaml")) if p.name != "kustomization.yaml"]
        bodies = {p: yamlio.load(p.read_bytes()) for p in files}
        crds = CrdSchemas.from_objects(b for b in bodies.values() if b["kind"] == "CustomResourceDefinition")
        for path, body in bodies.items():
            assert schemas.check(versions[cluster.name], body, crds) == [], path
            checked[body["kind"]] += 1
    assert checked["Deployment"] > 10
    assert checked["CustomResourceDefinition"] > 0
    assert checked["Certificate"] > 0
