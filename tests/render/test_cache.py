"""The persistent render cache: right entries reused, wrong ones never trusted."""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections import Counter
from dataclasses import replace
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from pipeline.config import inventory as inventory_mod
from pipeline.config.source import DirTree
from pipeline.render import engine, tools
from pipeline.render.cache import DiskCache, MemoryCache, parse_size, prune
from pipeline.sinks import output
from tests import clirun
from tests.conftest import hydrate, replacing


def _render(root: Path, toolset: tools.Toolset, cache: DiskCache | MemoryCache,
            workdir: Path, clusters: tuple[str, ...] = ("store-0001", "edge-lab")
            ) -> tuple[Counter[str], dict[str, bytes]]:
    """Tool runs by tool, and the files of each cluster."""
    tree = DirTree(root)
    inv = inventory_mod.load(tree)
    fleet = engine.render(tree, inv, inv.select((), clusters), toolset, jobs=2,
                          workdir=workdir, environ=os.environ, cache=cache)
    files = {f"{r.cluster.name}/{k}": v for r in fleet.clusters
             for k, v in output.cluster_files(r).items()}
    return fleet.stats.tool_runs, files


# store-0001 (class pop) and edge-lab (class edge), cold: 5 helm runs (store-0001's
# ingress, monitoring-agent and pos-app; edge-lab's edge-gateway and monitoring-agent) and
# 10 kustomize runs (the kustomize packages, and Components over a chart's output).
COLD = {"helm": 5, "kustomize": 10}

# Each change, and exactly the runs it costs with everything else in the cache.
CHANGES = {
    # pos-app (store-0001 only): the chart, then its Components over the new output
    "chart file": (replacing("bases/pos-app/chart/templates/service.yaml", "spec:",
                             "spec:\n  sessionAffinity: None"), {"helm": 1, "kustomize": 1}),
    # a value the chart ignores: the chart runs again, its output (so the Components' input)
    # is the same
    "layer values": (replacing("overlays/classes/pop/pos-app/values.yaml.j2", "nodeSelector: null",
                               "nodeSelector: null\ndebugBanner: true"), {"helm": 1}),
    "package values": (replacing("bases/pos-app/values.yaml", "syncInterval: 30s",
                                 "syncInterval: 45s"), {"helm": 1, "kustomize": 1}),
    # store-0001's ingress (no Components)
    "Jinja2 template": (replacing("overlays/classes/pop/ingress/values.yaml.j2",
                                  "worker-processes: 2", "worker-processes: {{ 1 + 2 }}"),
                        {"helm": 1}),
    # log-shipper on both clusters (their layers differ: two inputs)
    "kustomize file": (replacing("bases/log-shipper/kustomization.yaml", "newTag: 3.2.4",
                                 "newTag: 3.2.5"), {"kustomize": 2}),
    "component": (replacing("overlays/classes/pop/pos-app/kustomization.yaml", "kind: Component",
                            "kind: Component\ncommonAnnotations: {team: retail}"),
                  {"kustomize": 1}),
    # every helm package of store-0001; their output, and so all else, is the same
    "kube version": (replacing("fleet/classes/pop.yaml", 'kubernetesVersion: "1.30"',
                               'kubernetesVersion: "1.31"'), {"helm": 3}),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_input_is_rendered_again(example: Path, tmp_path: Path,
                                           toolset: tools.Toolset, change: str) -> None:
    cache = DiskCache(tmp_path / "cache")
    cold, _ = _render(example, toolset, cache, tmp_path / "w1")
    warm, _ = _render(example, toolset, cache, tmp_path / "w2")
    assert cold == COLD
    assert warm == {}
    edit, expected = CHANGES[change]
    edit(example)
    again, files = _render(example, toolset, cache, tmp_path / "w3")
    assert again == expected
    _fresh_runs, fresh = _render(example, toolset, MemoryCache(), tmp_path / "w4")
    assert files == fresh  # what the cache gave equals a render without it


def test_another_tool_version_is_another_key(example: Path, tmp_path: Path,
                                            toolset: tools.Toolset) -> None:
    cache = DiskCache(tmp_path / "cache")
    cold, _ = _render(example, toolset, cache, tmp_path / "w1")
    assert cold == COLD
    other = replace(toolset, helm=replace(toolset.helm, version="v4.1.5"))
    runs, _ = _render(example, other, cache, tmp_path / "w2")
    # Every helm run again; kustomize's inputs (the charts' output) are the same: cached.
    assert runs == {"helm": COLD["helm"]}


def test_a_corrupt_entry_is_detected_and_rendered_again(example: Path, tmp_path: Path,
                                                       toolset: tools.Toolset) -> None:
    cache = DiskCache(tmp_path / "cache")
    cold, files = _render(example, toolset, cache, tmp_path / "w1")
    entries = sorted((tmp_path / "cache/v1").glob("*/*"))
    for i, path in enumerate(entries):
        data = bytearray(path.read_bytes())
        if i % 2:
            data[-1] ^= 0x55  # flipped bit
        else:
            data = data[: len(data) // 2]  # truncated write
        path.write_bytes(bytes(data))
    fresh = DiskCache(tmp_path / "cache")
    runs, again = _render(example, toolset, fresh, tmp_path / "w2")
    assert runs == cold
    assert again == files
    assert fresh.corrupt == len(entries)  # each read once, found broken, dropped


def _writer(root: str, key: str, seed: int, stop: Event) -> None:
    cache = DiskCache(Path(root))
    size = 200_000
    while not stop.is_set():
        cache.put(key, bytes([seed]) * size)
        size += 1


def test_concurrent_writers_never_leave_a_torn_entry(tmp_path: Path) -> None:
    """Four processes rewrite one entry until the reader has seen each one's payload whole
    (so reads and writes really overlapped) and read it 200 times; no clock involved."""
    key = "ab" * 32
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), key, seed, stop))
               for seed in range(4)]
    for w in writers:
        w.start()
    reader = DiskCache(tmp_path)
    seen: Counter[int] = Counter()
    try:
        while len(seen) < len(writers) or seen.total() < 200:
            assert all(w.exitcode is None for w in writers), "a writer stopped"
            data = reader.get(key)
            if data is not None:
                assert len(set(data)) == 1, "a torn entry"  # one writer's payload, whole
                seen[data[0]] += 1
    finally:
        stop.set()
        for w in writers:
            w.join()
    assert [w.exitcode for w in writers] == [0] * len(writers)
    assert reader.corrupt == 0
    final = reader.get(key)
    assert final is not None
    assert len(set(final)) == 1
    assert sorted(seen) == [0, 1, 2, 3]
    assert not list((tmp_path / "v1").glob("*/.tmp-*"))


def test_prune_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path)
    keys = [f"{i:064x}" for i in range(10)]
    for n, key in enumerate(keys):
        cache.put(key, b"x" * 1000)
        os.utime(tmp_path / "v1" / key[:2] / key, (1_000 + n, 1_000 + n))
    cache.get(keys[0])  # used now: the most recent
    removed, _freed, kept = prune(tmp_path, 4 * 1100, time.time())
    assert removed == 6
    assert cache.get(keys[0]) is not None
    assert [cache.get(k) is not None for k in keys[1:]] == [False] * 6 + [True] * 3
    assert kept <= 4 * 1100


@pytest.mark.parametrize(("text", "size"), [("500M", 500 << 20), ("2G", 2 << 30),
                                            ("1.5GiB", int(1.5 * (1 << 30))), ("1000", 1000)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def _on_disk(cache: Path) -> list[Path]:
    """The cache's entries, as the files in its directory."""
    return [p for p in (cache / "v1").glob("*/*") if p.is_file() and not p.name.startswith(".")]


_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def _about(size: str, exact: int) -> bool:
    """Whether a size as shown ("1.2 MiB", "512 B") is `exact` bytes: the right unit, and
    the number right to its last digit."""
    number, unit = size.split()
    scale = _UNITS[unit]
    right_unit = (unit == "B" or exact >= scale) and (unit == "GiB" or exact < 1024 * scale)
    return right_unit and abs(float(number) - exact / scale) <= 0.05


def _inputs(out: str) -> tuple[int, int, int]:
    """Distinct inputs, tool runs and cache hits, as `hydrate render`'s summary tells them."""
    (line,) = [line for line in out.splitlines() if line.startswith("  inputs ")]
    found = re.fullmatch(r"  inputs    (\d+) distinct → (\d+) tool runs? \((none|[a-z0-9, ]+)\)"
                         r"(?:, (\d+) from the cache)?", line)
    assert found is not None, line
    assert (found[2] == "0") == (found[3] == "none"), line
    return int(found[1]), int(found[2]), int(found[4] or 0)


def test_cache_commands(example: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = hydrate("--repo", example, "--cache-dir", cache, "render", "--env", "dev")
    assert first.code == 0, first.err
    distinct, cold_runs, hits = _inputs(first.out)
    assert cold_runs >= distinct > 0
    assert hits == 0
    files = _on_disk(cache)
    total = sum(p.stat().st_size for p in files)
    info = hydrate("--cache-dir", cache, "cache", "info")
    assert info.code == 0, info.err
    found = re.fullmatch(rf"{re.escape(str(cache))}: (\d+) entries, (\d+(?:\.\d)? \w+)\n",
                         info.out)
    assert found is not None, info.out
    assert int(found[1]) == len(files) > 0
    assert _about(found[2], total), (found[2], total)
    warm = hydrate("--repo", example, "--cache-dir", cache, "render", "--env", "dev")
    assert warm.code == 0, warm.err
    assert _inputs(warm.out) == (distinct, 0, distinct)  # all of it from the cache
    # To half its size: the numbers told are those of the files removed and kept.
    half = total // 2
    pruned = hydrate("--cache-dir", cache, "cache", "prune", "--max-size", str(half))
    assert pruned.code == 0, pruned.err
    found = re.fullmatch(rf"{re.escape(str(cache))}: removed (\d+) entries "
                         r"\((\d+(?:\.\d)? \w+)\), (\d+(?:\.\d)? \w+) kept\n", pruned.out)
    assert found is not None, pruned.out
    kept = _on_disk(cache)
    kept_bytes = sum(p.stat().st_size for p in kept)
    assert int(found[1]) == len(files) - len(kept) > 0
    assert _about(found[2], total - kept_bytes), (found[2], total - kept_bytes)
    assert _about(found[3], kept_bytes), (found[3], kept_bytes)
    assert 0 < kept_bytes <= half
    everything = hydrate("--cache-dir", cache, "cache", "prune", "--max-size", "0")
    assert everything.code == 0, everything.err
    assert everything.out == f"{cache}: removed {len(kept)} entries ({found[3]}), 0 B kept\n"
    assert _on_disk(cache) == []
    cold = hydrate("--repo", example, "--cache-dir", cache, "render", "--env", "dev")
    assert cold.code == 0, cold.err
    assert _inputs(cold.out) == (distinct, cold_runs, 0)  # an empty cache: all of it again
    bad = hydrate("--cache-dir", cache, "cache", "prune", "--max-size", "lots")
    assert bad.code == 2
    assert "Invalid value for --max-size: 'lots' is not a size (like 500M or 2G)" in bad.err


@pytest.mark.parametrize("problem", ["read-only", "not-a-directory"])
def test_an_unusable_cache_is_a_warning_not_a_failure(example: Path, tmp_path: Path,
                                                      problem: str) -> None:
    cache = tmp_path / "cache"
    if problem == "read-only":
        cache.mkdir(mode=0o555)
    else:
        cache.write_text("not a cache\n")
    result = clirun.run("--repo", example, "render", "--env", "dev",
                        env={"HYDRATE_CACHE_DIR": str(cache)},
                        preexec=[clirun.honour_permissions])
    assert result.code == 0, result.err
    assert result.out.splitlines()[0].endswith(": 4 written")
    # One line, whatever the number of entries that could not be written.
    why = "Permission denied" if problem == "read-only" else "Not a directory"
    [line] = result.err.splitlines()
    assert line.startswith(f"hydrate: warning: render cache {cache}: {why}: {cache}/v1")
    assert line.endswith("; going on without it (what it cannot give is rendered again)")
    assert (example / "rendered/dev/edge-lab/kustomization.yaml").is_file()


def test_cache_problems_are_misses_and_told_once(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    told: list[str] = []
    cache = DiskCache(not_a_dir, told.append)
    for key in ("ab" * 32, "cd" * 32):
        cache.put(key, b"output")
        assert cache.get(key) is None
    assert len(told) == 1
    assert told[0].startswith(f"render cache {not_a_dir}: Not a directory: {not_a_dir}/v1/ab")


def test_pruning_a_read_only_cache_is_an_error(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache")
    cache.put("ab" * 32, b"x" * 100)
    (tmp_path / "cache/v1/ab").chmod(0o555)
    try:
        result = clirun.run("--cache-dir", tmp_path / "cache", "cache", "prune", "--max-size",
                            "0", preexec=[clirun.honour_permissions])
    finally:
        (tmp_path / "cache/v1/ab").chmod(0o755)
    assert result.code == 1, result.err
    assert result.err == (f"hydrate: error: cache {tmp_path / 'cache'}: cannot remove "
                          f"{'ab' * 32}: Permission denied; check the directory's permissions\n")
