"""Documentation that is generated must match what the code does today."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_the_readme_example_comment_is_up_to_date() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/example_comment.py"), "--check"],
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr


def test_every_command_is_documented() -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli

    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert f"hydrate {name}" in readme or f"hydrate {name}" in "".join(
            p.read_text() for p in (ROOT / "docs").glob("*.md")), name
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert (command.help or "").split("\n")[0] in result.output


def test_every_rule_is_documented_with_its_default() -> None:
    from pipeline.validate.rules import RULES

    text = (ROOT / "docs/validation.md").read_text()
    table = text[text.index("<!-- rules:start -->"):text.index("<!-- rules:end -->")]
    for rule in RULES.values():
        if rule.check is not None:
            assert f"| `{rule.id}` | {rule.severity} | {rule.full} |" in table, rule.id
        else:
            assert f"`{rule.id}`" in text, rule.id


def test_the_catalog_doc_is_up_to_date() -> None:
    import os

    from tests.conftest import shared_cache

    proc = subprocess.run([sys.executable, str(ROOT / "scripts/catalog.py"), "--check"],
                          capture_output=True, text=True, check=False, timeout=600,
                          env={**os.environ, "HYDRATE_CACHE_DIR": shared_cache()})
    assert proc.returncode == 0, proc.stderr
