from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.source import DirTree
from pipeline.templating import Templates

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
    ("{% include 'other.j2' %}", "t.yaml.j2:1: TypeError: no loader for this environment"),
    ("a: {{ vars.a \n", "t.yaml.j2:1: Jinja2 syntax error"),
])
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "other.j2").write_text("secret")
    with pytest.raises(ConfigError) as err:
        _render(tmp_path, text)
    assert expected in str(err.value)


def test_unsafe_attribute_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsafe"):
        _render(tmp_path, "{{ cluster.__class__.__subclasses__() }}")
