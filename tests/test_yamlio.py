from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline import yamlio

# Strings some YAML reader takes for something else when written bare.
TRICKY = ["on", "off", "yes", "no", "y", "n", "Y", "N", "true", "False", "~", "null", "",
          "0755", "0o17", "0x1F", "1_000", "1e3", "-1.5e-3", ".inf", "-.Inf", ".nan", "12",
          "1:30", "2026-11-23", "2026-11-23T10:00:00Z", "=", "<<", "- item", "a: b",
          "# not a comment", "trailing ", "multi\nline\n", "plain-text", "@at", "*star"]


def _object(data: dict[str, object]) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Probe", "metadata": {"name": "x"}, "spec": data}


def test_dumped_strings_read_back_as_strings_by_kubernetes(
        kubectl_json: Callable[[str], object]) -> None:
    data = {f"k{i}": s for i, s in enumerate(TRICKY)}
    parsed = kubectl_json(yamlio.dump(_object(data)))
    assert isinstance(parsed, dict)
    assert parsed["spec"] == data


@pytest.mark.parametrize("scalar", ["on", "y", "NO", "0755", "1e3", "1_000", "0x1F", "~",
                                    "2026-11-23", "1:30", "-.5", "12", "+7", "true", "x"])
def test_loader_reads_bare_scalars_as_kubernetes_does(
        kubectl_json: Callable[[str], object], scalar: str) -> None:
    text = f"apiVersion: v1\nkind: Probe\nmetadata:\n  name: x\nspec:\n  v: {scalar}\n"
    expected = kubectl_json(text)
    assert isinstance(expected, dict)
    ours = yamlio.load(text)["spec"]["v"]
    assert ours == expected["spec"].get("v")
    assert type(ours) is type(expected["spec"].get("v")) or isinstance(ours, float)


def test_dump_sorts_keys_and_does_not_wrap() -> None:
    long = "x" * 500
    text = yamlio.dump({"b": 1, "a": {"d": long, "c": [2, 1]}})
    assert text == f"a:\n  c:\n  - 2\n  - 1\n  d: {long}\nb: 1\n"


def test_multiline_strings_use_block_style() -> None:
    text = yamlio.dump({"conf": "[SERVICE]\n    Flush 1\n"})
    assert text == "conf: |\n  [SERVICE]\n      Flush 1\n"
    assert yamlio.load(text) == {"conf": "[SERVICE]\n    Flush 1\n"}
