from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pipeline.config import yamlio
from pipeline.render import tools

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


@pytest.mark.parametrize("scalar", ["0o17", "-0o17", "0b101"])
def test_loader_reads_yaml_1_2_octal_as_kubernetes_does(
        kubectl_json: Callable[[str], object], scalar: str) -> None:
    text = f"apiVersion: v1\nkind: Probe\nmetadata:\n  name: x\nspec:\n  v: {scalar}\n"
    expected = kubectl_json(text)
    assert isinstance(expected, dict)
    assert yamlio.load(text)["spec"]["v"] == expected["spec"]["v"]


def test_merge_keys_merge_as_in_kubernetes(kubectl_json: Callable[[str], object]) -> None:
    text = ("apiVersion: v1\nkind: Probe\nmetadata:\n  name: x\n"
            "base: &base {a: 1, b: 2}\nspec:\n  <<: *base\n  b: 3\n")
    expected = kubectl_json(text)
    assert isinstance(expected, dict)
    assert yamlio.load(text)["spec"] == expected["spec"] == {"a": 1, "b": 3}


def _kubectl_number_texts(toolset: tools.Toolset, tmp_path: Path, numbers: list[str]) -> list[str]:
    """How kubectl (Go's encoding/json) writes each YAML number, as text."""
    spec = "".join(f"  v{i}: {n}\n" for i, n in enumerate(numbers))
    doc = tmp_path / "numbers.yaml"
    doc.write_text(f"apiVersion: v1\nkind: Probe\nmetadata:\n  name: x\nspec:\n{spec}")
    binary = toolset.kustomize.argv[0]
    if not Path(binary).name.startswith("kubectl"):
        binary = shutil.which("kubectl") or binary
    out = subprocess.run([binary, "label", "--local", "-f", str(doc), "x=y", "-o", "json"],
                         capture_output=True, text=True, check=True,
                         env={"PATH": os.environ["PATH"], "KUBECONFIG": os.devnull,
                              "HOME": str(tmp_path)}).stdout
    spec_json = json.loads(out, parse_float=str, parse_int=str)["spec"]
    return [spec_json[f"v{i}"] for i in range(len(numbers))]


def test_float_text_is_what_go_writes(toolset: tools.Toolset, tmp_path: Path) -> None:
    numbers = ["1e-5", "1.5e-7", "1e21", "86.0", "0.1", "1e20", "2.5e-6", "123456.789",
               "-0.0001", "3.0e3"]
    expected = _kubectl_number_texts(toolset, tmp_path, numbers)
    assert [yamlio.float_text(float(n)) for n in numbers] == expected


# --- load_strict ----------------------------------------------------------------------

@pytest.mark.parametrize(("scalar", "reading", "fix"), [
    ("0042", "the octal number 34 by YAML 1.1 (Kubernetes, Helm) but as 42 by YAML 1.2",
     'write "0042" (quoted) for the text'),
    ("00086", "the number 86", 'write "00086" (quoted) for the text, or 86 for the number'),
    ("NO", "the boolean false by YAML 1.1", 'write "NO" (quoted) for the text, or false'),
    ("on", "the boolean true by YAML 1.1", 'write "on" (quoted) for the text, or true'),
    ("y", "the boolean true", 'write "y" (quoted)'),
    ("1.10", "the number 1.1", 'write "1.10" (quoted) for the text, or 1.1 for the number'),
    ("1.0", "the number 1", 'write "1.0" (quoted)'),
    ("1e3", "the number 1000", 'write "1e3" (quoted)'),
    ("1:30", "the number 90 (base 60) by YAML 1.1 readers", 'write "1:30" (quoted)'),
    ("0x1F", "the number 31", 'write "0x1F" (quoted) for the text, or 31 for the number'),
    ("0o17", "the number 15", 'write "0o17" (quoted)'),
    ("1_000", "the number 1000", 'write "1_000" (quoted)'),
    ("+49", "the number 49", 'write "+49" (quoted)'),
    (".inf", "the number +Inf", 'write ".inf" (quoted) for the text'),
])
def test_ambiguous_scalars_are_refused_with_the_quoted_form(
        scalar: str, reading: str, fix: str) -> None:
    text = f"name: x\nvars:\n  k: {scalar}\n"
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict(text, scalars=True)
    assert err.value.key == ("vars", "k")
    assert err.value.problem_mark is not None
    assert err.value.problem_mark.line == 2
    assert f"{scalar} is read as {reading}" in str(err.value.problem)
    assert fix in str(err.value.problem)
    assert yamlio.load_strict(text)["vars"]["k"] == yamlio.load(text)["vars"]["k"]  # values


@pytest.mark.parametrize(("text", "key", "line"), [
    ("ports:\n- 8080\n- 0042\n", ("ports", 1), 3),
    ("stores: [0001, '0002']\n", ("stores", 0), 1),
    ("a:\n  b:\n  - {c: [x, NO]}\n", ("a", "b", 0, "c", 1), 3),
    ("- - on\n", (0, 0), 1),
])
def test_ambiguous_scalars_inside_lists_are_refused(
        text: str, key: tuple[str | int, ...], line: int) -> None:
    """A list item is checked like a mapping's value, however deep, with its index in
    the key (`- 0042` is the octal 34 to Kubernetes)."""
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict(text, scalars=True)
    assert err.value.key == key
    assert err.value.problem_mark is not None
    assert err.value.problem_mark.line + 1 == line
    assert " is read as " in str(err.value.problem)
    yamlio.load_strict(text)  # only asked for: the document itself is valid


@pytest.mark.parametrize("scalar", ["42", "-3", "0", "1.5", "0.25", "-2.5", "true", "False",
                                    "null", "~", '"0042"', "'NO'", "text", "1.30.1", "v1.10",
                                    "2026-11-23", "30m", "|\n    0042"])
def test_unambiguous_scalars_load(scalar: str) -> None:
    text = f"k: {scalar}\n"
    assert yamlio.load_strict(text, scalars=True) == yamlio.load(text)


@pytest.mark.parametrize(("text", "key", "line"), [
    ("environment: prod\nname: x\nenvironment: dev\n", ("environment",), 3),
    ("vars:\n  a: 1\n  'a': 2\n", ("vars", "a"), 3),
    ("l:\n- {x: 1, x: 2}\n", ("l", 0, "x"), 2),
    ("a: 1\n01: 2\n1: 3\n", ("1",), 3),  # 01 and 1 are one key
])
def test_duplicate_keys_are_refused(text: str, key: tuple[str | int, ...], line: int) -> None:
    for load in (yamlio.load_strict, yamlio.load_all_strict):
        with pytest.raises(yamlio.StrictError) as err:
            load(text)
        assert err.value.key == key
        assert err.value.problem_mark is not None
        assert err.value.problem_mark.line + 1 == line
        assert "duplicate key (first at line" in str(err.value.problem)


def test_merge_keys_may_be_overridden() -> None:
    text = "base: &b {a: 1, b: 2}\nm:\n  <<: *b\n  b: 3\n"
    assert yamlio.load_strict(text, scalars=True)["m"] == {"a": 1, "b": 3}


@pytest.mark.parametrize(("text", "key"), [
    ("on: 1\n", ("on",)), ("vars: {y: a}\n", ("vars", "y")), ("1: a\n", ("1",)),
    ("~: a\n", ("~",)),
])
def test_keys_must_be_text_in_hydrates_files(text: str, key: tuple[str, ...]) -> None:
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict(text, scalars=True)
    assert err.value.key == key
    assert "key " in str(err.value.problem)


def _laughs(levels: int) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_all_strict(_laughs(9))  # 10**9 values once expanded
    assert err.value.key == ("l5",)  # the first anchor past a million values
    assert "more than 1,000,000 values through aliases" in str(err.value.problem)
    assert yamlio.load_strict(_laughs(4))["l3"][9][9][9][9] == "lol"  # 10**4 is fine


def test_recursive_aliases_and_deep_nesting_are_refused() -> None:
    with pytest.raises(yamlio.StrictError, match="recursive"):
        yamlio.load_strict("a: &x [1, *x]\n")
    with pytest.raises(yamlio.StrictError, match="nested more than 100 levels"):
        yamlio.load_strict("a: " + "[" * 500 + "]" * 500 + "\n")


def test_tabs_between_tokens_become_spaces_for_ruamel_and_values_keep_theirs() -> None:
    """24.12: ruamel.yaml refuses a tab before a comment that libyaml (Kubernetes, Helm,
    hydrate's reader) accepts; the text it is given reads as the same document."""
    from ruamel.yaml import YAML

    from pipeline.config.provenance import key_lines

    text = ('a: "x\t#y"\t# c\nb: [1,\t2]\t#z\nc: |\n  tab\there # not\nd:\tplain # q\n'
            "e:\t\t[x,\tz]\t\n")
    spaced = yamlio.spaced_tabs(text)
    assert spaced == ('a: "x\t#y" # c\nb: [1, 2] #z\nc: |\n  tab\there # not\nd: plain # q\n'
                      "e:  [x, z] \n")
    assert YAML().load(spaced) == yamlio.load(text)  # the round-trip loader
    assert yamlio.spaced_tabs("a: 1\n") == "a: 1\n"
    # explain's line numbers come through ruamel.yaml too
    assert key_lines(b"a: 1\t# one\nb:\n  c: 2\t# two\n") == {("a",): 1, ("b",): 2, ("b", "c"): 3}


# --- every message exactly, and the edges of the strict reader (mutation testing) -----------

@pytest.mark.parametrize(("scalar", "problem"), [
    ("1:30", '1:30 is read as the number 90 (base 60) by YAML 1.1 readers but as the text '
             '"1:30" by Kubernetes and YAML 1.2; write "1:30" (quoted) for the text'),
    ("-1:30", '-1:30 is read as the number -90 (base 60) by YAML 1.1 readers but as the text '
              '"-1:30" by Kubernetes and YAML 1.2; write "-1:30" (quoted) for the text'),
    ("+1:30", '+1:30 is read as the number 90 (base 60) by YAML 1.1 readers but as the text '
              '"+1:30" by Kubernetes and YAML 1.2; write "+1:30" (quoted) for the text'),
    ("1__0:30", '1__0:30 is read as the number 630 (base 60) by YAML 1.1 readers but as the '
                'text "1__0:30" by Kubernetes and YAML 1.2; write "1__0:30" (quoted) for the '
                "text"),
    ("0042", '0042 is read as the octal number 34 by YAML 1.1 (Kubernetes, Helm) but as 42 by '
             'YAML 1.2; write "0042" (quoted) for the text'),
    ("0__42", '0__42 is read as the octal number 34 by YAML 1.1 (Kubernetes, Helm) but as 42 '
              'by YAML 1.2; write "0__42" (quoted) for the text'),
    ("1__000", '1__000 is read as the number 1000; write "1__000" (quoted) for the text, or '
               "1000 for the number"),
    (".nan", '.nan is read as the number NaN; write ".nan" (quoted) for the text'),
    (".inf", '.inf is read as the number +Inf; write ".inf" (quoted) for the text'),
    ("-.Inf", '-.Inf is read as the number -Inf; write "-.Inf" (quoted) for the text'),
    ("NO", 'NO is read as the boolean false by YAML 1.1 (Kubernetes, Helm) but as the text "NO" '
           'by YAML 1.2; write "NO" (quoted) for the text, or false for the boolean'),
])
def test_each_ambiguity_is_said_in_full(scalar: str, problem: str) -> None:
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict(f"k: {scalar}\n", scalars=True)
    assert err.value.problem == problem


@pytest.mark.parametrize(("text", "problem"), [
    ("1: a\n", 'key 1 is read as a number, not as text; write "1" (quoted)'),
    ("1.5: a\n", 'key 1.5 is read as a number, not as text; write "1.5" (quoted)'),
    ("true: a\n", 'key true is read as a boolean, not as text; write "true" (quoted)'),
    ("~: a\n", 'key ~ is read as null, not as text; write "~" (quoted)'),
    ("0x1F: a\n", 'key 0x1F is read as the number 31; write "0x1F" (quoted) for the text, or 31 '
                  "for the number"),
])
def test_a_key_that_is_not_text_is_said_in_full_with_its_line(text: str, problem: str) -> None:
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict("a: 1\n" + text, scalars=True)
    assert err.value.problem == problem
    assert err.value.problem_mark is not None
    assert err.value.problem_mark.line == 1


def test_a_duplicate_key_names_the_line_of_the_first() -> None:
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict("a: 1\nb: 2\n\na: 3\n")
    assert err.value.problem == ("duplicate key (first at line 1); remove one (YAML readers "
                                 "keep only one, and not all the same one)")
    assert err.value.key == ("a",)


def test_a_problem_under_a_key_that_is_not_a_scalar_is_placed_under_a_question_mark() -> None:
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict("? [a, b]\n: {x: 1, x: 2}\n")
    assert err.value.key == ("?", "x")


def _nested(depth: int) -> str:
    """A document whose deepest value sits `depth` keys and indexes down."""
    return "a: " + "[" * (depth - 1) + "x" + "]" * (depth - 1) + "\n"


def test_nesting_is_allowed_to_exactly_the_limit() -> None:
    deep = yamlio.load_strict(_nested(yamlio.MAX_DEPTH))  # the deepest key: 100 long
    assert deep is not None
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict(_nested(yamlio.MAX_DEPTH + 1))
    assert err.value.key == ("a",)
    assert err.value.problem == f"nested more than {yamlio.MAX_DEPTH} levels deep"
    assert err.value.problem_mark is not None
    assert err.value.problem_mark.line == 0


def test_a_recursive_alias_is_said_in_full_where_it_is() -> None:
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict("ok: 1\na: &x [1, *x]\n")
    assert err.value.problem == "an alias points into its own anchor (a recursive structure)"
    assert err.value.key == ("a", 1)
    assert err.value.problem_mark is not None
    assert err.value.problem_mark.line == 1


def _expanding(scalars: int, aliases: int, extra: str = "") -> str:
    """A list of `scalars` items and a list of `aliases` aliases to it: it expands to
    4 + (aliases + 1) * (scalars + 1) values (nodes) in all."""
    return (f"a: &a [{', '.join(['x'] * scalars)}]\n"
            f"b: [{', '.join(['*a'] * aliases)}]\n{extra}")


def test_a_document_of_exactly_the_most_values_loads_and_one_more_does_not() -> None:
    exact = _expanding(997, 1001)  # 4 + 1002 * 998 = 1,000,000 values
    found = yamlio.load_strict(exact)
    assert len(found["b"]) == 1001
    assert len(found["b"][0]) == 997
    with pytest.raises(yamlio.StrictError) as err:
        yamlio.load_strict(_expanding(997, 1001, "c: x\n"))  # 1,000,002
    assert err.value.key == ()
    assert err.value.problem == ("expands to more than 1,000,000 values through aliases (an "
                                 "alias bomb?); write the values out instead")
    assert err.value.problem_mark is not None
    assert err.value.problem_mark.line == 0


def test_every_document_of_a_stream_is_read() -> None:
    assert yamlio.load_all_strict("a: on\n---\nb: [0755]\n") == [{"a": True}, {"b": [493]}]


@pytest.mark.parametrize(("text", "value"), [
    ("1_000.5", 1000.5), ("1__0.5", 10.5), ("-.inf", float("-inf")), ("-.Inf", float("-inf")),
    ("+.inf", float("inf")), (".Inf", float("inf")), ("1e3", 1000.0),
])
def test_floats_read_as_go_yaml_reads_them(text: str, value: float) -> None:
    assert yamlio.load(f"v: {text}\n")["v"] == value


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_not_a_number_reads_as_nan(text: str) -> None:
    found = yamlio.load(f"v: {text}\n")["v"]
    assert isinstance(found, float)
    assert math.isnan(found)


def test_streams_are_read_with_kubernetes_types() -> None:
    assert list(yamlio.load_all("a: on\n---\nb: 0755\n---\n- 1e3\n")) == [
        {"a": True}, {"b": 493}, [1000.0]]


def test_strings_are_dumped_double_quoted_where_needed_unwrapped_and_in_their_own_letters(
        ) -> None:
    """As kustomize writes them: an ambiguous string double-quoted, others plain, keys
    sorted, non-ASCII as is, a long line never folded; a stream the same, document by
    document."""
    long = " ".join(["word"] * 40)
    assert yamlio.dump({"d": "x", "a": "on", "b": "0755", "c": "1:30", "e": "Größe",
                        "f": long}) == (f'a: "on"\nb: "0755"\nc: "1:30"\nd: x\ne: Größe\nf: {long}\n')
    assert yamlio.dump({"l": [{"b": 1, "a": 2}]}) == "l:\n- a: 2\n  b: 1\n"
    assert yamlio.dump_all([{"b": 1, "a": "on"}, {"c": "Größe", "f": long}, ["y"]]) == (
        f'a: "on"\nb: 1\n---\nc: Größe\nf: {long}\n---\n- "y"\n')


@pytest.mark.parametrize(("value", "text"), [
    (float("nan"), "NaN"), (float("inf"), "+Inf"), (float("-inf"), "-Inf"),
    (1e-6, "0.000001"), (-1e-6, "-0.000001"), (9.9e-5, "0.000099"), (1e-7, "1e-7"),
    (1e21, "1e+21"), (1e20, "100000000000000000000"), (1.5e-7, "1.5e-7"),
])
def test_float_text_at_the_edges_go_switches_notation(value: float, text: str) -> None:
    assert yamlio.float_text(value) == text


def test_the_quoted_form_escapes_backslashes_and_quotes() -> None:
    assert yamlio._quoted('a"b\\c') == '"a\\"b\\\\c"'


def test_every_implicit_type_is_found_from_its_first_character() -> None:
    """The resolver table is keyed by a scalar's first character: each spelling of each
    type must be reachable from its own (a table that forgot `Y` would read `Yes` as
    text); the dumper's table also finds what other readers take for non-strings."""
    kinds = {
        "tag:yaml.org,2002:bool": ["y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                   "true", "True", "TRUE", "false", "False", "FALSE", "on",
                                   "On", "ON", "off", "Off", "OFF"],
        "tag:yaml.org,2002:int": ["0", "-1", "+7", "0755", "0o17", "0x1F", "0b101", "1_000"],
        "tag:yaml.org,2002:float": ["1.5", ".5", "-.5", "+1e3", "1e3", ".inf", "-.Inf",
                                    ".nan"],
        "tag:yaml.org,2002:null": ["", "~", "null", "Null", "NULL"],
        "tag:yaml.org,2002:merge": ["<<"],
    }
    quoted = ["1:30", "2026-11-23", "2026-11-23T10:00:00Z", "="]
    for extra in (False, True):
        table = yamlio._resolvers(extra)
        for tag, spellings in kinds.items():
            for text in spellings:
                found = [t for t, pattern in table.get(text[:1], []) if pattern.match(text)]
                assert found[:1] == [tag], (extra, text)
        for text in quoted:
            found = [t for t, pattern in table.get(text[:1], []) if pattern.match(text)]
            assert bool(found) is extra, (extra, text)
        assert None not in table  # nothing is tried against every scalar
        first = set("yYnNtTfFoO-+0123456789.~<") | {""} | (set("=") if extra else set())
        assert set(table) == first


def test_an_anchored_value_is_checked_once_however_many_aliases_name_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk remembers each node it finished: a document of ten anchored scalars and a
    hundred aliases to them costs ten checks, not a thousand (an alias bomb must be
    refused in time proportional to what is written, not to what it expands to)."""
    checked: list[str] = []
    real = yamlio._check_scalar

    def counting(node: yaml.ScalarNode, key: yamlio.Key) -> None:
        checked.append(node.value)
        real(node, key)

    monkeypatch.setattr(yamlio, "_check_scalar", counting)
    text = _expanding(10, 100)
    found = yamlio.load_strict(text, scalars=True)
    assert len(found["b"]) == 100
    assert checked.count("x") == 10  # (keys are checked as keys and as scalars)
