"""Mutation testing of the safety-critical modules with mutmut (see scripts/mutate).

tests/mutation.yaml names the modules and, for each, the tests mutmut may run against its
mutants. mutmut runs those tests once, recording which test calls which function in the
test's own process, and then runs against each mutant only the tests that called the
mutated function. A mutant mypy --strict rejects counts as killed (CI runs mypy). A
survivor listed in tests/mutation-equivalents.yaml, with the reason it cannot change
behaviour, counts as equivalent; an entry whose mutant is no longer produced, or is now
killed, is stale. The last line printed is

    mutants: K killed, S survived, E equivalent of N
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

ROOT = Path(__file__).resolve().parents[1]
# What the tests read besides pipeline/ and tests/ (mutmut copies tests/ and setup.cfg).
ALSO_COPY = ("fleet", "bases", "overlays", "docs", "README.md", "constraints.txt")
# mutmut's exit codes for a mutant's test run: killed (37: mypy rejected it), or not.
KILLED = {1, 3, 36, -24, 24, 152, 255, -11, -9, 37}
NO_TEST = {5, 33}
BY_MYPY = 37
PROGRESS_EVERY = 30.0  # seconds between two progress lines
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


@dataclass(frozen=True)
class Paths:
    map: Path          # tests/mutation.yaml
    equivalents: Path  # tests/mutation-equivalents.yaml
    work: Path         # .mutate/: where mutmut runs, and the report


@dataclass(frozen=True)
class Module:
    path: str               # pipeline/promote/gates.py
    tests: tuple[str, ...]  # globs relative to the repository root
    floor: float | None     # least % of non-equivalent mutants killed; None: not enforced

    @property
    def dotted(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")


@dataclass(frozen=True)
class Equivalent:
    mutant: str
    change: tuple[str, ...]
    reason: str


@dataclass
class Figures:
    killed: int = 0
    by_mypy: int = 0
    survived: int = 0
    equivalent: int = 0
    total: int = 0
    survivors: list[tuple[str, str, str]] = field(default_factory=list)  # name, status, diff

    @property
    def score(self) -> float:
        """% killed of the non-equivalent mutants."""
        judged = self.total - self.equivalent
        return 100.0 * self.killed / judged if judged else 100.0

    @property
    def test_score(self) -> float:
        """% killed by the tests, of the non-equivalent mutants mypy lets through."""
        judged = self.total - self.equivalent - self.by_mypy
        return 100.0 * (self.killed - self.by_mypy) / judged if judged else 100.0


def load_modules(paths: Paths) -> dict[str, Module]:
    doc = yaml.safe_load(paths.map.read_text())
    modules = {}
    for path, spec in doc["modules"].items():
        if not (ROOT / path).is_file():
            sys.exit(f"mutate: {paths.map}: {path} does not exist")
        modules[path] = Module(path, tuple(spec["tests"]), spec.get("floor"))
    return modules


def load_equivalents(paths: Paths) -> list[Equivalent]:
    doc = yaml.safe_load(paths.equivalents.read_text()) or []
    return [Equivalent(e["mutant"], tuple(e["change"]), e["reason"]) for e in doc]


def changed_modules(modules: dict[str, Module], since: str, repo: Path = ROOT) -> list[str]:
    """The modules whose file differs between `since`'s merge base with HEAD and HEAD."""
    proc = subprocess.run(["git", "diff", "--name-only", f"{since}...HEAD", "--"], cwd=repo,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"mutate: git diff {since}...HEAD failed: {proc.stderr.strip()}")
    return [p for p in proc.stdout.split() if p in modules]


def pool(chosen: Sequence[Module]) -> list[str]:
    """The test files the modules name (a module with none: a warning, its mutants
    survive as untested)."""
    files: dict[str, None] = {}
    for module in chosen:
        found = sorted({str(p.relative_to(ROOT)) for g in module.tests for p in ROOT.glob(g)})
        if not found:
            print(f"mutate: warning: no test file matches {', '.join(module.tests)} "
                  f"({module.path}): its mutants count as survived", file=sys.stderr)
        files.update(dict.fromkeys(found))
    return list(files)


def prepare(paths: Paths, chosen: Sequence[Module], tests: Sequence[str], again: bool) -> None:
    """The folder mutmut runs in: links to the repository's files, and its settings."""
    work = paths.work
    work.mkdir(parents=True, exist_ok=True)
    if not again:
        shutil.rmtree(work / "mutants", ignore_errors=True)
    for name in ("pipeline", "tests", "setup.cfg", *ALSO_COPY):
        link = work / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    settings = {
        "source_paths": ["pipeline"],
        "only_mutate": [m.path for m in chosen],
        "pytest_add_cli_args_test_selection": list(tests),
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        "also_copy": list(ALSO_COPY),
        # A mutant mypy --strict rejects cannot be merged: killed by the type checker.
        "type_check_command": [sys.executable, "-m", "mypy", "--output", "json",
                               "--no-warn-unused-ignores", *(m.path for m in chosen)],
        "use_git_change_detection": False,
    }
    lines = ["[tool.mutmut]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    (work / "pyproject.toml").write_text("\n".join(lines) + "\n")


def forget_survivors(work: Path, module: Module) -> None:
    """Mark the last run's survivors of `module` untested, so mutmut runs them again (it
    skips a mutant with a result)."""
    meta = work / "mutants" / f"{module.path}.meta"
    if meta.is_file():
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        data["exit_code_by_key"] = {n: c if c in KILLED else None for n, c in codes.items()}
        meta.write_text(json.dumps(data))


def run_mutmut(work: Path, jobs: int) -> int:
    """mutmut in `work`: its output to work/mutmut.log, its progress to stdout."""
    env = dict(os.environ)
    scratch = None
    if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        # Each test run makes git repositories and files: on a RAM disk when there is one.
        scratch = tempfile.mkdtemp(prefix="hydrate-mutate.", dir="/dev/shm")
        env["TMPDIR"] = scratch
        env["HYDRATE_TEST_CACHE"] = str(Path(scratch) / "cache")
    mutmut = Path(sys.executable).parent / "mutmut"
    try:
        with (work / "mutmut.log").open("w") as log:
            proc = subprocess.Popen([str(mutmut), "run", "--max-children", str(jobs)],
                                    cwd=work, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            assert proc.stdout is not None
            for line in progress(proc.stdout, log):
                print(f"  {line}", flush=True)
            return proc.wait()
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def progress(stream: IO[bytes], log: IO[str]) -> Iterator[str]:
    """mutmut's steps, and its counter every PROGRESS_EVERY s (it redraws one spinner line
    with carriage returns); everything goes to `log`."""
    pending, step, counter = "", "", ""
    last_shown = 0.0
    for chunk in iter(lambda: os.read(stream.fileno(), 65536), b""):
        text = chunk.decode(errors="replace")
        log.write(text)
        pending += text
        *parts, pending = re.split(r"[\r\n]", pending)
        for part in (p.strip() for p in parts):
            if part[:1] and part[0] in SPINNER:
                status = part[1:].strip()
                if not status[:1].isdigit():
                    step = status
                elif time.monotonic() - last_shown > PROGRESS_EVERY:
                    last_shown = time.monotonic()
                    yield status
                counter = status if status[:1].isdigit() else counter
            elif part == "done" or part.startswith("done in"):
                yield f"{step}: {part}"
            elif part and not part.startswith(("also copying", "{")):
                yield part
    if counter:
        yield counter


def function_of(name: str) -> str:
    return name.rpartition("__mutmut_")[0]


class Mutants:
    """A module's mutants as mutmut left them: exit codes, and each one's change."""

    def __init__(self, work: Path, module: Module) -> None:
        base = work / "mutants" / module.path
        self.path = module.path
        meta = Path(f"{base}.meta")
        self.codes: dict[str, int | None] = (
            json.loads(meta.read_text())["exit_code_by_key"] if meta.is_file() else {})
        self._spans = json.loads(Path(f"{base}.spans").read_text())["spans"] if self.codes else {}
        self._lines = base.read_text().splitlines() if self.codes else []

    def diff(self, name: str) -> str:
        """The mutant's change: a unified diff of its function (from mutmut's line index)."""
        generated = name.rpartition(".")[2]
        function = function_of(generated)
        real = re.sub(r"^x_|^xǁ.*ǁ", "", function)

        def source(key: str) -> list[str]:
            start, end = self._spans[key]
            return [re.sub(rf"\b{re.escape(key)}\b", real, line)
                    for line in self._lines[start - 1:end]]

        return "\n".join(difflib.unified_diff(source(f"{function}__mutmut_orig"),
                                              source(generated), self.path, self.path, n=1,
                                              lineterm=""))


def change_of(diff: str) -> tuple[str, ...]:
    """The removed and added lines of a diff, spaces collapsed: how equivalents match."""
    return tuple(f"{line[0]} {' '.join(line[1:].split())}" for line in diff.splitlines()
                 if line[:1] in "+-" and not line.startswith(("+++", "---")))


def judge(work: Path, chosen: Sequence[Module], equivalents: Sequence[Equivalent]
          ) -> tuple[dict[str, Figures], list[str]]:
    """Figures per module, and the stale entries of the equivalents file (as messages)."""
    figures: dict[str, Figures] = {}
    stale: list[str] = []
    for module in chosen:
        fig = figures[module.path] = Figures()
        mutants = Mutants(work, module)
        matched: set[str] = set()
        for entry in equivalents:
            if not entry.mutant.startswith(module.dotted + "."):
                continue
            want = change_of("\n".join(entry.change))
            same = [n for n in mutants.codes if function_of(n) == function_of(entry.mutant)
                    and change_of(mutants.diff(n)) == want]
            if not same:
                stale.append(f"{entry.mutant}: no longer produced (no mutant of its function "
                             "makes that change): remove the entry")
                continue
            name = entry.mutant if entry.mutant in same else same[0]
            if mutants.codes[name] in KILLED:
                stale.append(f"{entry.mutant}: now killed: remove the entry")
                continue
            if name != entry.mutant:
                stale.append(f"{entry.mutant}: now called {name}: update the entry")
            matched.add(name)
        for name, code in mutants.codes.items():
            fig.total += 1
            if code in KILLED:
                fig.killed += 1
                fig.by_mypy += code == BY_MYPY
            elif name in matched:
                fig.equivalent += 1
            else:
                fig.survived += 1
                status = ("not run" if code is None else "no test runs it" if code in NO_TEST
                          else "survived" if code == 0 else f"exit {code}")
                fig.survivors.append((name, status, mutants.diff(name)))
    return figures, stale


def module_line(module: Module, fig: Figures) -> str:
    floor = "" if module.floor is None else f" (floor {module.floor:g} %" + (
        ": BELOW)" if fig.score < module.floor else ")")
    return (f"{module.path}: {fig.killed} killed ({fig.by_mypy} by mypy), {fig.survived} "
            f"survived, {fig.equivalent} equivalent of {fig.total}: {fig.score:.1f} % killed"
            f"{floor}, {fig.test_score:.1f} % by the tests")


def write_report(work: Path, chosen: Sequence[Module], figures: dict[str, Figures],
                 stale: Sequence[str], seconds: float | None, jobs: int) -> None:
    took = "" if seconds is None else f" in {seconds / 60:.1f} min on {jobs} jobs"
    report = {
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": None if seconds is None else round(seconds, 1), "jobs": jobs,
        "modules": {m.path: {"killed": f.killed, "by_mypy": f.by_mypy, "survived": f.survived,
                             "equivalent": f.equivalent, "total": f.total,
                             "score": round(f.score, 1), "test_score": round(f.test_score, 1),
                             "floor": m.floor,
                             "survivors": [{"mutant": n, "status": s, "diff": d}
                                           for n, s, d in f.survivors]}
                    for m in chosen for f in [figures[m.path]]},
        "stale_equivalents": list(stale),
    }
    (work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    md = [f"# Mutation testing ({report['written']}{took})", "",
          "| module | killed | by mypy | survived | equivalent | of | killed % | by the tests % |",
          "|---|--:|--:|--:|--:|--:|--:|--:|"]
    md += [f"| {m.path} | {f.killed} | {f.by_mypy} | {f.survived} | {f.equivalent} | {f.total} "
           f"| {f.score:.1f} | {f.test_score:.1f} |" for m in chosen for f in [figures[m.path]]]
    if stale:
        md += ["", "## Stale entries of tests/mutation-equivalents.yaml", ""]
        md += [f"* {s}" for s in stale]
    for m in chosen:
        if figures[m.path].survivors:
            md += ["", f"## Survivors in {m.path}", ""]
            for name, status, diff in figures[m.path].survivors:
                md += [f"`{name}` ({status})", "", "```diff", diff, "```", ""]
    (work / "report.md").write_text("\n".join(md) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/mutate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help="module paths (pipeline/promote/gates.py); default: every module "
                             "in tests/mutation.yaml")
    parser.add_argument("--changed-since", metavar="REV",
                        help="only the modules changed between REV's merge base and HEAD")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--again", action="store_true",
                        help="keep the last run's results and run only its survivors again")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: count the last run's results again (after an edit "
                             "of the equivalents file)")
    parser.add_argument("--map", type=Path, default=ROOT / "tests" / "mutation.yaml")
    parser.add_argument("--equivalents", type=Path,
                        default=ROOT / "tests" / "mutation-equivalents.yaml")
    parser.add_argument("--work", type=Path, default=ROOT / ".mutate",
                        help="where mutmut runs and the report is written")
    args = parser.parse_args(argv)
    paths = Paths(args.map, args.equivalents, args.work.resolve())
    modules = load_modules(paths)
    unknown = [m for m in args.modules if m not in modules]
    if unknown:
        parser.error(f"not in {paths.map}: {', '.join(unknown)} (known: {', '.join(modules)})")
    chosen = [modules[p] for p in (args.modules or modules)]
    if args.changed_since:
        changed = changed_modules(modules, args.changed_since)
        chosen = [m for m in chosen if m.path in changed]
        print(f"mutate: changed since {args.changed_since}: "
              f"{', '.join(m.path for m in chosen) or 'no safety-critical module'}")
    if not chosen:
        print("mutants: 0 killed, 0 survived, 0 equivalent of 0")
        return 0
    equivalents = load_equivalents(paths)  # a broken file fails before the long run
    start = time.monotonic()
    seconds = None
    if not args.report_only:
        tests = pool(chosen)
        if not tests:
            sys.exit("mutate: none of these modules has a test file to run")
        prepare(paths, chosen, tests, args.again)
        if args.again:
            for module in chosen:
                forget_survivors(paths.work, module)
        print(f"mutate: {', '.join(m.path for m in chosen)} with {args.jobs} jobs "
              f"(log: {paths.work / 'mutmut.log'})")
        code = run_mutmut(paths.work, args.jobs)
        if code != 0:
            print(f"mutate: mutmut exited {code}; see {paths.work / 'mutmut.log'}",
                  file=sys.stderr)
            return 2
        seconds = time.monotonic() - start
    figures, stale = judge(paths.work, chosen, equivalents)
    write_report(paths.work, chosen, figures, stale, seconds, args.jobs)
    for module in chosen:
        for name, status, diff in figures[module.path].survivors:
            print(f"\n{name} ({status}):\n{diff}")
    print()
    for entry in stale:
        print(f"stale equivalent: {entry}")
    for module in chosen:
        print(module_line(module, figures[module.path]))
    took = "" if seconds is None else f" ({seconds / 60:.1f} min on {args.jobs} jobs)"
    print(f"report: {paths.work / 'report.md'}, {paths.work / 'report.json'}{took}")
    below = [m for m in chosen if m.floor is not None and figures[m.path].score < m.floor]
    k, s, e, n = (sum(getattr(f, a) for f in figures.values())
                  for a in ("killed", "survived", "equivalent", "total"))
    print(f"mutants: {k} killed, {s} survived, {e} equivalent of {n}")
    return 1 if below or stale else 0


if __name__ == "__main__":
    sys.exit(main())
