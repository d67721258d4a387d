"""fleet/policy.yaml as docs/validation.md writes it: every example there loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.config import policy
from pipeline.config.source import DirTree
from pipeline.validate.check import settle
from tests.conftest import ROOT

_BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)
_POLICY_KEYS = ("rules:", "required:", "waivers:", "workloads:", "# fleet/policy.yaml")


def _doc_policies() -> list[str]:
    text = (ROOT / "docs/validation.md").read_text()
    return [b for b in _BLOCK.findall(text) if b.lstrip().startswith(_POLICY_KEYS)]


def _load(tmp_path: Path, text: str) -> policy.Policy:
    (tmp_path / "fleet").mkdir(exist_ok=True)
    (tmp_path / "fleet/policy.yaml").write_text(text)
    return policy.load(DirTree(tmp_path))


def test_the_docs_have_policy_examples() -> None:
    assert len(_doc_policies()) >= 3


@pytest.mark.parametrize("text", _doc_policies())
def test_every_policy_example_in_the_docs_loads(tmp_path: Path, text: str) -> None:
    settle(_load(tmp_path, text))  # no ConfigError


@pytest.mark.parametrize("written", ["off", "false", "no", "'off'", "{severity: off}", "{severity: false}"])
def test_off_is_off_however_yaml_reads_it(tmp_path: Path, written: str) -> None:
    # YAML 1.1 (PyYAML, Kubernetes) reads a bare off, no and false as the boolean false.
    found = _load(tmp_path, f"rules:\n  ingress-without-tls: {written}\n")
    assert settle(found).severity["ingress-without-tls"] == "off"


@pytest.mark.parametrize("written", ["on", "true", "yes", "'loud'"])
def test_other_words_are_refused_with_the_ones_allowed(tmp_path: Path, written: str) -> None:
    with pytest.raises(Exception, match=r"rules\.ingress-without-tls: .* is not one of: error, "
                                        r"warning, off$"):
        _load(tmp_path, f"rules:\n  ingress-without-tls: {written}\n")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-8"])
def test_off_is_off_in_any_encoding_yaml_reads(tmp_path: Path, encoding: str) -> None:
    (tmp_path / "fleet").mkdir()
    text = "# Größe\nrules:\n  ingress-without-tls: off\n  latest-tag: {severity: no}\n"
    (tmp_path / "fleet/policy.yaml").write_bytes(text.encode(encoding))
    found = settle(policy.load(DirTree(tmp_path)))
    assert (found.severity["ingress-without-tls"], found.severity["latest-tag"]) == ("off", "off")
