"""Custom resources against the openAPIV3Schema of their CRD, as the API server reads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.validate.crd import Compiled, CrdCompiler, CrdSchemas, compile_schema, convert

ROOT = Path(__file__).resolve().parents[2]
CERT_MANAGER = ROOT / "bases" / "cert-manager" / "crds.yaml"
GOLDEN = ROOT / "tests" / "golden" / "rendered"

WIDGET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "format": "int32", "minimum": 1},
                "port": {"x-kubernetes-int-or-string": True},
                "mode": {"type": "string", "enum": ["fast", "safe"]},
                "owner": {"type": "string", "nullable": True, "pattern": "^[a-z]+$"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                           "properties": {"level": {"type": "integer"}}},
                "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                             "x-kubernetes-preserve-unknown-fields": True},
                "data": {"type": "string", "format": "byte"},
                "rules": {"type": "array", "items": {"type": "object", "properties": {
                    "host": {"type": "string"}}}},
            },
            "x-kubernetes-validations": [{"rule": "self.size < 100"}],
        },
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


def crd(*versions: dict[str, Any], group: str = "example.com", kind: str = "Widget",
        **spec: Any) -> dict[str, Any]:
    plural = f"{kind.lower()}s"
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced", **spec,
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                     "versions": list(versions)}}


def version(name: str = "v1", schema: dict[str, Any] | None = WIDGET_SCHEMA,
            served: bool = True) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "served": served, "storage": name == "v1"}
    if schema is not None:
        found["schema"] = {"openAPIV3Schema": schema}
    return found


def widget(spec: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec, **top}


UNKNOWN = ("unknown field (not in example.com/v1 Widget of CRD widgets.example.com: the API server "
           "would drop it")


@pytest.fixture
def widgets() -> CrdSchemas:
    return CrdSchemas.from_objects([crd(version())])


def test_a_valid_custom_resource_has_no_problems(widgets: CrdSchemas) -> None:
    body = widget({"size": 3, "port": 8080, "mode": "fast", "owner": None, "labels": {"a": "b"},
                   "data": "not base64 at all", "rules": [{"host": "a"}]}, status={"anything": [1]})
    assert widgets.validate("example.com", "v1", "Widget", body) == []


def test_wrong_types_missing_fields_and_enums_are_reported_at_their_paths(widgets: CrdSchemas) -> None:
    body = widget({"size": "three", "mode": "slow", "owner": "Bob", "rules": [{"host": 1}]})
    assert widgets.validate("example.com", "v1", "Widget", body) == [
        ("spec.mode", "spec.mode: 'slow' is not one of 'fast', 'safe'"),
        ("spec.owner", "spec.owner: 'Bob' does not match the pattern '^[a-z]+$'"),
        ("spec.rules[0].host", "spec.rules[0].host: 1 is not of type 'string'"),
        ("spec.size", "spec.size: 'three' is not of type 'integer'"),
    ]
    assert widgets.validate("example.com", "v1", "Widget", widget({})) == [
        ("spec.size", "spec.size: required field is missing")]
    assert widgets.validate("example.com", "v1", "Widget", widget({"size": 0})) == [
        ("spec.size", "spec.size: 0 is less than the minimum of 1")]


def test_unknown_fields_are_reported_because_the_api_server_would_prune_them(widgets: CrdSchemas) -> None:
    body = widget({"size": 1, "sise": 2, "rules": [{"hots": "a"}]}, extra=True)
    assert widgets.validate("example.com", "v1", "Widget", body) == [
        ("extra", f"extra: {UNKNOWN})"),
        ("spec.rules[0].hots", f"spec.rules[0].hots: {UNKNOWN}; did you mean 'host'?)"),
        ("spec.sise", f"spec.sise: {UNKNOWN}; did you mean 'size'?)"),
    ]


def test_int_or_string_and_nullable(widgets: CrdSchemas) -> None:
    for port in (8080, "http", "80%"):
        assert widgets.validate("example.com", "v1", "Widget", widget({"size": 1, "port": port})) == []
    assert widgets.validate("example.com", "v1", "Widget", widget({"size": 1, "port": 1.5})) == [
        ("spec.port", "spec.port: 1.5 is not of type 'integer' or 'string'")]
    assert widgets.validate("example.com", "v1", "Widget", widget({"size": 1, "owner": None})) == []
    assert widgets.validate("example.com", "v1", "Widget", widget({"size": None})) == [
        ("spec.size", "spec.size: null is not of type 'integer'")]


def test_a_preserve_unknown_fields_subtree_takes_anything_but_its_declared_fields_are_checked(
        widgets: CrdSchemas) -> None:
    config = {"level": 2, "free": {"form": [1, "two"]}}
    assert widgets.validate("example.com", "v1", "Widget", widget({"size": 1, "config": config})) == []
    body = widget({"size": 1, "config": {"level": "high"}})
    assert widgets.validate("example.com", "v1", "Widget", body) == [
        ("spec.config.level", "spec.config.level: 'high' is not of type 'integer'")]


def test_an_embedded_resource_keeps_its_apiversion_kind_and_metadata(widgets: CrdSchemas) -> None:
    template = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}},
                "data": {"k": "v"}}
    assert widgets.validate("example.com", "v1", "Widget", widget({"size": 1, "template": template})) == []
    assert widgets.validate("example.com", "v1", "Widget", widget({"size": 1, "template": {"kind": 3}})) == [
        ("spec.template.kind", "spec.template.kind: 3 is not of type 'string'")]


def test_root_apiversion_kind_and_metadata_are_allowed_and_metadata_is_not_checked_deeply() -> None:
    schemas = CrdSchemas.from_objects([crd(version(schema={"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}))])
    body = widget({"size": 1}, metadata={"name": "w", "whatever": {"deep": True}})
    assert schemas.validate("example.com", "v1", "Widget", body) == []


def test_served_versions_and_versions_without_a_schema() -> None:
    schemas = CrdSchemas.from_objects([crd(version("v1"), version("v1beta1", served=False),
                                           version("v2alpha1", schema=None))])
    assert schemas.kinds() == frozenset({("example.com", "Widget")})
    assert schemas.served("example.com", "Widget") == ("v1", "v2alpha1")
    assert schemas.served("example.com", "Gadget") == ()
    assert schemas.validate("example.com", "v2alpha1", "Widget", widget({"any": 1})) is None
    assert schemas.validate("example.com", "v9", "Widget", widget({})) is None
    assert schemas.name("example.com", "Widget") == "widgets.example.com"


def test_preserve_unknown_fields_on_the_crd_turns_off_unknown_field_checks_only() -> None:
    v1beta1 = {"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "widgets.example.com"},
               "spec": {"group": "example.com", "version": "v1", "preserveUnknownFields": True,
                        "names": {"kind": "Widget", "plural": "widgets"},
                        "validation": {"openAPIV3Schema": WIDGET_SCHEMA}}}
    schemas = CrdSchemas.from_objects([v1beta1])
    assert schemas.served("example.com", "Widget") == ("v1",)
    assert schemas.validate("example.com", "v1", "Widget", widget({"size": 1, "sise": 2}, extra=1)) == []
    assert schemas.validate("example.com", "v1", "Widget", widget({"size": "big"})) == [
        ("spec.size", "spec.size: 'big' is not of type 'integer'")]


def test_alternatives_read_as_one_sentence() -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "name": {"type": "string", "oneOf": [{"pattern": "^a"}, {"pattern": "^b"}]}}}}}
    schemas = CrdSchemas.from_objects([crd(version(schema=schema))])
    assert schemas.validate("example.com", "v1", "Widget", widget({"port": [1], "name": "c"})) == [
        ("spec.name", "spec.name: 'c' matches none of the allowed forms ('c' does not match the pattern "
                      "'^a'; or 'c' does not match the pattern '^b')"),
        ("spec.port", "spec.port: an array is not of type 'integer' or 'string'"),
    ]


def test_conversion() -> None:
    assert convert({"type": "integer", "format": "int64", "minimum": 0, "exclusiveMinimum": True,
                    "description": "d", "x-kubernetes-validations": [], "nullable": True}) == {
        "type": ["integer", "null"], "exclusiveMinimum": 0}
    assert convert({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"], "enum": ["a", None]}
    assert convert({"type": "object", "additionalProperties": {"type": "object", "properties": {}}}) == {
        "type": "object", "additionalProperties": {"type": "object", "properties": {},
                                                   "additionalProperties": False}}
    # Value validations never prune: no additionalProperties inside anyOf / allOf / not.
    assert convert({"type": "object", "properties": {"a": {"type": "string"}},
                    "anyOf": [{"properties": {"a": {"minLength": 1}}}]}) == {
        "type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False,
        "anyOf": [{"properties": {"a": {"minLength": 1}}}]}
    assert convert({"type": "object", "properties": {}}, prune=False) == {"type": "object", "properties": {}}


def test_the_digest_is_stable_and_follows_what_is_held() -> None:
    a, b = crd(version()), crd(version(), kind="Gadget")
    assert CrdSchemas.from_objects([a, b]).digest == CrdSchemas.from_objects([b, a]).digest
    assert CrdSchemas.from_objects([a]).digest != CrdSchemas.from_objects([a, b]).digest
    assert CrdSchemas.from_objects([a]).digest != CrdSchemas.from_objects([crd(version(served=False))]).digest
    changed = crd(version(schema={**WIDGET_SCHEMA, "required": ["spec"]}))
    assert CrdSchemas.from_objects([a]).digest != CrdSchemas.from_objects([changed]).digest
    assert CrdSchemas.from_objects([]).digest == CrdSchemas.from_objects([{"spec": "broken"}]).digest


def counting() -> tuple[list[dict[str, Any]], Callable[[dict[str, Any]], Compiled]]:
    seen: list[dict[str, Any]] = []

    def compile(schema: dict[str, Any]) -> Compiled:
        seen.append(schema)
        return compile_schema(schema)

    return seen, compile


def test_schemas_compile_lazily_and_once_across_clusters_sharing_a_compiler() -> None:
    seen, compile = counting()
    compiler = CrdCompiler(compile)
    objects = list(yaml.safe_load_all(CERT_MANAGER.read_text()))
    clusters = [CrdSchemas.from_objects(objects, compiler), CrdSchemas.from_objects(objects[:1], compiler)]
    assert seen == []
    body = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"},
            "spec": {"secretName": "s", "issuerRef": {"name": "i"}}}
    for schemas in clusters * 2:
        assert schemas.validate("cert-manager.io", "v1", "Certificate", body) == []
    assert len(seen) == 1


def test_cert_manager_resources_of_the_example_fleet() -> None:
    schemas = CrdSchemas.from_objects(yaml.safe_load_all(CERT_MANAGER.read_text()))
    assert schemas.kinds() == {("cert-manager.io", k) for k in ("Certificate", "Issuer", "ClusterIssuer")}
    rendered = sorted(GOLDEN.glob("*/*/*/*.cert-manager.io_*.yaml"))
    assert rendered
    for path in rendered:
        body = yaml.safe_load(path.read_text())
        group, version = body["apiVersion"].split("/")
        assert schemas.validate(group, version, body["kind"], body) == [], path
    bad = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"},
           "spec": {"secretName": "s", "issuerRef": {"name": "i", "kind": 1},
                    "privateKey": {"algorithm": "DSA", "sise": 2048}}}
    assert schemas.validate("cert-manager.io", "v1", "Certificate", bad) == [
        ("spec.issuerRef.kind", "spec.issuerRef.kind: 1 is not of type 'string'"),
        ("spec.privateKey.algorithm",
         "spec.privateKey.algorithm: 'DSA' is not one of 'RSA', 'ECDSA', 'Ed25519'"),
        ("spec.privateKey.sise",
         "spec.privateKey.sise: unknown field (not in cert-manager.io/v1 Certificate of CRD "
         "certificates.cert-manager.io: the API server would drop it; did you mean 'size'?)"),
    ]


def test_the_jsonschema_fallback_says_the_same() -> None:
    objects = [crd(version())]
    fast = CrdSchemas.from_objects(objects)
    slow = CrdSchemas.from_objects(objects, CrdCompiler(lambda s: Compiled(s, engine="py")))
    for spec in ({"size": "x", "sise": 1, "port": [1], "mode": "slow", "owner": "Bob"}, {"owner": None},
                 {"size": 1, "rules": [{"hots": 1}], "template": {"kind": 1}}):
        found = fast.validate("example.com", "v1", "Widget", widget(spec))
        assert found
        assert slow.validate("example.com", "v1", "Widget", widget(spec)) == found
