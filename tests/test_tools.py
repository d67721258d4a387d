from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipeline import tools
from pipeline.errors import ToolError


def test_environment_overrides_are_used(tmp_path: Path, toolset: tools.Toolset) -> None:
    helm = tmp_path / "my-helm"
    helm.symlink_to(toolset.helm.argv[0])
    kubectl = tmp_path / "kubectl-1.33"
    kubectl.symlink_to(toolset.kustomize.argv[0])
    found = tools.discover({"PATH": "", "HYDRATE_HELM": str(helm),
                            "HYDRATE_KUSTOMIZE": str(kubectl)}, tmp_path)
    assert found.helm.argv == (str(helm),)
    assert found.kustomize.argv == (str(kubectl), "kustomize")
    assert found.helm.version == toolset.helm.version
    assert found.kustomize.version.startswith("v5.")


def test_pinned_versions_are_found_beside_the_interpreter(tmp_path: Path) -> None:
    found = tools.discover({"PATH": ""}, tmp_path)
    assert found.helm.argv[0] == str(Path(sys.executable).parent / "helm")
    assert found.helm.version == "v4.1.4"
    assert found.kustomize.version == "v5.6.0"


def test_a_missing_tool_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="run scripts/bootstrap, or set HYDRATE_HELM"):
        tools.run([str(tmp_path / "nope"), "template"], cwd=tmp_path, env={})


def test_failure_shows_command_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", "echo boom >&2; exit 3", "arg"], cwd=tmp_path, env={},
                  what="store-0001/pos-app")
    text = str(err.value)
    assert text.startswith("store-0001/pos-app: sh failed (exit 3)")
    assert "command: sh -c 'echo boom >&2; exit 3' arg" in text
    assert "    boom" in text


def test_timeout_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="timed out after 1s"):
        tools.run(["sleep", "5"], cwd=tmp_path, env={}, timeout=1)


def test_runs_are_hermetic(tmp_path: Path) -> None:
    environ = {**os.environ, "GIT_DIR": "/elsewhere", "HELM_REPOSITORY_CONFIG": "/x",
               "KUBECONFIG": "/root/.kube/config", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}
    env = tools.hermetic_env(tmp_path, environ)
    out = tools.run(["env"], cwd=tmp_path, env=env).decode()
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert "GIT_DIR" not in names
    assert "AWS_SECRET_ACCESS_KEY" not in names
    assert "HELM_REPOSITORY_CONFIG" not in names
    assert f"HOME={tmp_path}" in out
    assert f"KUBECONFIG={tmp_path}/kubeconfig" in out
    assert f"HTTPS_PROXY={tools.DEAD_PROXY}" in out


def test_long_stderr_keeps_its_start(tmp_path: Path) -> None:
    script = "echo 'panic: nil pointer' >&2; for i in $(seq 60); do echo frame$i >&2; done; exit 2"
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", script], cwd=tmp_path, env={})
    text = str(err.value)
    assert "panic: nil pointer" in text
    assert "more lines" in text
    assert "frame60" in text
