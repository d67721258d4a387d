"""The ledger, from mutation testing (scripts/mutate): the file's bytes exactly (it is a
format other tools read), what a field left out reads as, an agent and an engine as
written, holds in force past an environment with no ledger, releases kept when more
are added, and trailers: a value holding ': ', a last paragraph followed by blank
lines, and a line that is no 'Key: value'."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pygit2
import pytest

from pipeline.sinks import ledger

A, B, C = "a" * 40, "b" * 40, "c" * 40


def doc(**top: object) -> bytes:
    base: dict[str, object] = {"schemaVersion": 2, "environment": "prod", "source":
                               {"commit": A}, "clusters": {}}
    return json.dumps({**base, **top}).encode()


def test_the_file_is_sorted_json_indented_by_two_with_a_final_newline() -> None:
    led = ledger.Ledger("dev", "env/dev", "flux", ledger.Source("git@x:fleet.git", A, "Start"),
                        {"s1": ledger.Cluster(A, "sha256:1", ledger.InTree("t" * 40))},
                        tools={"hydrate": "0.1.0"}, engine="e" * 8)
    assert ledger.dump(led).decode() == f"""{{
  "agent": "flux",
  "branch": "env/dev",
  "clusters": {{
    "s1": {{
      "digest": "sha256:1",
      "source": "{A}",
      "tree": "{'t' * 40}"
    }}
  }},
  "engine": "eeeeeeee",
  "environment": "dev",
  "inputsDigest": "",
  "kind": "publish",
  "schemaVersion": 2,
  "source": {{
    "commit": "{A}",
    "repo": "git@x:fleet.git",
    "subject": "Start"
  }},
  "tools": {{
    "hydrate": "0.1.0"
  }}
}}
"""


def test_the_agent_and_engine_are_read_as_written_and_an_engine_that_is_no_text_is_none(
        ) -> None:
    led = ledger.parse(doc(agent="flux", engine="e" * 64))
    assert (led.agent, led.engine) == ("flux", "e" * 64)
    assert ledger.parse(doc(engine=5)).engine is None
    assert ledger.parse(doc(engine=None)).engine is None


def test_a_wave_step_without_a_name_reads_as_no_name() -> None:
    led = ledger.parse(doc(rollout={"source": B, "waves": [
        {"clusters": ["s1"], "time": "2026-12-01T09:00:00Z"}]}))
    assert led.rollout is not None
    assert led.rollout.steps == (ledger.Step("", ("s1",),
                                             dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)),)


def test_a_hold_or_release_without_a_reason_or_head_reads_as_empty_ones() -> None:
    led = ledger.parse(doc(holds={C: {}}, released=[{"env": "dev", "source": B}]))
    assert led.holds == {C: ledger.Hold(C, "", "")}
    assert led.released == (ledger.Release("dev", B, "", ""),)


def test_holds_in_force_are_found_past_an_environment_with_no_ledger() -> None:
    held = ledger.parse(doc(holds={C: {"reason": "broke the tills", "of": B}}))
    found = ledger.holds_in_force({"dev": None, "prod": held, "staging": None})
    assert found == {C: (ledger.HeldOn("prod", ledger.Hold(C, "broke the tills", B)),)}


def test_lifting_keeps_the_releases_recorded_before() -> None:
    before = ledger.Release("dev", A, B, "fixed upstream")
    led = ledger.parse(doc(released=[{"env": "dev", "source": A, "of": B,
                                      "reason": "fixed upstream"}]))
    lifted = ledger.HeldOn("staging", ledger.Hold(C, "slow checkout", B))
    holds, released = ledger.lifting("prod", led, [lifted], "load test passed")
    assert holds == {}
    assert released == (before, ledger.Release("staging", C, B, "load test passed"))


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "r"), bare=True)


def trailers_of(repo: pygit2.Repository, message: str) -> ledger.Trailers:
    who = pygit2.Signature("t", "t@example.com")
    oid = repo.create_commit(None, who, who, message, repo.TreeBuilder().write(), [])
    return ledger.trailers(repo[oid].peel(pygit2.Commit))


def test_a_trailer_value_may_hold_colons_and_end_in_any_letter(
        repo: pygit2.Repository) -> None:
    found = trailers_of(repo, f"rollback\n\nHydrate-Source-Commit: {A}\nHydrate-Reason: "
                              "rolled back: tills freeze at 09:00 FIX\n")
    assert found.reason == "rolled back: tills freeze at 09:00 FIX"
    assert found.source == A


@pytest.mark.parametrize("tail", ["\n\n", "\n\n\n", "\n  \n", "\n\n  \n", "\n\n\t\n"])
def test_blank_lines_after_the_trailers_do_not_hide_them(repo: pygit2.Repository,
                                                         tail: str) -> None:
    found = trailers_of(repo, f"publish\n\nHydrate-Source-Commit: {A}\nHydrate-Run: 7{tail}")
    assert (found.source, found.run) == (A, "7")


def test_a_line_that_is_no_key_and_value_is_no_trailer(repo: pygit2.Repository) -> None:
    found = trailers_of(repo, f"promote\n\nHydrate-Source-Commit: {A}\nHydrate-Gate\n"
                              "Hydrate-Released\nHydrate-Gate: soak passed 1h of 1h\n")
    assert found.gates == ("soak passed 1h of 1h",)
    assert found.released == ()
