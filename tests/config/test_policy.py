"""fleet/policy.yaml as docs/validation.md writes it: every example there loads."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import policy
from pipeline.config.source import DirTree
from pipeline.errors import ConfigError
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


# --- every part of the file read, and each error in full ---------------------------------

FULL = """# the policy
rules:
  latest-tag: error
  host-path: {allowedPaths: [/var/log]}
required: [monitoring-agent]
waivers:
- rule: privileged
  reason: r
  sites: [hh]
workloads:
- apiGroup: db.example.com
  kind: Db
  replicas: [spec.instances, spec.shards]
  podSpec: spec.template.spec
  storage: [spec.volume.size]
  each: spec.nodeSets
- {apiGroup: cache.example.com, kind: Cache, resources: spec.resources}
access:
  tenants: []
"""


def test_every_part_of_the_policy_is_read(tmp_path: Path) -> None:
    found = _load(tmp_path, FULL)
    assert found.path == "fleet/policy.yaml"
    assert found.severities == {"latest-tag": "error"}
    assert found.params == {"host-path": {"allowedPaths": ["/var/log"]}}
    assert found.required == ("monitoring-agent",)
    (w,) = found.waivers
    assert (w.rule, w.reason, w.at, w.line, w.sites) == ("privileged", "r",
                                                         "fleet/policy.yaml:7: waivers[0]", 7,
                                                         ("hh",))
    assert found.workloads == (
        policy.Workload("db.example.com", "Db", ("spec.instances", "spec.shards"), None,
                        "spec.template.spec", ("spec.volume.size",), "spec.nodeSets"),
        policy.Workload("cache.example.com", "Cache", ("spec.replicas",), "spec.resources"))
    assert found.access == {"tenants": []}
    assert found.at("workloads", 1) == "fleet/policy.yaml:17: workloads[1]"
    assert found.at() == "fleet/policy.yaml:2"  # where the mapping starts, after the comment


def test_no_policy_and_an_empty_one(tmp_path: Path) -> None:
    (tmp_path / "fleet").mkdir()
    none = policy.load(DirTree(tmp_path))
    assert none == policy.Policy(None)
    assert none.at("rules") == "fleet/policy.yaml"
    empty = _load(tmp_path, "# nothing yet\n")
    assert (empty.path, empty.waivers, empty.workloads, empty.access) == (
        "fleet/policy.yaml", (), (), None)


@pytest.mark.parametrize(("text", "message"), [
    ("waivers:\n- {rule: privileged, reason: r}\n- {rule: host-path, reason: r, "
     "expires: 2027-02-30}\n",
     "fleet/policy.yaml:3: waivers[1].expires: '2027-02-30' is not a date (YYYY-MM-DD)"),
    ("workloads:\n- {apiGroup: a.io, kind: A, resources: spec.r}\n"
     "- {apiGroup: b.io, kind: B, resources: spec.r, podSpec: spec.p}\n",
     "fleet/policy.yaml:3: workloads[1]: give one of resources (the field holding a pod's "
     "requests and limits) or podSpec (the field holding a pod spec)"),
])
def test_each_error_of_the_policy_is_said_in_full(tmp_path: Path, text: str,
                                                  message: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert str(err.value) == message


def test_a_policy_that_is_a_folder_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "fleet/policy.yaml").mkdir(parents=True)
    with pytest.raises(ConfigError) as err:
        policy.load(DirTree(tmp_path))
    assert str(err.value) == ("fleet/policy.yaml: is a directory; the policy is one YAML file "
                              "(docs/validation.md)")


def test_a_quoted_word_is_a_word_and_a_rule_with_parameters_only_is_fine(tmp_path: Path) -> None:
    """Only a bare severity YAML reads as a boolean is taken for the word: a quoted 'no'
    stays the text "no", which is no severity; a rule given only parameters keeps its
    default severity."""
    with pytest.raises(ConfigError, match=r"rules\.latest-tag: 'no' is not one of: error, "
                                          r"warning, off$"):
        _load(tmp_path, "rules:\n  latest-tag: 'no'\n")
    found = _load(tmp_path, "rules:\n  host-path: {allowedPaths: [/var/log]}\n"
                            "  latest-tag: {severity: off}\n")
    assert found.severities == {"latest-tag": "off"}
    assert settle(found).severity["host-path"] == "warning"


def test_off_is_off_in_big_endian_utf_16_too(tmp_path: Path) -> None:
    (tmp_path / "fleet").mkdir()
    text = "rules:\n  ingress-without-tls: off\n"
    (tmp_path / "fleet/policy.yaml").write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    assert settle(policy.load(DirTree(tmp_path))).severity["ingress-without-tls"] == "off"


def test_a_waiver_of_objects_needs_the_object_named() -> None:
    w = _waiver(objects=("DaemonSet/*",))
    assert not w.covers_object("p", "DaemonSet", "", None)  # a kind, but no name
    assert not w.covers_object("p", None, "", "x")  # a name, but no kind
    assert w.covers_object("p", "DaemonSet", "", "x")
