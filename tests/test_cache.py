"""The persistent render cache: right entries reused, wrong ones never trusted."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline import inventory as inventory_mod
from pipeline import output, render, tools
from pipeline.cache import DiskCache, MemoryCache, parse_size, prune
from pipeline.source import DirTree
from tests import clirun
from tests.conftest import hydrate, replacing


def _render(root: Path, toolset: tools.Toolset, cache: DiskCache | MemoryCache,
            workdir: Path, clusters: tuple[str, ...] = ("store-0001", "edge-lab")
            ) -> tuple[int, dict[str, bytes]]:
    tree = DirTree(root)
    inv = inventory_mod.load(tree)
    fleet = render.render(tree, inv, inv.select((), clusters), toolset, jobs=2,
                          workdir=workdir, cache=cache)
    files = {f"{r.cluster.name}/{k}": v for r in fleet.clusters
             for k, v in output.cluster_files(r).items()}
    return sum(fleet.stats.tool_runs.values()), files


CHANGES = {
    "chart file": replacing("bases/pos-app/chart/templates/service.yaml", "spec:",
                        "spec:\n  sessionAffinity: None"),
    "layer values": replacing("overlays/classes/pop/pos-app/values.yaml.j2", "nodeSelector: null",
                          "nodeSelector: null\ndebugBanner: true"),
    "package values": replacing("bases/pos-app/values.yaml", "syncInterval: 30s", "syncInterval: 45s"),
    "Jinja2 template": replacing("overlays/classes/pop/ingress/values.yaml.j2", "worker-processes: 2",
                             "worker-processes: {{ 1 + 2 }}"),
    "kustomize file": replacing("bases/log-shipper/kustomization.yaml", "newTag: 3.2.4",
                            "newTag: 3.2.5"),
    "component": replacing("overlays/classes/pop/pos-app/kustomization.yaml", "kind: Component",
                       "kind: Component\ncommonAnnotations: {team: retail}"),
    "kube version": replacing("fleet/classes/pop.yaml", 'kubernetesVersion: "1.30"',
                          'kubernetesVersion: "1.31"'),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_input_is_rendered_again(example: Path, tmp_path: Path,
                                           toolset: tools.Toolset, change: str) -> None:
    cache = DiskCache(tmp_path / "cache")
    cold, _ = _render(example, toolset, cache, tmp_path / "w1")
    warm, _ = _render(example, toolset, cache, tmp_path / "w2")
    assert cold > 0
    assert warm == 0
    CHANGES[change](example)
    again, files = _render(example, toolset, cache, tmp_path / "w3")
    assert 0 < again < cold
    _fresh_runs, fresh = _render(example, toolset, MemoryCache(), tmp_path / "w4")
    assert files == fresh  # what the cache gave equals a render without it


def test_another_tool_version_is_another_key(example: Path, tmp_path: Path,
                                            toolset: tools.Toolset) -> None:
    cache = DiskCache(tmp_path / "cache")
    cold, _ = _render(example, toolset, cache, tmp_path / "w1")
    other = replace(toolset, helm=replace(toolset.helm, version="v4.1.5"))
    runs, _ = _render(example, other, cache, tmp_path / "w2")
    helm_runs = runs
    assert 0 < helm_runs < cold  # kustomize runs still cached, every helm run again


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
    assert fresh.corrupt > 0


def _writer(root: str, key: str, seed: int, rounds: int) -> None:
    cache = DiskCache(Path(root))
    for i in range(rounds):
        cache.put(key, bytes([seed]) * (200_000 + i))


def test_concurrent_writers_never_leave_a_torn_entry(tmp_path: Path) -> None:
    key = "ab" * 32
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), key, seed, 40)) for seed in range(4)]
    for w in writers:
        w.start()
    reader = DiskCache(tmp_path)
    seen = 0
    while any(w.is_alive() for w in writers):
        data = reader.get(key)
        if data is not None:
            assert len(set(data)) == 1  # one writer's payload, whole
            seen += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    assert reader.corrupt == 0
    final = reader.get(key)
    assert final is not None
    assert len(set(final)) == 1
    assert seen > 0
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


def test_cache_commands(example: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert hydrate("--repo", example, "--cache-dir", cache, "render", "--env", "dev").code == 0
    info = hydrate("--cache-dir", cache, "cache", "info")
    assert info.code == 0
    assert "entries" in info.out
    warm = hydrate("--repo", example, "--cache-dir", cache, "render", "--env", "dev")
    assert "0 tool runs (none)" in warm.out
    pruned = hydrate("--cache-dir", cache, "cache", "prune", "--max-size", "0")
    assert pruned.code == 0
    assert "removed" in pruned.out
    cold = hydrate("--repo", example, "--cache-dir", cache, "render", "--env", "dev")
    assert "0 tool runs" not in cold.out
    bad = hydrate("--cache-dir", cache, "cache", "prune", "--max-size", "lots")
    assert bad.code == 2
    assert "is not a size" in bad.err


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
