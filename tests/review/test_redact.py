"""Secret values never reach a diff: every value of a Secret (data, stringData,
binaryData, and the data of other kinds that carry secrets) becomes a salted hash, and
the last-applied-configuration annotation, a copy of the whole object, is scrubbed on
every object. Everything else is left as it was."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from typing import Any

import pytest

from pipeline.review.redact import LAST_APPLIED, Redactor, holds_secrets

SALT = b"per-report salt"


def token(value: str, salt: bytes = SALT) -> str:
    return f"<secret sha256:{hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()[:8]}>"


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "pos"},
            "type": "Opaque", **fields}


def test_every_value_of_a_secret_is_a_salted_hash_and_every_key_stays() -> None:
    body = secret(data={"password": "aHVudGVyMg==", "user": "cG9z"},
                  stringData={"token": "hunter2"}, binaryData={"blob": "AAEC"})
    safe = Redactor(SALT).object(body)
    assert safe == secret(data={"password": token("aHVudGVyMg=="), "user": token("cG9z")},
                          stringData={"token": token("hunter2")},
                          binaryData={"blob": token("AAEC")})
    text = json.dumps(safe)
    for value in ("aHVudGVyMg==", "cG9z", "hunter2", "AAEC"):
        assert value not in text


def test_the_same_value_hashes_alike_within_a_report_and_differently_across_salts() -> None:
    body = secret(data={"a": "same", "b": "same", "c": "other"})
    one = Redactor(SALT).object(body)["data"]
    assert one["a"] == one["b"] != one["c"]
    assert Redactor(b"another salt").object(body)["data"]["a"] != one["a"]
    assert Redactor(SALT).token("same") == one["a"]


def test_the_object_given_is_not_changed() -> None:
    body = secret(data={"password": "aHVudGVyMg=="},
                  metadata={"name": "db", "annotations": {LAST_APPLIED: "{}"}})
    before = copy.deepcopy(body)
    Redactor(SALT).object(body)
    assert body == before


def _applied(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True)


def test_the_last_applied_configuration_of_a_secret_is_scrubbed() -> None:
    """kubectl apply leaves a JSON copy of the Secret, values included, in an annotation:
    it goes whole; the object's other annotations and labels stay."""
    copy_ = secret(stringData={"password": "hunter2"})
    body = secret(stringData={"password": "hunter2"},
                  metadata={"name": "db", "namespace": "pos", "labels": {"app": "pos"},
                            "annotations": {LAST_APPLIED: _applied(copy_),
                                            "team": "retail"}})
    safe = Redactor(SALT).object(body)
    assert safe["metadata"] == {"name": "db", "namespace": "pos", "labels": {"app": "pos"},
                                "annotations": {LAST_APPLIED: "<scrubbed>", "team": "retail"}}
    assert "hunter2" not in json.dumps(safe)


def test_the_last_applied_configuration_is_scrubbed_on_any_kind() -> None:
    """A ConfigMap once applied with a Secret's data in it, or any object: the copy is
    scrubbed; the ConfigMap's own data is not a secret and stays."""
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "annotations": {
                LAST_APPLIED: _applied(secret(data={"password": "aHVudGVyMg=="}))}},
            "data": {"level": "info"}}
    safe = Redactor(SALT).object(body)
    assert safe == {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "c", "annotations": {LAST_APPLIED: "<scrubbed>"}},
                    "data": {"level": "info"}}


@pytest.mark.parametrize("metadata", [None, "junk", {"name": "c"}, {"annotations": None},
                                      {"annotations": {"team": "retail"}}])
def test_objects_without_the_annotation_are_left_as_they_are(metadata: Any) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata,
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "env": [{"name": "MODE", "value": "prod"}]}]}}}}
    assert Redactor(SALT).object(body) == body


def test_non_secret_data_is_left_alone() -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"a": "1"}, "binaryData": {"b": "AAEC"}}
    assert Redactor(SALT).object(body) == body


def test_nested_and_list_values_are_hashed_whole() -> None:
    """A value that is not a string (a mapping or a list, as a malformed Secret or
    another kind's data may hold) is hashed as a whole: nothing inside it shows."""
    body = secret(data={"nested": {"inner": "hunter2"}}, stringData=["hunter2", "x"])
    safe = Redactor(SALT).object(body)
    assert safe["data"] == {"nested": token(str({"inner": "hunter2"}))}
    assert safe["stringData"] == token(str(["hunter2", "x"]))
    assert "hunter2" not in json.dumps(safe)


def test_empty_data_stays_empty() -> None:
    safe = Redactor(SALT).object(secret(data=None, stringData={}, binaryData=""))
    assert (safe["data"], safe["stringData"], safe["binaryData"]) == (None, {}, "")
    assert Redactor(SALT).object(secret(data={"empty": ""}))["data"] == {"empty": token("")}


def test_other_kinds_that_carry_secrets_have_their_data_hashed() -> None:
    """An ExternalSecret's spec.data names where each value comes from, a
    ClusterExternalSecret's too: hashed, like a Secret's top-level data; other spec
    fields stay."""
    body = {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
            "metadata": {"name": "db"},
            "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
                     "data": [{"secretKey": "password", "remoteRef": {"key": "db/pw"}}]},
            "data": {"leftover": "hunter2"}}
    safe = Redactor(SALT).object(body)
    assert safe["spec"] == {"refreshInterval": "1h", "secretStoreRef": {"name": "vault"},
                            "data": token(str(body["spec"]["data"]))}
    assert safe["data"] == {"leftover": token("hunter2")}
    assert "db/pw" not in json.dumps(safe)


def test_a_sealed_secret_from_bitnami_is_shown_as_it_is() -> None:
    """Its data is encrypted for the cluster: safe to show, and a reviewer needs to see
    which ciphertexts changed. Another group's SealedSecret is not trusted to be that."""
    sealed = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
              "metadata": {"name": "db"}, "spec": {"encryptedData": {"password": "AgBy3i"}}}
    assert Redactor(SALT).object(sealed) == sealed
    copycat = {**sealed, "apiVersion": "example.com/v1", "spec": {"data": {"password": "x"}}}
    assert Redactor(SALT).object(copycat)["spec"] == {"data": {"password": token("x")}}


@pytest.mark.parametrize(("group", "kind", "holds"), [
    ("", "Secret", True),
    ("external-secrets.io", "ExternalSecret", True),
    ("bitnami.com", "SealedSecret", False),
    ("example.com", "SealedSecret", True),
    ("", "ConfigMap", False),
    ("external-secrets.io", "SecretStore", False),
    ("", "secret", False),
])
def test_which_kinds_hold_secrets(group: str, kind: str, holds: bool) -> None:
    assert holds_secrets(group, kind) is holds


def test_the_group_is_read_from_the_api_version() -> None:
    """`v1` is the core group; `bitnami.com/v1alpha1` is bitnami.com (the version never
    counts), and a missing apiVersion is the core group."""
    sealed = {"apiVersion": "bitnami.com/v1", "kind": "SealedSecret", "data": {"a": "b"}}
    assert Redactor(SALT).object(sealed) == sealed
    bare = {"kind": "Secret", "data": {"a": "b"}}
    assert Redactor(SALT).object(bare)["data"] == {"a": token("b")}
    # The group is all before the last '/': an apiVersion with more slashes than
    # group/version is no bitnami.com SealedSecret, and is hashed.
    odd = {"apiVersion": "bitnami.com/extra/v1", "kind": "SealedSecret", "data": {"a": "b"}}
    assert Redactor(SALT).object(odd)["data"] == {"a": token("b")}
