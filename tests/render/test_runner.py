"""Helm runs of one chart share a folder holding it: each run still gets exactly the
output of its own workspace, and nothing of one run is left for the next."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipeline.config.source import DirTree
from pipeline.errors import ToolError
from pipeline.render import tools
from pipeline.render.materialise import Run, blob, run_key
from pipeline.render.runner import Runner

CHART = {"chart/Chart.yaml": b"apiVersion: v2\nname: greeter\nversion: 0.1.0\n",
         "chart/templates/cm.yaml": (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                     b"  name: {{ required \"name is required\" .Values.name }}\n"
                                     b"data:\n  greeting: {{ .Values.greeting | quote }}\n")}
ARGS = ("template", "greeter", "./chart", "--values", "values.json", "--kube-version", "v1.30")


def _run(values: bytes, toolset: tools.Toolset) -> Run:
    files = {path: blob(data) for path, data in CHART.items()}
    files["values.json"] = blob(values)
    return Run("helm", ARGS, files, run_key(toolset.helm, ARGS, files))


def _alone(run: Run, toolset: tools.Toolset, where: Path) -> bytes:
    """The run in a workspace of its own, by hand."""
    for path, f in run.files.items():
        (where / path).parent.mkdir(parents=True, exist_ok=True)
        (where / path).write_bytes(f.data or b"")
    return tools.run([*toolset.helm.argv, *run.args], cwd=where,
                     env=tools.hermetic_env(where / "home", os.environ))


def test_runs_of_one_chart_share_its_folder(tmp_path: Path, toolset: tools.Toolset) -> None:
    runs = [_run(b'{"name": "n%d", "greeting": "hello %d"}' % (i, i), toolset) for i in range(5)]
    work = tmp_path / "work"
    runner = Runner(DirTree(tmp_path), toolset, workdir=work, jobs=2, environ=os.environ)
    outputs = runner.execute([(run, [f"store-{i}/greeter"]) for i, run in enumerate(runs)])
    for i, run in enumerate(runs):
        (tmp_path / f"alone-{i}").mkdir()
        assert outputs[run.key] == _alone(run, toolset, tmp_path / f"alone-{i}")
        assert b"name: n%d" % i in outputs[run.key]
    folders = [p for p in work.iterdir() if p.name.startswith("chart-")]
    assert len(folders) == 1
    # Only the chart stays: every run's values went with it.
    assert sorted(p.relative_to(folders[0]).as_posix() for p in folders[0].rglob("*")
                  if p.is_file()) == sorted(CHART)
    assert runner.processes["helm"] == 5


def test_a_failing_run_names_its_pair_and_leaves_nothing(tmp_path: Path,
                                                         toolset: tools.Toolset) -> None:
    work = tmp_path / "work"
    runner = Runner(DirTree(tmp_path), toolset, workdir=work, jobs=1, environ=os.environ)
    with pytest.raises(ToolError) as failed:
        runner.execute([(_run(b'{"greeting": "hi"}', toolset), ["store-9/greeter"])])
    assert str(failed.value).startswith("store-9/greeter: helm failed")
    assert "name is required" in str(failed.value)
    folder = next(p for p in work.iterdir() if p.name.startswith("chart-"))
    assert sorted(p.name for p in folder.iterdir()) == ["chart"]
    shutil.rmtree(work)
