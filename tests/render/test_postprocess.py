"""Post-processing rules that judge single objects."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.render.postprocess import plaintext_secret

ENC = ("ENC[AES256_GCM,data:Tr7o1w==,iv:1=2bCbuH7r7uNBg/UXnwTeV26Kq1cqoGMd5g3X7xv8Q=,"
       "tag:2bJ9/6xT5fZtEy2ZrLQiTA==,type:str]")


@pytest.mark.parametrize("body", [
    {"stringData": {"password": "hunter2"}, "sops": {}},
    {"stringData": {"password": "hunter2"}, "sops": {"mac": ENC, "version": "3.9.0"}},
    {"data": {"password": "aHVudGVyMg=="}, "sops": {"version": "3.9.0"}},
    {"data": {"a": ENC, "b": "aHVudGVyMg=="}, "sops": {"version": "3.9.0"}},  # unencrypted_regex
    {"data": {"a": "ENC[this is no ciphertext]"}, "sops": {}},
    {"data": {"a": f"x{ENC}"}},
    {"stringData": {"a": 12}},
    {"data": ["not", "a", "mapping"]},
])
def test_plaintext_is_judged_by_every_value(body: dict[str, Any]) -> None:
    assert plaintext_secret("", "Secret", body)


@pytest.mark.parametrize("body", [
    {"data": {"a": ENC, "b": ENC}, "sops": {"version": "3.9.0"}},
    {"stringData": {"a": ENC}},
    {"type": "kubernetes.io/service-account-token"},
    {"data": {}},
])
def test_sops_encrypted_or_empty_secrets_pass(body: dict[str, Any]) -> None:
    assert not plaintext_secret("", "Secret", body)


def test_only_core_secrets_are_judged() -> None:
    assert not plaintext_secret("bitnami.com", "SealedSecret", {"data": {"a": "b"}})
    assert not plaintext_secret("", "ConfigMap", {"data": {"a": "b"}})
