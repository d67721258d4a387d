"""Every count hydrate prints goes through `words.counted`: each message is rendered with
counts 0, 1 and 2, and none says "1 clusters" or "2 warning"."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pygit2
import pytest

from pipeline.errors import ValidationError
from pipeline.validate import formats, gate
from pipeline.validate.findings import Finding, ObjectRef, Report, Source, Usage, Waived
from pipeline.words import ago, counted, short, size
from tests.conftest import ROOT, commit_all, hydrate

# The nouns hydrate counts, singular → plural.
NOUNS = {"cluster": "clusters", "error": "errors", "warning": "warnings", "object": "objects",
         "distinct object": "distinct objects", "package": "packages", "finding": "findings",
         "file": "files", "entry": "entries", "line": "lines", "wave": "waves", "output": "outputs",
         "tool run": "tool runs", "process": "processes", "risk": "risks", "variant": "variants",
         "waived error": "waived errors", "attempt": "attempts", "blob": "blobs",
         "cluster×package render": "cluster×package renders"}
_PLURAL_AFTER_ONE = re.compile(r"(?<![\d.,])\b1 (" + "|".join(map(re.escape, NOUNS.values())) + r")\b")
_SINGULAR_AFTER_MANY = re.compile(r"\b(0|[2-9]|\d{2,}) (" + "|".join(
    map(re.escape, sorted(NOUNS, key=len, reverse=True))) + r")(?![\w×])")


def miscounted(text: str) -> list[str]:
    """The counts in `text` whose noun does not agree with the number."""
    return [m.group(0) for m in _PLURAL_AFTER_ONE.finditer(text)] + \
        [m.group(0) for m in _SINGULAR_AFTER_MANY.finditer(text)
         if NOUNS.get(m.group(2)) is not None]


def test_counted() -> None:
    assert [counted(n, "cluster") for n in (0, 1, 2)] == ["0 clusters", "1 cluster", "2 clusters"]
    assert [counted(n, "entry", "entries") for n in (0, 1, 2)] == ["0 entries", "1 entry", "2 entries"]
    assert miscounted("1 clusters, 2 warning, 0 error; 1 cluster, 2 warnings") == [
        "1 clusters", "2 warning", "0 error"]


# Counts that sources print without `counted`: constants (never 1) and sizes past a limit.
_COUNT = re.compile(r"\{([^{}\n]+)\}\}?\s+(?:more\s+)?(" + "|".join(
    v for v in NOUNS.values() if " " not in v and v not in ("entries",)) + r"|entries)\b(?![.\w])")
_CONSTANT = re.compile(r"^[A-Z_]+(:,)?$")
_NOT_A_NUMBER = re.compile(r"path|name|reason|label|here")  # "{pkg.path} packages: ..."


def test_no_source_prints_a_count_without_the_helper() -> None:
    found = []
    for path in sorted((ROOT / "pipeline").rglob("*")):
        if path.suffix not in (".py", ".j2", ".js"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for m in _COUNT.finditer(line):
                expr = m.group(1).strip()
                if "counted" in expr or _CONSTANT.match(expr) or _NOT_A_NUMBER.search(expr):
                    continue
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def _finding(rule: str, severity: str, clusters: int, n: int = 0) -> Finding:
    return Finding(rule, severity, f"message {n}", "pos-app",  # type: ignore[arg-type]
                   ObjectRef("apps/v1", "Deployment", "pos", f"app-{n}"),
                   Source("bases/pos-app/chart/templates/e5.yaml", 6),
                   tuple(f"store-{i}" for i in range(clusters)))


def _report(errors: int, warnings: int, clusters: int, waived: int) -> Report:
    findings = ([_finding("schema", "error", clusters, n) for n in range(errors)]
                + [_finding("latest-tag", "warning", clusters, n) for n in range(warnings)])
    usage = tuple(Usage(f"store-{i}", "pop", {"cpu": 1.0, "memory": 1.0, "pods": 1.0, "storage": 0.0},
                        {"cpu": 4.0, "memory": 8.0, "pods": 20.0}) for i in range(clusters))
    accepted = tuple(Waived(_finding("schema", "error", clusters, 100 + n), "fleet/policy.yaml:9",
                            "until 2.0") for n in range(waived))
    return Report(tuple(findings), usage, clusters, clusters * 3, 0.1, 0, 0, accepted)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_every_validation_message_agrees_with_its_count(n: int) -> None:
    # Each count at n: findings, the clusters of each finding, warnings, waived errors.
    report = _report(n, n, n, n)
    shown = [formats.text(report), formats.as_json(report), formats.sarif(report, "0")]
    warned: list[str] = []
    try:
        gate.enforce(report, warned.append)
    except ValidationError as e:  # its text is a message too
        shown.append(str(e))
    shown.extend(warned)
    gate.enforce(_report(0, n, n, n), warned.append)
    shown.extend(warned)
    for text in shown:
        assert miscounted(text) == [], text


def test_command_output_agrees_with_its_counts(tmp_path: Path) -> None:
    config = tmp_path / "config"
    assert hydrate("init", config).code == 0
    repo = pygit2.Repository(str(config))
    commit_all(repo, "start")
    cache = tmp_path / "cache"
    env = {"HYDRATE_CACHE_DIR": str(cache)}
    outputs: list[str] = []

    def run(*args: str | Path, code: int = 0) -> None:
        result = hydrate("--repo", config, *args, env=env)
        assert result.code == code, result.err
        outputs.extend([result.out, result.err])

    run("cache", "info")  # 0 entries
    for count in (1, 2):  # clusters, and unused waivers (one warning each)
        if count == 2:
            (config / "fleet/clusters/dev-2.yaml").write_text(
                (config / "fleet/clusters/dev-1.yaml").read_text().replace("dev-1", "dev-2"))
        waivers = "".join(f"- {{rule: privileged, packages: [p{i}], reason: r}}\n" for i in range(count))
        (config / "fleet/policy.yaml").write_text(f"required: [namespaces]\nwaivers:\n{waivers}")
        commit_all(repo, f"{count} clusters")
        run("render", "--out", tmp_path / f"out-{count}")
        run("validate", "--output", tmp_path / f"v-{count}.json", "--format", "json")
        run("report", "--html", tmp_path / f"site-{count}")
        outputs.append((tmp_path / f"site-{count}" / "index.html").read_text())
        assert json.loads((tmp_path / f"v-{count}.json").read_text())["summary"]["warnings"] == count
    run("cache", "info")
    run("cache", "prune", "--max-size", "1")
    for text in outputs:
        assert miscounted(text) == [], text
    assert any("1 cluster (" in text for text in outputs)
    assert any("1 warning" in text for text in outputs)


# The other small formatters every report shares.
CLOCK = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_counted_and_short() -> None:
    assert [counted(n, "cluster") for n in (0, 1, 2)] == ["0 clusters", "1 cluster", "2 clusters"]
    assert (short("0123456789abcdef"), short(None), short("")) == ("0123456", "-", "-")


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0s ago"), (59, "59s ago"), (60, "1m ago"), (3599, "59m ago"), (3600, "1h ago"),
    (86399, "23h ago"), (86400, "1d ago"), (10 * 86400 + 5, "10d ago"),
    (-30, "0s ago"),  # a clock that runs behind the commit's: never a negative age
])
def test_ago(seconds: int, shown: str) -> None:
    assert ago(CLOCK - dt.timedelta(seconds=seconds), CLOCK) == shown


@pytest.mark.parametrize(("n", "shown"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (5 * 1024 ** 2, "5.0 MiB"), (3 * 1024 ** 3, "3.0 GiB"), (4096 * 1024 ** 3, "4096.0 GiB"),
])
def test_size(n: int, shown: str) -> None:
    assert size(n) == shown
