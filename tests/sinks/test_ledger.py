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


# --- reading: defaults, the forms each field may take, and where it is wrong -----------------

def _doc(**change: object) -> bytes:
    return json.dumps({**VERSION_1, **change}).encode()


def test_a_cluster_without_a_source_has_the_branchs_and_missing_fields_their_defaults() -> None:
    led = ledger.parse(_doc(clusters={"store-2": {"digest": "3" * 64, "objects": "many"},
                                      "store-3": {}}))
    assert led.clusters["store-2"] == ledger.Cluster("a" * 40, "3" * 64)  # objects not a count
    assert led.clusters["store-3"] == ledger.Cluster("a" * 40, "")
    assert led.clusters["store-3"].tree is None
    assert led.clusters["store-3"].artifact is None
    assert led.sources() == {"store-2": "a" * 40, "store-3": "a" * 40}


def test_the_top_level_defaults() -> None:
    minimal = {"environment": "dev", "source": {"commit": "a" * 40}, "clusters": {}}
    led = ledger.parse(json.dumps(minimal).encode())
    assert led == ledger.Ledger("dev", "", "argocd", ledger.Source("", "a" * 40, ""), {},
                                schema_version=1)
    assert (led.kind, led.tools, led.engine, led.rollout, led.holds, led.released) == (
        "publish", {}, None, None, {}, ())


def test_a_rollout_reads_its_steps_total_and_pending() -> None:
    led = ledger.parse(_doc(rollout={"source": "b" * 40, "from": "staging", "pending": True,
                                     "total": "three",
                                     "waves": [{"name": "canary", "clusters": ["s1", 2],
                                                "time": "2026-12-01T09:00:00+01:00"}]}))
    assert led.rollout == ledger.Rollout(
        "b" * 40, "staging", (ledger.Step("canary", ("s1", "2"),
                                          dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)),), 1, True)
    done = ledger.parse(_doc(rollout={"source": "b" * 40, "total": 3}))
    assert done.rollout == ledger.Rollout("b" * 40, "", (), 3, False)


def test_holds_and_releases_in_this_format_are_read() -> None:
    led = ledger.parse(_doc(schemaVersion=2, holds={"c" * 40: {"reason": "r", "of": "f" * 40}},
                            released=[{"env": "dev", "source": "d" * 40, "of": "e" * 40,
                                       "reason": "fixed"}]))
    assert led.holds == {"c" * 40: ledger.Hold("c" * 40, "r", "f" * 40)}
    assert led.released == (ledger.Release("dev", "d" * 40, "e" * 40, "fixed"),)
    assert led.schema_version == 2


@pytest.mark.parametrize(("data", "message"), [
    (b"{not json", "x: not JSON"),
    (b"[1]", "x: expected a mapping, found list"),
    (_doc(schemaVersion=0), "x: schemaVersion 0 is not a version"),
    (_doc(schemaVersion="2"), "x: schemaVersion '2' is not a version"),
    (_doc(environment=5), "x: environment: expected a string, found int"),
    (_doc(released={"a": 1}), "x: released: expected a list"),
    (_doc(released=[{"source": "d" * 40}]), "x: released[0].env: expected a string"),
    (_doc(holds=[1]), "x: holds: expected a mapping, found list"),
    (_doc(holds={"c" * 40: 5}), f"x: holds.{'c' * 40}: expected a mapping, found int"),
    (_doc(clusters={"s": []}), "x: clusters.s: expected a mapping, found list"),
    (_doc(clusters={"s": {"source": 5}}), "x: clusters.s.source: expected a string"),
    (_doc(clusters={"s": {"tree": 5}}), "x: clusters.s.tree: expected a string"),
    (_doc(rollout={"source": "b" * 40, "waves": [{"time": "2026-12-01T09:00:00"}]}),
     "x: rollout.waves[0].time: '2026-12-01T09:00:00' has no offset"),
    (_doc(rollout={"source": "b" * 40, "waves": [{"clusters": "s1",
                                                    "time": "2026-12-01T09:00:00Z"}]}),
     "x: rollout.waves[0].clusters: expected a list"),
    (_doc(rollout={"waves": []}), "x: rollout.source: expected a string, found NoneType"),
])
def test_what_is_wrong_is_named_with_where(data: bytes, message: str) -> None:
    with pytest.raises(ledger.LedgerError) as caught:
        ledger.parse(data, "x")
    assert str(caught.value).startswith(message)


def test_a_commit_without_a_ledger_or_with_one_that_cannot_be_read(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    who = pygit2.Signature("t", "t@example.com")

    def commit_with(files: dict[str, bytes]) -> pygit2.Commit:
        index = pygit2.Index()
        for path, data in files.items():
            index.add(pygit2.IndexEntry(path, repo.create_blob(data),
                                        pygit2.enums.FileMode.BLOB))
        oid = repo.create_commit(None, who, who, "c", index.write_tree(repo), [])
        return repo[oid].peel(pygit2.Commit)

    assert ledger.load(repo, None) is None
    plain = commit_with({"README.md": b"x"})
    assert (ledger.load(repo, plain), ledger.read(repo, plain)) == (None, None)
    broken = commit_with({ledger.PATH: b"{"})
    said = ledger.load(repo, broken)
    assert isinstance(said, str)
    assert said.startswith(f"{str(broken.id)[:7]}:{ledger.PATH}: not JSON")
    assert ledger.read(repo, broken) is None
    good = commit_with({ledger.PATH: _doc()})
    assert ledger.read(repo, good) == ledger.parse(_doc())
    folder = commit_with({f"{ledger.PATH}/x": b"a folder where the file goes"})
    assert ledger.load(repo, folder) is None


# --- writing ---------------------------------------------------------------------------------

def test_only_what_is_there_is_written() -> None:
    led = ledger.Ledger("dev", "env/dev", "flux", ledger.Source("repo", "a" * 40, "s"),
                        {"b": ledger.Cluster("a" * 40, "d1"),
                         "a": ledger.Cluster("a" * 40, "d2", ledger.InTree("t" * 40), "pop",
                                             "hh", 0)})
    doc = json.loads(ledger.dump(led))
    assert doc == {"schemaVersion": 2, "environment": "dev", "branch": "env/dev", "agent": "flux",
                   "source": {"repo": "repo", "commit": "a" * 40, "subject": "s"},
                   "inputsDigest": "", "tools": {}, "engine": None, "kind": "publish",
                   "clusters": {"a": {"digest": "d2", "source": "a" * 40, "tree": "t" * 40,
                                      "class": "pop", "site": "hh", "objects": 0},
                                "b": {"digest": "d1", "source": "a" * 40}}}
    assert list(doc["clusters"]) == ["a", "b"]
    assert ledger.dump(led).endswith(b"}\n")
    with_path = replace(led, source=replace(led.source, path="config"))
    assert json.loads(ledger.dump(with_path))["source"]["path"] == "config"
    assert ledger.parse(ledger.dump(with_path)).source.path == "config"


def test_a_ledger_written_is_read_back_equal() -> None:
    step = ledger.Step("canary", ("s1",), dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC))
    led = ledger.Ledger(
        "prod", "env/prod", "argocd", ledger.Source("repo", "a" * 40, "s", "d" * 64),
        {"s1": ledger.Cluster("b" * 40, "d", ledger.InTree("t" * 40), "pop", "hh", 3)},
        kind="promote", tools={"helm": "v4"}, engine="e" * 64,
        rollout=ledger.Rollout("b" * 40, "staging", (step,), 3, True),
        holds={"c" * 40: ledger.Hold("c" * 40, "r", "f" * 40)},
        released=(ledger.Release("dev", "d" * 40, "e" * 40, "fixed"),))
    assert ledger.parse(ledger.dump(led)) == led
    assert json.loads(ledger.dump(led))["rollout"]["waves"][0]["time"] == "2026-12-01T09:00:00Z"


# --- holds across environments -------------------------------------------------------------

def test_a_forced_landing_lifts_its_own_holds_and_records_every_lifted_one() -> None:
    base = ledger.parse(_doc())
    mine = ledger.Hold("c" * 40, "rolled back: here", "1" * 40)
    other = ledger.Hold("d" * 40, "rolled back: elsewhere", "2" * 40)
    staging = ledger.Ledger("staging", "env/staging", "argocd", base.source, {},
                            holds={"c" * 40: mine, "d" * 40: other})
    held = (ledger.HeldOn("staging", mine), ledger.HeldOn("dev", ledger.Hold(
        "c" * 40, "rolled back: on dev", "3" * 40)))
    holds, released = ledger.lifting("staging", staging, held, "vendor fixed it")
    assert holds == {"d" * 40: other}  # a hold on another source stays
    assert released == (ledger.Release("staging", "c" * 40, "1" * 40, "vendor fixed it"),
                        ledger.Release("dev", "c" * 40, "3" * 40, "vendor fixed it"))
    again = replace(staging, holds=holds, released=released)
    holds2, released2 = ledger.lifting("staging", again, held, "vendor fixed it")
    assert (holds2, released2) == (holds, released)  # recorded once
    # Lifting dev's hold on a source leaves this branch's own hold on it alone.
    kept, _ = ledger.lifting("staging", staging, (ledger.HeldOn("dev", ledger.Hold(
        "d" * 40, "rolled back: on dev", "4" * 40)),), "why")
    assert kept == {"c" * 40: mine, "d" * 40: other}
    none, first = ledger.lifting("prod", None, held[:1], "why")
    assert (none, first) == ({}, (ledger.Release("staging", "c" * 40, "1" * 40, "why"),))


def test_a_hold_is_in_force_on_every_environment_in_their_order() -> None:
    base = ledger.parse(_doc())
    h1 = ledger.Hold("c" * 40, "one", "1" * 40)
    h2 = ledger.Hold("c" * 40, "two", "2" * 40)
    found = ledger.holds_in_force({
        "staging": ledger.Ledger("staging", "", "argocd", base.source, {}, holds={"c" * 40: h2}),
        "dev": ledger.Ledger("dev", "", "argocd", base.source, {}, holds={"c" * 40: h1})})
    assert found == {"c" * 40: (ledger.HeldOn("dev", h1), ledger.HeldOn("staging", h2))}
    assert ledger.HeldOn("dev", h1).key() == ("dev", "c" * 40, "1" * 40)


# --- trailers ------------------------------------------------------------------------------

def test_every_trailer_is_read_and_the_last_of_one_counts(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    who = pygit2.Signature("t", "t@example.com")
    lines = ledger.trailer_lines([
        (ledger.SOURCE, "a" * 40), (ledger.ENVIRONMENT, "dev"), (ledger.ENVIRONMENT, "prod"),
        (ledger.PROMOTED_FROM, "staging " + "b" * 40), (ledger.WAVE, "early (2 of 3)"),
        (ledger.BYPASS_REASON, "x"), (ledger.ROLLBACK_OF, "c" * 40), (ledger.RUN, "42"),
        (ledger.RELEASED, "d" * 40 + " on dev"), (ledger.RELEASED, "e" * 40 + " on prod"),
        ("Signed-off-by", "someone")])
    message = "\n".join(["abc: subject", "", *lines, ""])
    commit = repo[repo.create_commit(None, who, who, message, repo.TreeBuilder().write(), [])]
    said = ledger.trailers(commit.peel(pygit2.Commit))
    assert said == ledger.Trailers("a" * 40, "prod", "staging " + "b" * 40, "early (2 of 3)",
                                   (), "x", "", "c" * 40,
                                   ("d" * 40 + " on dev", "e" * 40 + " on prod"), "42")
    assert said.by_hydrate
    only = repo[repo.create_commit(None, who, who, "Hydrate-Source-Commit: x\n",
                                   repo.TreeBuilder().write(), [])]
    assert ledger.trailers(only.peel(pygit2.Commit)) == ledger.Trailers()  # no body: none
    assert not ledger.Trailers().by_hydrate
    assert ledger.trailer_lines([("K", "  a\n b\t c ")]) == ["K: a b c"]
