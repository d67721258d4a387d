"""The CLI's promises about how it ends: exit codes, and a bug reported with its traceback
saved rather than dumped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import clirun
from tests.conftest import shared_cache


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".hydrate-render" not in p.parts}


@pytest.mark.parametrize(("event", "needle", "nth"), [
    ("os.rename", "/.staging", 3),      # in the middle of swapping new clusters in
    ("subprocess.Popen", "helm", 2),    # while the tools run
])
def test_an_internal_error_exits_3_with_the_traceback_in_a_file(
        example: Path, tmp_path: Path, event: str, needle: str, nth: int) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # A crash among the tool runs needs them to run (an empty cache); one in the swap does
    # not, and the suite's shared cache spares it 84 cold tool runs.
    cache = str(tmp_path / "cache") if event == "subprocess.Popen" else shared_cache()
    env = {"HYDRATE_CACHE_DIR": cache, "TMPDIR": str(tmp)}
    out = example / "rendered"
    assert clirun.run("--repo", example, "render", env={"HYDRATE_CACHE_DIR": str(
        shared_cache())}).code == 0
    before = _tree(out)
    pop = example / "fleet/classes/pop.yaml"
    pop.write_text(pop.read_text().replace("posReplicas: 2", "posReplicas: 3"))

    crashed = clirun.failing("--repo", example, "render", env=env, event=event, needle=needle,
                             nth=nth)
    assert crashed.code == 3, crashed.err
    found = re.fullmatch(r"hydrate: internal error: LookupError: injected by the test at "
                         rf"{event} {nth}\n  the traceback is in (\S+); please report it\n",
                         crashed.err)
    assert found is not None, crashed.err
    log = Path(found[1])
    assert log.parent == tmp
    text = log.read_text()
    assert text.startswith("hydrate ")
    assert "Traceback (most recent call last):" in text
    assert text.rstrip().endswith(f"LookupError: injected by the test at {event} {nth}")
    assert "Traceback" not in crashed.out + crashed.err
    assert _tree(out) == before  # nothing half-written: the previous render stands


def test_graph_formats_named_in_the_cli_are_the_views() -> None:
    """The CLI names them itself (so --help loads no render code): they must agree."""
    from pipeline.cli.graph import GRAPH_FORMATS
    from pipeline.report import graphview

    assert sorted(GRAPH_FORMATS) == sorted(graphview.FORMATS)


def test_help_loads_no_command_core() -> None:
    """`hydrate --help` (and every process the suite starts) stays cheap: the command
    cores, git and the render stack are imported by the command that needs them."""
    import subprocess
    import sys

    code = ("import sys; from pipeline.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('pipeline.commands.', "
            "'pipeline.render', 'pygit2', 'jinja2', 'jsonschema', 'networkx'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()[-1]
    assert out == "['pipeline.commands.context']"


def test_status_loads_no_render_stack() -> None:
    """`hydrate status` runs in CI on every push: it reads branches and the inventory and
    needs neither the graph library, the templates, the tool runner nor validation."""
    import subprocess
    import sys

    heavy = ("networkx", "jinja2", "ruamel.yaml", "kubernetes_validate", "jsonschema_rs",
             "pipeline.render.engine", "pipeline.render.runner", "pipeline.validate")
    code = (f"import sys, pipeline.commands.status\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()[-1]
    assert out == "[]"


def test_a_warm_render_loads_no_graph_templates_or_schema_library(example: Path,
                                                                  tmp_path: Path) -> None:
    """A render whose inputs, plans and checked files are all in the cache needs neither
    networkx (plans are kept), Jinja2 (inputs are recalled) nor jsonschema (the fleet's
    files come from the checked-document memo): together ~0.4 s of imports."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HYDRATE_CACHE_DIR": str(tmp_path / "cache")}
    heavy = ("networkx", "jinja2", "jsonschema")
    argv = ["hydrate", "--repo", str(example), "render", "--out", str(tmp_path / "out")]
    code = ("import sys\nfrom pipeline.cli import main\n"
            f"sys.argv = {argv!r}\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    loaded = []
    for _ in range(2):  # cold, then warm
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env=env).stdout.splitlines()[-1]
        loaded.append(out)
    assert loaded == [str(sorted(heavy)), "[]"]
