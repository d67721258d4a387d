"""fleet/policy.yaml as docs/validation.md writes it: every example there loads."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

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


# --- waivers: when they hold and where -----------------------------------------------------

def _waiver(**scope: Any) -> policy.Waiver:
    return policy.Waiver("privileged", "reason", "fleet/policy.yaml:2", 2, **scope)


@pytest.mark.parametrize(("today", "lapsed"), [
    ("2027-06-29", False),
    ("2027-06-30", False),  # its expiry day: it still holds
    ("2027-07-01", True),   # the day after: it has lapsed
])
def test_a_waiver_holds_on_its_expiry_day_and_lapses_after_it(today: str, lapsed: bool) -> None:
    w = _waiver(expires=dt.date(2027, 6, 30))
    assert w.lapsed(dt.date.fromisoformat(today)) is lapsed
    assert not _waiver().lapsed(dt.date(9999, 12, 31))  # no expiry: never


def test_the_expiry_is_read_as_a_date(tmp_path: Path) -> None:
    found = _load(tmp_path, "waivers:\n- {rule: privileged, reason: r, expires: 2027-06-30}\n"
                            "- {rule: host-path, reason: r}\n")
    assert [w.expires for w in found.waivers] == [dt.date(2027, 6, 30), None]
    assert [w.line for w in found.waivers] == [2, 3]


@pytest.mark.parametrize(("scope", "covered"), [
    ({}, {"store-0001", "store-0002", "dc-fra-1"}),
    ({"sites": ("hh",)}, {"store-0001"}),
    ({"sites": ("h*",)}, {"store-0001"}),
    ({"classes": ("datacenter",)}, {"dc-fra-1"}),
    ({"clusters": ("store-*",)}, {"store-0001", "store-0002"}),
    ({"classes": ("pop",), "sites": ("muc",)}, {"store-0002"}),  # every scope must match
    ({"classes": ("pop",), "clusters": ("dc-*",)}, set()),
    ({"sites": ("nowhere",)}, set()),
])
def test_a_waiver_covers_only_the_clusters_its_scopes_name(
        scope: dict[str, tuple[str, ...]], covered: set[str]) -> None:
    """A waiver scoped to sites or classes applies there only; with no scope, everywhere."""
    fleet = {"store-0001": ("pop", "hh"), "store-0002": ("pop", "muc"),
             "dc-fra-1": ("datacenter", "fra")}
    w = _waiver(**scope)
    assert {c for c, (cls, site) in fleet.items() if w.covers_cluster(c, cls, site)} == covered


def test_a_waiver_covers_only_the_packages_and_objects_it_names() -> None:
    w = _waiver(packages=("monitoring-*",), objects=("DaemonSet/monitoring/*-exporter",
                                                     "ClusterRole/reader"))
    assert w.covers_object("monitoring-agent", "DaemonSet", "monitoring", "node-exporter")
    assert not w.covers_object("log-shipper", "DaemonSet", "monitoring", "node-exporter")
    assert not w.covers_object(None, "DaemonSet", "monitoring", "node-exporter")
    assert not w.covers_object("monitoring-agent", "Deployment", "monitoring", "node-exporter")
    assert not w.covers_object("monitoring-agent", "DaemonSet", "logging", "node-exporter")
    assert w.covers_object("monitoring-agent", "ClusterRole", "", "reader")
    assert not w.covers_object("monitoring-agent", "ClusterRole", "", "writer")
    assert not w.covers_object("monitoring-agent", None, "", None)  # no object: not covered
    anything = _waiver(packages=("monitoring-agent",))
    assert anything.covers_object("monitoring-agent", None, "", None)
    assert anything.covers_object("monitoring-agent", "Pod", "x", "y")
    assert _waiver().covers_object(None, None, "", None)
    case = _waiver(objects=("daemonset/monitoring/x",))
    assert not case.covers_object("p", "DaemonSet", "monitoring", "x")  # patterns match case


def test_the_scopes_are_read_from_the_file(tmp_path: Path) -> None:
    found = _load(tmp_path, "waivers:\n- rule: host-path\n  reason: r\n  sites: [hh, muc]\n"
                            "  classes: [pop]\n  clusters: [store-1]\n  packages: [p]\n"
                            "  objects: [Pod/x]\n")
    (w,) = found.waivers
    assert (w.sites, w.classes, w.clusters, w.packages, w.objects) == (
        ("hh", "muc"), ("pop",), ("store-1",), ("p",), ("Pod/x",))
