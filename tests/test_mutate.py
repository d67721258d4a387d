"""scripts/mutate: the safety-critical modules it covers, the equivalents file, a real
mutmut run counted and reported, and the pull-request selection of changed modules."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pygit2
import yaml

from tests.conftest import ROOT, commit_all

MAP = ROOT / "tests" / "mutation.yaml"
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.yaml"
LAST_LINE = re.compile(r"mutants: (\d+) killed, (\d+) survived, (\d+) equivalent of (\d+)")
# The list: promotion, landing and refs, output swap, redaction, strict YAML, path
# checks, policy and waivers, capacity, the page's escaping.
SAFETY_CRITICAL = {
    "pipeline/promote/gates.py", "pipeline/promote/live.py", "pipeline/promote/notes.py",
    "pipeline/sinks/ledger.py", "pipeline/sinks/landing.py", "pipeline/sinks/refs.py",
    "pipeline/sinks/places.py", "pipeline/review/redact.py", "pipeline/config/yamlio.py",
    "pipeline/config/source.py", "pipeline/config/kustomizations.py",
    "pipeline/config/policy.py", "pipeline/validate/capacity.py", "pipeline/report/site.py"}


def _script() -> ModuleType:
    """scripts/mutate.py as a module (its dataclasses need it in sys.modules)."""
    name = "hydrate_scripts_mutate"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts/mutate.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _mutate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GIT_"))}
    return subprocess.run([sys.executable, str(ROOT / "scripts/mutate.py"), *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False,
                          timeout=900)


def test_the_map_covers_every_safety_critical_module_with_tests_that_exist() -> None:
    modules = yaml.safe_load(MAP.read_text())["modules"]
    assert set(modules) == SAFETY_CRITICAL
    for path, spec in modules.items():
        assert (ROOT / path).is_file(), path
        assert spec["tests"], path
        assert {p for g in spec["tests"] for p in ROOT.glob(g)}, f"{path}: no test file matches"
        assert set(spec) <= {"tests", "floor"}, path


def test_each_equivalent_names_its_change_and_why_it_cannot_change_behaviour() -> None:
    modules = {p.removesuffix(".py").replace("/", ".")
               for p in yaml.safe_load(MAP.read_text())["modules"]}
    entries = yaml.safe_load(EQUIVALENTS.read_text())
    assert isinstance(entries, list)
    for entry in entries:
        assert set(entry) == {"mutant", "change", "reason"}, entry
        module, _, name = entry["mutant"].rpartition(".")
        assert module in modules, entry["mutant"]
        assert re.fullmatch(r"x(_|ǁ\w+ǁ)\w+__mutmut_\d+", name), entry["mutant"]
        assert entry["change"], entry["mutant"]
        assert all(line[:2] in ("- ", "+ ") for line in entry["change"]), entry["mutant"]
        assert len(entry["reason"].split()) >= 3, entry["mutant"]  # a reason, not a word
    assert len({e["mutant"] for e in entries}) == len(entries)


def test_a_run_counts_kills_survivors_and_equivalents_and_flags_stale_entries(
        tmp_path: Path) -> None:
    """A real mutmut run over a small module and its tests; then equivalents that match a
    survivor, a killed mutant and no mutant at all, judged again without running."""
    module = "pipeline/sinks/agenturl.py"
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(
        {"modules": {module: {"tests": ["tests/sinks/test_agenturl.py"]}}}))
    (tmp_path / "eq.yaml").write_text("[]\n")
    work = tmp_path / "work"
    common = ("--map", tmp_path / "map.yaml", "--equivalents", tmp_path / "eq.yaml",
              "--work", work)
    first = _mutate(*common, module)
    assert first.returncode == 0, first.stdout + first.stderr
    last = LAST_LINE.fullmatch(first.stdout.splitlines()[-1])
    assert last, first.stdout
    killed, survived, equivalent, total = map(int, last.groups())
    assert equivalent == 0
    assert killed + survived == total
    assert killed > total / 2
    assert survived > 0  # the test below needs one; agenturl's tests leave a few
    report = json.loads((work / "report.json").read_text())["modules"][module]
    assert (report["killed"], report["survived"], report["total"]) == (killed, survived, total)
    assert f"| {module} | {killed} |" in (work / "report.md").read_text()

    script = _script()
    mutants = script.Mutants(work, script.Module(module, (), None))
    dead = next(n for n, code in mutants.codes.items() if code == 1)
    survivor = report["survivors"][0]

    def entry(name: str, change: list[str]) -> dict[str, object]:
        return {"mutant": name, "change": change, "reason": "the test says so, for the test"}

    never = [*script.change_of(survivor["diff"])[:1], "+ nothing()"]
    (tmp_path / "eq.yaml").write_text(yaml.safe_dump([
        entry(survivor["mutant"], list(script.change_of(survivor["diff"]))),
        entry(dead, list(script.change_of(mutants.diff(dead)))),
        entry(survivor["mutant"].rpartition("__")[0] + "__mutmut_999999", never)],
        allow_unicode=True))
    again = _mutate(*common, "--report-only", module)
    assert again.returncode == 1, again.stdout + again.stderr  # stale entries fail the run
    lines = again.stdout.splitlines()
    assert lines[-1] == (f"mutants: {killed} killed, {survived - 1} survived, "
                         f"1 equivalent of {total}")
    assert f"stale equivalent: {dead}: now killed: remove the entry" in lines
    assert any(line.startswith("stale equivalent: ") and "__mutmut_999999: no longer produced"
               in line for line in lines)
    assert f"{survivor['mutant']} ({survivor['status']}):" not in again.stdout


def test_a_pull_request_runs_only_the_modules_it_changes(tmp_path: Path) -> None:
    script = _script()
    repo = pygit2.init_repository(str(tmp_path), initial_head="main")
    for rel in ("pipeline/promote/gates.py", "pipeline/sinks/refs.py", "README.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    base = commit_all(repo, "base")
    (tmp_path / "pipeline/sinks/refs.py").write_text("x = 2\n")
    (tmp_path / "README.md").write_text("changed\n")
    commit_all(repo, "change")
    modules = {p: script.Module(p, (), None) for p in SAFETY_CRITICAL}
    assert script.changed_modules(modules, str(base), tmp_path) == ["pipeline/sinks/refs.py"]
    assert script.changed_modules(modules, "HEAD", tmp_path) == []


def test_a_pull_request_that_changes_no_safety_critical_module_runs_nothing() -> None:
    proc = _mutate("--changed-since", "HEAD")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "mutate: changed since HEAD: no safety-critical module",
        "mutants: 0 killed, 0 survived, 0 equivalent of 0"]


def test_it_refuses_a_module_that_is_not_in_the_map() -> None:
    proc = _mutate("pipeline/words.py")
    assert proc.returncode == 2, proc.stderr
    assert "not in " in proc.stderr
    assert "pipeline/words.py" in proc.stderr


def test_it_says_which_revision_git_does_not_know() -> None:
    proc = _mutate("--changed-since", "no-such-revision")
    assert proc.returncode == 1, proc.stderr
    assert "mutate: git diff no-such-revision...HEAD failed" in proc.stderr
