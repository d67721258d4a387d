"""Parsing hydrate's own files: every problem is one line, `file:line: key: problem`."""

from __future__ import annotations

import pytest

from pipeline.config.schema import Document, Schemas, check_yaml, parse
from pipeline.errors import ConfigError

PATH = "fleet/clusters/store-0042.yaml"


def _error(text: bytes, *, scalars: bool = True) -> str:
    with pytest.raises(ConfigError) as err:
        parse(PATH, text, scalars=scalars)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_an_ambiguous_scalar_names_file_line_key_and_the_quoted_form() -> None:
    message = _error(b"name: store-0042\nclass: pop\nvars: {storeId: 0042}\n")
    assert message.startswith(f"{PATH}:3: vars.storeId: 0042 is read as the octal number 34")
    assert message.endswith('write "0042" (quoted) for the text')


def test_values_files_are_read_as_helm_reads_them() -> None:
    assert parse("values.yaml", b"mode: 0755\nenabled: on\n") == {"mode": 493, "enabled": True}


@pytest.mark.parametrize("scalars", [True, False])
def test_a_duplicate_key_names_both_lines(scalars: bool) -> None:
    message = _error(b"name: store-0042\nenvironment: prod\nlabels: {}\nenvironment: dev\n",
                     scalars=scalars)
    assert message == (f"{PATH}:4: environment: duplicate key (first at line 2); remove one "
                       "(YAML readers keep only one, and not all the same one)")


def test_an_alias_bomb_is_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=False))
    message = _error(bomb.encode(), scalars=False)
    assert message.startswith(f"{PATH}:6: f: expands to more than 1,000,000 values through aliases")


def test_invalid_utf8_names_the_line_not_a_byte_offset() -> None:
    message = _error(b"name: store-0042\nclass: pop\nlabels: {city: M\xfcnchen}\n")
    assert message.startswith(f"{PATH}:3: not UTF-8 text (byte 0xfc")
    assert message.endswith("save the file as UTF-8")


def test_a_control_character_names_the_line() -> None:
    message = _error(b"name: store-0042\nclass: p\x07op\n")
    assert message.startswith(f"{PATH}:2: character 0x0007 is not allowed in YAML")


def test_a_syntax_error_is_one_line() -> None:
    assert _error(b"name: x\nvars: [unclosed\n").startswith(f"{PATH}:3: YAML syntax error: ")


def test_schema_errors_are_one_short_line() -> None:
    text = b"name: store-0042\nclass: pop\nenvironment: prod\nsite: [" + b"a, " * 500 + b"b]\n"
    with pytest.raises(ConfigError) as err:
        Schemas.load().check("cluster", PATH, text, parse(PATH, text))
    message = str(err.value)
    assert message.startswith(f"{PATH}:4: site: expected a string, got a list")
    assert "\n" not in message
    assert len(message) < 300


def test_document_at_names_the_line_of_a_key() -> None:
    text = b"environments:\n- name: dev\n- name: prod\n  promotion: {from: qa}\n"
    doc = Document("fleet/environments.yaml", text, parse("fleet/environments.yaml", text))
    assert doc.at("environments", 1, "promotion", "from") == (
        "fleet/environments.yaml:4: environments[1].promotion.from")


def test_check_yaml_refuses_duplicates_in_any_document_and_ignores_non_yaml() -> None:
    with pytest.raises(ConfigError, match=r"^patch.yaml:6: spec.replicas: duplicate key"):
        check_yaml("patch.yaml", b"kind: A\n---\nkind: B\nspec:\n  replicas: 1\n  replicas: 2\n")
    check_yaml("config.yaml", b"{{ not: [yaml\n")  # kustomize reports it if it reads it
