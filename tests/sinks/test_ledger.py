"""The ledger: `.hydrate/metadata.json` and the trailers, typed, read in today's and the
previous format, written back stably; the one module that spells them."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from dataclasses import replace
from pathlib import Path

import pygit2
import pytest

from pipeline.sinks import ledger

PACKAGE = Path(__file__).resolve().parents[2] / "pipeline"

# What hydrate wrote before this version: holds as strings, a cluster without a tree id
# (older still), a rollout with its waves' times.
VERSION_1 = {
    "schemaVersion": 1, "environment": "prod", "branch": "env/prod", "agent": "argocd",
    "source": {"repo": "git@example.com:fleet.git", "commit": "a" * 40, "subject": "Start"},
    "inputsDigest": "d" * 64, "tools": {"hydrate": "0.1.0", "helm": "v4.1.4"},
    "engine": "e" * 64, "kind": "promote",
    "clusters": {"store-1": {"class": "pop", "site": "hh", "objects": 3, "digest": "1" * 64,
                             "tree": "2" * 40, "source": "b" * 40},
                 "store-2": {"digest": "3" * 64}},
    "rollout": {"source": "b" * 40, "from": "staging", "total": 2, "pending": True,
                "waves": [{"name": "canary", "clusters": ["store-1"],
                           "time": "2026-12-01T09:00:00Z"}]},
    "holds": {"c" * 40: "rolled back: tills freeze"},
}


def test_the_previous_format_is_read() -> None:
    led = ledger.parse(json.dumps(VERSION_1).encode())
    assert led.schema_version == 1
    assert led.source == ledger.Source("git@example.com:fleet.git", "a" * 40, "Start", "d" * 64)
    assert led.clusters["store-1"] == ledger.Cluster("b" * 40, "1" * 64,
                                                     ledger.InTree("2" * 40), "pop", "hh", 3)
    # A cluster recorded before per-cluster sources and tree ids: the branch's source, and
    # no place known.
    assert led.clusters["store-2"] == ledger.Cluster("a" * 40, "3" * 64)
    assert led.clusters["store-2"].tree is None
    assert led.rollout == ledger.Rollout("b" * 40, "staging", (ledger.Step(
        "canary", ("store-1",), dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)),), 2, True)
    assert led.holds == {"c" * 40: ledger.Hold("c" * 40, "rolled back: tills freeze")}


def test_written_back_in_this_format_and_read_again_the_same() -> None:
    led = ledger.parse(json.dumps(VERSION_1).encode())
    data = ledger.dump(led)
    again = ledger.parse(data)
    assert again == replace(led, schema_version=ledger.SCHEMA_VERSION)
    doc = json.loads(data)
    assert doc["schemaVersion"] == 2
    assert doc["holds"] == {"c" * 40: {"reason": "rolled back: tills freeze", "of": ""}}
    assert doc["clusters"]["store-1"]["tree"] == "2" * 40  # where its manifests went
    assert ledger.dump(again) == data  # stable bytes: equal ledgers are equal blobs


def test_an_artifact_is_recorded_beside_the_tree_and_read_back() -> None:
    art = ledger.Artifact("registry.example.com/fleet/store-1", "sha256:" + "5" * 64, "b" * 40,
                          "2026-11-30T08:00:00Z", "2" * 40)
    led = ledger.parse(json.dumps(VERSION_1).encode())
    led = replace(led, clusters={**led.clusters, "store-1": replace(led.clusters["store-1"],
                                                                     output=art)})
    doc = json.loads(ledger.dump(led))
    assert doc["clusters"]["store-1"]["tree"] == "2" * 40
    assert doc["clusters"]["store-1"]["artifact"] == {
        "repository": "registry.example.com/fleet/store-1", "digest": "sha256:" + "5" * 64,
        "revision": "b" * 40, "created": "2026-11-30T08:00:00Z"}
    again = ledger.parse(ledger.dump(led))
    assert again.clusters["store-1"].artifact == art
    assert again.clusters["store-1"].tree == "2" * 40
    assert again.clusters["store-2"].artifact is None
    bad = json.loads(ledger.dump(led))
    bad["clusters"]["store-1"]["artifact"]["digest"] = "md5:abc"
    with pytest.raises(ledger.LedgerError, match=re.escape(
            "clusters.store-1.artifact.digest: 'md5:abc' is not a sha256 digest")):
        ledger.parse(json.dumps(bad).encode())


@pytest.mark.parametrize(("change", "message"), [
    ({"schemaVersion": 3}, "schemaVersion 3 is newer than this hydrate reads (2); upgrade"),
    ({"clusters": []}, "clusters: expected a mapping"),
    ({"source": {"repo": "x"}}, "source.commit: expected a string"),
    ({"rollout": {"source": "b" * 40, "waves": [{"name": "canary", "time": "noon"}]}},
     "rollout.waves[0].time: 'noon' is not a time"),
])
def test_a_ledger_that_is_not_one_is_refused_with_where(change: dict[str, object],
                                                         message: str) -> None:
    with pytest.raises(ledger.LedgerError, match=re.escape(message)):
        ledger.parse(json.dumps({**VERSION_1, **change}).encode())


def test_holds_in_force_are_every_environments_less_the_released() -> None:
    base = ledger.parse(json.dumps(VERSION_1).encode())
    held = ledger.Hold("c" * 40, "rolled back: x", "f" * 40)
    dev = ledger.Ledger("dev", "env/dev", "argocd", base.source, {}, holds={"c" * 40: held})
    assert ledger.holds_in_force({"dev": dev, "prod": None}) == {
        "c" * 40: (ledger.HeldOn("dev", held),)}
    _, released = ledger.lifting("staging", None, (ledger.HeldOn("dev", held),), "fixed")
    staging = ledger.Ledger("staging", "env/staging", "argocd", base.source, {},
                            released=released)
    assert ledger.holds_in_force({"dev": dev, "staging": staging}) == {}
    # A new hold on the same source (another rollback, another head) is not lifted.
    again = ledger.Hold("c" * 40, "rolled back: y", "9" * 40)
    dev2 = ledger.Ledger("dev", "env/dev", "argocd", base.source, {}, holds={"c" * 40: again})
    assert ledger.holds_in_force({"dev": dev2, "staging": staging}) == {
        "c" * 40: (ledger.HeldOn("dev", again),)}


def test_trailers_are_read_from_the_last_paragraph(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    who = pygit2.Signature("t", "t@example.com")
    lines = ledger.trailer_lines([(ledger.SOURCE, "a" * 40), (ledger.ENVIRONMENT, "prod"),
                                  (ledger.GATE, "soak passed 1h of 1h"),
                                  (ledger.GATE, "checks passed none required"),
                                  (ledger.REASON, "broke\nthe   tills")])
    message = "\n".join(["abc: subject", "", "Hydrate-Wave: in the body, not a trailer", "",
                         *lines, ""])
    commit = repo[repo.create_commit(None, who, who, message, repo.TreeBuilder().write(), [])]
    said = ledger.trailers(commit.peel(pygit2.Commit))
    assert (said.source, said.environment, said.reason) == ("a" * 40, "prod", "broke the tills")
    assert said.gates == ("soak passed 1h of 1h", "checks passed none required")
    assert said.wave == ""


def _strings(path: Path) -> list[str]:
    """The string constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docs]


def test_no_module_but_the_ledger_spells_the_file_or_a_trailer() -> None:
    spelled = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if p.name != "ledger.py"
                     and any("metadata.json" in s or re.search(r"Hydrate-[A-Z][a-z]", s)
                             for s in _strings(p)))
    assert spelled == []
