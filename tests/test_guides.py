"""The commands of docs/getting-started.md and docs/guides.md run, so the guides cannot rot.

What runs, in document order:
* a fenced block whose info string is `sh run` (shown to the reader as shell code);
* an HTML comment that starts with `<!-- test` (hidden from the reader): what stands in
  for the parts that cannot run here (GitHub as the remote, a download, a cluster) and
  the checks that the recipe did what the text says.
Other fenced blocks are illustration only.

docs/getting-started.md is one script. docs/guides.md is one script per `## ` recipe,
each started from the text before the first recipe (the shared starting point) in a
directory of its own. Each runs in bash with `set -euo pipefail`, with `hydrate`, `helm`
and `kubectl` on PATH and a git identity.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, shared_cache

_RUNNABLE = re.compile(r"^```sh run\n(?P<block>.*?)^```$|^<!-- test\n(?P<hidden>.*?)^-->$", re.M | re.S)
_RECIPE = re.compile(r"^## (.+)$", re.M)


def script(markdown: str) -> str:
    """The commands of `markdown`, in order."""
    parts = [m["block"] if m["block"] is not None else m["hidden"] for m in _RUNNABLE.finditer(markdown)]
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


def recipes(path: Path) -> dict[str, str]:
    """Each `## ` section of a guide, the shared start (before the first) prepended."""
    text = path.read_text()
    heads = list(_RECIPE.finditer(text))
    start = script(text[:heads[0].start()]) if heads else ""
    return {m[1]: start + script(text[m.start():heads[i + 1].start() if i + 1 < len(heads) else len(text)])
            for i, m in enumerate(heads)}


def run(commands: str, cwd: Path) -> None:
    home = cwd / ".home"
    home.mkdir()
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "HOME": str(home),
        "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
        "LANG": "C.UTF-8",
        "HYDRATE_CACHE_DIR": shared_cache(),
        "GIT_AUTHOR_NAME": "Pat Platform", "GIT_AUTHOR_EMAIL": "pat@example.com",
        "GIT_COMMITTER_NAME": "Pat Platform", "GIT_COMMITTER_EMAIL": "pat@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }
    env.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE") or k == "PYTHONPATH"})
    proc = subprocess.run(["bash", "-c", "set -euo pipefail -x\n" + commands], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + "\n--- stderr (with the commands, set -x)\n" + proc.stderr)
                         .splitlines()[-80:])
        pytest.fail(f"exit {proc.returncode}\n{tail}", pytrace=False)


def test_the_runnable_blocks_are_found() -> None:
    text = "a\n```sh run\nhydrate render\n```\n```sh\nnot me\n```\n<!-- test\ntest -d x\n-->\n"
    assert script(text) == "hydrate render\ntest -d x\n"


@pytest.mark.parametrize("name", ["getting-started.md", "guides.md"])
def test_no_check_can_break_its_own_pipe(name: str) -> None:
    """`… | grep -q X` stops reading at the first match; the command before it may then
    fail on the closed pipe, and under pipefail the check fails now and then."""
    assert "| grep -q" not in script((ROOT / "docs" / name).read_text()), \
        "write `| grep X >/dev/null` (grep reads to the end)"


def test_getting_started_runs(tmp_path: Path) -> None:
    commands = script((ROOT / "docs/getting-started.md").read_text())
    assert "hydrate init" in commands
    assert "hydrate promote" in commands
    run(commands, tmp_path)


GUIDES = recipes(ROOT / "docs/guides.md")


@pytest.mark.parametrize("title", list(GUIDES))
def test_guide_runs(title: str, tmp_path: Path) -> None:
    run(GUIDES[title], tmp_path)
