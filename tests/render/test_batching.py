"""Many kustomize inputs in one process: the same bytes as one process per input, fewer
processes, and a batch that fails (two inputs emit one object id) built input by input."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from pipeline.config.source import DirTree
from pipeline.render import batching, tools
from pipeline.render.materialise import Run, blob, run_key, wrapper
from pipeline.render.runner import Runner
from tests.conftest import ROOT, hydrate


def _entries(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (cache / "v1").glob("*/*") if not p.name.startswith(".tmp-")}


def _processes(out: str) -> tuple[int, int]:
    """(kustomize inputs built, kustomize processes) from render's summary."""
    found = re.search(r"kustomize (\d+)(?: in (\d+) process(?:es)?)?[,)]", out)
    assert found is not None, out
    return int(found[1]), int(found[2] or found[1])


def test_batched_builds_give_each_input_exactly_its_own_output(tmp_path: Path) -> None:
    """Every cached entry (raw tool output with origin annotations, post-processed
    objects, findings) is byte-identical with and without batching, on the example
    fleet's dev clusters (every class and package, Components over charts, probes)."""
    caches = {}
    for mode in ("off", "on"):
        cache = tmp_path / f"cache-{mode}"
        result = hydrate("render", "--env", "dev", "--out", tmp_path / f"out-{mode}", cwd=ROOT,
                         env={"HYDRATE_CACHE_DIR": str(cache), "HYDRATE_KUSTOMIZE_BATCH": mode})
        assert result.code == 0, result.err
        caches[mode] = (_entries(cache), _processes(result.out))
    (off, (built_off, procs_off)), (on, (built_on, procs_on)) = caches["off"], caches["on"]
    assert on == off
    assert built_on == built_off == procs_off
    assert procs_on < built_on


def _run(name: str, text: str, toolset: tools.Toolset) -> Run:
    """A kustomize run of one ConfigMap, as the materialiser makes them (wrapper included)."""
    files = {"kustomization.yaml": blob(wrapper(["package"], [])),
             "package/kustomization.yaml": blob(b"resources: [notes.yaml]\n"),
             "package/notes.yaml": blob(text.encode())}
    return Run("kustomize", (".",), files, run_key(toolset.kustomize, (".",), files))


def test_a_batch_whose_inputs_collide_is_built_input_by_input(tmp_path: Path,
                                                              toolset: tools.Toolset) -> None:
    """Two packages emit the same object id: one build of both fails ("already registered
    id"); built apart, each gets its own output, and the failure costs one process."""
    same = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  from: {}\n"
    runs = [_run(name, same.format(name), toolset) for name in ("a", "b")]
    other = _run("c", same.replace("name: notes", "name: other").format("c"), toolset)
    runner = Runner(DirTree(tmp_path), toolset, workdir=tmp_path / "work", jobs=1,
                    environ={**os.environ, "HYDRATE_KUSTOMIZE_BATCH": "on"})
    out = runner.execute([(runs[0], ["x/pa"]), (runs[1], ["y/pb"])])
    assert [b"from: a" in out[runs[0].key], b"from: b" in out[runs[1].key]] == [True, True]
    assert (runner.runs["kustomize"], runner.processes["kustomize"]) == (2, 3)
    assert all(b"hydrate.dev/batch" not in o for o in out.values())

    alone = Runner(DirTree(tmp_path), toolset, workdir=tmp_path / "work2", jobs=1,
                   environ={**os.environ, "HYDRATE_KUSTOMIZE_BATCH": "off"})
    apart = alone.execute([(runs[0], ["x/pa"]), (other, ["z/pc"])])
    together = Runner(DirTree(tmp_path), toolset, workdir=tmp_path / "work3", jobs=1,
                      environ={**os.environ, "HYDRATE_KUSTOMIZE_BATCH": "on"})
    assert together.execute([(runs[0], ["x/pa"]), (other, ["z/pc"])]) == apart
    assert (together.processes["kustomize"], alone.processes["kustomize"]) == (1, 2)


def test_split_takes_each_document_to_its_input_and_refuses_strangers() -> None:
    output = (b'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n'
              b'    config.kubernetes.io/origin: |\n      path: hydrate-batch-1/in/package/a.yaml\n'
              b'    hydrate.dev/batch-input: b1\n  name: a\n'
              b'---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n'
              b'    hydrate.dev/batch-input: b0\n  name: b\n')
    assert batching.split(output, 2) == [
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n"
        b"    config.kubernetes.io/origin: |\n      path: package/a.yaml\n  name: a\n"]
    assert batching.split(b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n", 2) is None
    assert batching.split(output, 1) is None  # a mark beyond the inputs


@pytest.mark.parametrize(("packages", "jobs", "expected"), [
    (["a", "a", "b", "c"], 1, [["a0", "b0", "c0"], ["a1"]]),
    (["a", "b", "c", "d"], 2, [["a0", "b0"], ["c0", "d0"]]),
    (["a", "a", "a"], 4, [["a0"], ["a1"], ["a2"]]),
])
def test_a_batch_holds_one_input_per_package(packages: list[str], jobs: int,
                                             expected: list[list[str]]) -> None:
    seen: dict[str, int] = {}
    items = []
    for p in packages:
        items.append(f"{p}{seen.get(p, 0)}")
        seen[p] = seen.get(p, 0) + 1
    assert batching.plan(items, packages, jobs) == expected
