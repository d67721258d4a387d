from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config.source import DirTree
from pipeline.config.templating import Templates
from pipeline.errors import ConfigError

CONTEXT = {"cluster": {"name": "store-0001", "labels": {"country": "de"}}, "vars": {"a": 1},
           "env": "prod", "package": {"name": "pos-app", "namespace": "pos"}}


def _render(tmp_path: Path, text: str) -> bytes:
    (tmp_path / "t.yaml.j2").write_text(text)
    return Templates(DirTree(tmp_path)).render("t.yaml.j2", CONTEXT, "cluster store-0001")


def test_renders_with_the_context(tmp_path: Path) -> None:
    out = _render(tmp_path, "name: {{ cluster.name }}-{{ vars.a }}-{{ env }}\n")
    assert out == b"name: store-0001-1-prod\n"


@pytest.mark.parametrize(("text", "expected"), [
    ("a: {{ vars.missing }}\n", "t.yaml.j2:1: undefined variable"),
    ("a: 1\nb: {{ ''.__class__.__mro__ }}\n", "t.yaml.j2:2: "),
    ("{{ vars.update({'a': 2}) }}", "not allowed in a sandboxed template"),
    ("{% include 'other.j2' %}", "t.yaml.j2:1: {% include %} is not supported: a template's "
                                 "output may depend only on the template and its context"),
    ("a: 1\n{% from 'other.j2' import x %}", "t.yaml.j2:2: {% import %} is not supported"),
    ("{% extends 'other.j2' %}", "t.yaml.j2:1: {% extends %} is not supported"),
    ("a: {{ vars.a \n", "t.yaml.j2:1: Jinja2 syntax error"),
    # What changes from render to render (hydrate keeps one render: the cache would decide).
    ("a: 1\nb: {{ ['x', 'y'] | random }}\n", "t.yaml.j2:2: not allowed in a sandboxed template: the "
                                            "random filter gives another result on every render"),
    ("a: {{ lipsum(1) }}\n", "t.yaml.j2:1: not allowed in a sandboxed template: lipsum() gives "
                             "another result on every render"),
])
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "other.j2").write_text("secret")
    with pytest.raises(ConfigError) as err:
        _render(tmp_path, text)
    assert expected in str(err.value)


def test_unsafe_attribute_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsafe"):
        _render(tmp_path, "{{ cluster.__class__.__subclasses__() }}")


def _context(**vars: object) -> dict[str, object]:
    return {**CONTEXT, "vars": vars}


def test_values_print_as_helm_prints_them(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text(
        "{{ vars.on }} {{ vars.off }} {{ vars.int }} {{ vars.float }} {{ vars.half }}"
        " [{{ vars.none }}] {{ vars.list }} {{ vars.map }} {{ 3 * 0.5 }} {{ 4 / 2 }}")
    out = Templates(DirTree(tmp_path)).render(
        "t.j2", _context(on=True, off=False, int=86, float=86.0, half=0.5, none=None,
                         list=[True, 1.0, None, "a"], map={"k": False}), "cluster x")
    assert out == b'true false 86 86 0.5 [] [true, 1, null, "a"] {"k": false} 1.5 2'


@pytest.mark.parametrize(("text", "expected"), [
    ("{{ 'x' * 10**13 }}", "refused: 'x' * 10000000000000 would make 10,000,000,000,000"),
    ("{{ [1] * 10**9 }}", "refused: [1] * 1000000000 would make 1,000,000,000"),
    ("{{ 7 ** 1000000000 }}", "refused: 7 ** 1000000000 makes a number of more than 65,536 bits"),
    ("{{ 'x'.ljust(10**12) }}", "refused: ljust(): the argument 1,000,000,000,000 is past"),
    ("{{ 'x' | center(10**10) }}", "refused: the filter center: the argument"),
    ("{{ '{:>9999999999}'.format(1) }}", "refused: format() would make 9,999,999,999"),
    ("{{ '%9999999999s' % 1 }}", "refused: '%9999999999s' % 1 would make 9,999,999,999"),
    ("{% set s = 'x' * 10**6 %}{{ s | replace('', s) }}", "refused: the filter replace"),
    ("{% set s = 'x' * 10**6 %}{{ ([s] * 100) | join }}", "refused: the filter join"),
    ("{% set n = namespace(s='x') %}{% for i in range(40) %}{% set n.s = n.s ~ n.s %}"
     "{% endfor %}", "refused: the ~ operator makes a value of 33,554,432"),
    ("{% set n = namespace(s='x') %}{% for i in range(40) %}{% set n.s = n.s + n.s %}"
     "{% endfor %}", "makes a value of 33,554,432 items or characters"),
    ("{% for i in range(100000) %}{% for j in range(1000) %}{{ 'x' * 200 }}{% endfor %}"
     "{% endfor %}", "t.yaml.j2: the rendered output is larger than 16,777,216 characters"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "the template recurses too deeply"),
])
def test_runaway_templates_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        _render(tmp_path, text)
    assert str(err.value).startswith("t.yaml.j2")
    assert expected in str(err.value)
    assert "(rendering cluster store-0001)" in str(err.value) or "rendered output" in str(err.value)


def test_ordinary_arithmetic_and_string_work_is_unaffected(tmp_path: Path) -> None:
    out = _render(tmp_path, "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '%-3s|' % 'a' }} {{ 7 % 4 }} "
                            "{{ 'a,b' | replace(',', '-') }} {{ ['a', 'b'] | join('+') }} "
                            "{{ '{}/{}'.format(1, 2) }} {{ 'x' ~ 1 }} {{ 'x' | center(5) }}")
    assert out == b"ababab 1024 a  | 3 a-b a+b 1/2 x1   x  "


def test_a_template_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "t.yaml.j2").write_bytes(b"a: 1\nb: M\xfcnchen\n")
    with pytest.raises(ConfigError, match=r"^t.yaml.j2:2: not UTF-8 text \(byte 0xfc\)"):
        Templates(DirTree(tmp_path)).render("t.yaml.j2", CONTEXT, "cluster store-0001")
