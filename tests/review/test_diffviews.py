from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from pipeline.review import diffviews
from pipeline.review.diff import DiffResult, Group, ObjectChange, Revision, RiskEntry, TableRow, Variant
from pipeline.review.risks import Risk
from tests.conftest import ROOT

SCHEMA = json.loads((ROOT / "docs/diff.schema.json").read_text())
STATS = {"clustersRendered": 3, "toolRuns": 2, "cacheHits": 7, "renders": 40}


def _validate(doc: Any) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)


def _change(i: int, lines: int) -> ObjectChange:
    diff = "".join(f"-  old-{i}-{n}: {'x' * 40}\n+  new-{i}-{n}: {'y' * 40}\n" for n in range(lines))
    return ObjectChange("pos-app", "changed", "v1", "ConfigMap", "pos", f"cfg-{i}", None,
                        (f"data.k{i}",), f"--- a/x\n+++ b/x\n{diff}",
                        (Risk("immutable-field", "high", "x"),) if i % 50 == 0 else ())


def huge(groups: int, objects: int, lines: int) -> DiffResult:
    built = tuple(
        Group(f"g{g}", "changed", (Variant(
            tuple(("prod", f"store-{g:05d}-{k}", "pop") for k in range(3)),
            tuple(_change(g * objects + o, lines) for o in range(objects))),))
        for g in range(groups))
    risks = tuple(RiskEntry("immutable-field", "high", "x", "pos-app", f"ConfigMap pos/cfg-{i}",
                            ("store-1",)) for i in range(60))
    return DiffResult(Revision("main", "a" * 40, "base"), Revision("pr", "b" * 40, "head"), built,
                      (TableRow("prod", "pop", groups * 3, 10, 0, 0, 0, groups * objects * 3, 0),),
                      risks, 10)


def test_a_small_change_is_shown_in_full() -> None:
    text = diffviews.to_markdown(huge(2, 2, 3))
    assert text.startswith(diffviews.MARKER + "\n")
    assert "✂️" not in text
    assert text.count("```diff") == 4


def test_huge_changes_degrade_and_say_what_was_cut() -> None:
    expectations = [
        (huge(10, 4, 60), "Diffs longer than 25 lines were cut"),   # truncated diffs
        (huge(60, 10, 30), "Diffs were left out"),                     # list of objects
        (huge(3000, 10, 5), "Only the summary fits"),                  # summary alone
    ]
    for result, note in expectations:
        text = diffviews.to_markdown(result, report="https://ci.example/run/1")
        assert len(text) <= diffviews.COMMENT_LIMIT
        assert note in text
        assert "Full report: https://ci.example/run/1." in text
        assert text.startswith(diffviews.MARKER)
        assert "| prod | pop |" in text  # the summary table always survives
        assert "and 35 more risks in the full report" in text


def test_the_full_markdown_has_no_limit() -> None:
    result = huge(300, 10, 30)
    full = diffviews.to_markdown(result, limit=1 << 62)
    assert len(full) > diffviews.COMMENT_LIMIT
    assert "✂️" not in full


def test_render_failure_looks_different_from_no_change() -> None:
    base, head = Revision("main", "a" * 40, "s"), Revision("pr", "b" * 40, "s")
    failed = diffviews.to_markdown(DiffResult(base, head, error="head pr does not render: boom"))
    unchanged = diffviews.to_markdown(DiffResult(base, head, unchanged=12))
    assert "❌ hydrate could not render this change" in failed
    assert "boom" in failed
    assert "No rendered changes" in unchanged
    assert "12 clusters" in unchanged
    assert "❌" not in unchanged


def test_json_round_trip_of_a_synthetic_result() -> None:
    result = replace(huge(3, 2, 2), stats=STATS)
    doc = diffviews.to_dict(result)
    _validate(doc)
    assert diffviews.from_dict(doc) == result


def test_the_schema_is_valid_and_strict() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    base, head = Revision("main", "a" * 40, "s"), Revision("pr", "b" * 40, "s")
    for result in (replace(huge(2, 1, 1), stats=STATS),
                   DiffResult(base, head, unchanged=12, stats=STATS),
                   DiffResult(base, head, error="head pr does not render: boom"),
                   DiffResult(Revision("env/dev, env/prod", "", "branches",
                                       (("dev", "env/dev", "c" * 40), ("prod", "env/prod", ""))),
                              head, stats=STATS)):
        _validate(diffviews.to_dict(result))
    good = diffviews.to_dict(replace(huge(1, 1, 1), stats=STATS))
    bad: list[Any] = [
        {**good, "extra": 1},                                         # an undocumented key
        {**good, "schemaVersion": 2},
        {**good, "base": {**good["base"], "commit": "a" * 7}},         # not a full sha
        {**good, "stats": {**good["stats"], "seconds": 1}},
        {**good, "error": "boom"},                                    # an error with groups
        {**good, "groups": [{**good["groups"][0], "status": "moved"}]},
    ]
    for doc in bad:
        with pytest.raises(jsonschema.ValidationError):
            _validate(doc)


def test_the_documented_example_follows_the_schema() -> None:
    text = (ROOT / "docs/diff.md").read_text()
    (example,) = re.findall(r"## JSON \(schemaVersion 1\)\n.*?```json\n(.*?)```", text, re.S)
    doc = json.loads(example.replace("<sha>", "0" * 40))
    _validate(doc)
    assert "[diff.schema.json](diff.schema.json)" in text  # the doc links its schema
