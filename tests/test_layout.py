"""The package's shape: stages import only downwards, and no modules import each other
in a circle. Read from the source with `ast`, function-level imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"
# The road, bottom up: a module may import its own stage and those before it.
ROAD = ("base", "config", "render", "access", "validate", "sinks", "review", "promote", "report",
        "commands", "cli")
BASE = {"pipeline", "pipeline.clock", "pipeline.errors", "pipeline.example", "pipeline.pins",
        "pipeline.version", "pipeline.words"}


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage(module: str) -> str:
    if module in BASE:
        return "base"
    part = module.split(".")[1]
    return "cli" if part == "__main__" else part


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The pipeline modules `path` imports (`from pipeline.x import y` counts as
    pipeline.x.y when that is a module, else as pipeline.x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pipeline"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "pipeline"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
    return found


def _graph() -> nx.DiGraph[str]:
    paths = {_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: nx.DiGraph[str] = nx.DiGraph()
    for module, path in paths.items():
        graph.add_node(module)
        for target in _imports(path, set(paths)) - {module}:
            assert target in paths, f"{module} imports {target}, which does not exist"
            if paths[target].name != "__init__.py" or target in BASE:
                graph.add_edge(module, target)
    return graph


def test_every_module_belongs_to_a_stage_of_the_road() -> None:
    assert {_stage(m) for m in _graph()} <= set(ROAD)


def test_stages_import_only_downwards() -> None:
    upward = [f"{a} ({_stage(a)}) imports {b} ({_stage(b)})" for a, b in _graph().edges
              if ROAD.index(_stage(b)) > ROAD.index(_stage(a))]
    assert upward == []


def test_no_modules_import_each_other_in_a_circle() -> None:
    assert sorted(sorted(c) for c in nx.simple_cycles(_graph())) == []


def test_each_cli_module_holds_the_commands_of_the_core_of_its_name() -> None:
    """cli/<name>.py holds the commands whose core is commands/<name>.py and calls no other
    core (context aside), and every core has its cli module: a command is found by its
    name, and nothing below the CLI is reached past a core."""
    graph = _graph()
    shared = {"pipeline.cli", "pipeline.cli.group", "pipeline.__main__"}
    used: dict[str, set[str]] = {}
    for module in graph:
        if _stage(module) == "cli" and module not in shared:
            used[module.rsplit(".", 1)[1]] = {
                target.rsplit(".", 1)[1] for target in graph.successors(module)
                if _stage(target) == "commands" and target != "pipeline.commands.context"}
    assert {name: cores for name, cores in used.items() if cores != {name}} == {}
    cores = {m.rsplit(".", 1)[1] for m in graph if _stage(m) == "commands"}
    helpers = {"artifacts", "commands", "context", "pullrequest"}  # used by cores, not the CLI
    assert sorted(cores - helpers) == sorted(used)


def test_the_checks_see_a_wrong_import(tmp_path: Path) -> None:
    """The reader finds function-level and `from pipeline.x import module` imports."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from pipeline.cli import main\n"
                     "    from pipeline.render import engine\n")
    assert _imports(probe, {"pipeline.cli", "pipeline.render.engine"}) == {
        "pipeline.cli", "pipeline.render.engine"}
