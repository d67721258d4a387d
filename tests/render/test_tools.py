from __future__ import annotations

import os
import sys
from pathlib import Path

import pygit2
import pytest

from pipeline.errors import ToolError
from pipeline.render import tools


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
    with pytest.raises(ToolError, match="run `hydrate tools install`, or set HYDRATE_HELM"):
        tools.run([str(tmp_path / "nope"), "template"], cwd=tmp_path, env={})


def test_failure_shows_command_and_stderr(tmp_path: Path) -> None:
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", "echo boom >&2; echo more >&2; exit 3", "arg"], cwd=tmp_path,
                  env={}, what="store-0001/pos-app")
    text = str(err.value)
    assert text.startswith("store-0001/pos-app: sh failed (exit 3): boom\n")
    assert "command: sh -c 'echo boom >&2; echo more >&2; exit 3' arg" in text
    assert "    boom\n    more" in text


def test_the_first_line_is_a_complete_message(tmp_path: Path) -> None:
    """Tool, place and the error itself on line one, in repository terms (no workspace
    paths); the command and the whole stderr below it."""
    workspace = tmp_path / "run-x"
    workspace.mkdir()
    stderr = (
        "# Warning: 'patchesJson6902' is deprecated. Please use 'patches' instead.\n"
        f"error: accumulating components: recursed accumulation of path '{workspace}/layers/1-site': "
        "accumulating resources from 'package/missing.yaml': no such file or directory\n")
    (tmp_path / "stderr").write_text(stderr)
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", f"cat {tmp_path}/stderr >&2; exit 1"], cwd=workspace, env={},
                  what="store-0001/log-shipper",
                  places={"layers/1-site": "overlays/sites/hamburg-port/log-shipper",
                          "package": "bases/log-shipper"})
    first, *rest = str(err.value).splitlines()
    assert first == ("store-0001/log-shipper: sh failed (exit 1): accumulating components: "
                     "recursed accumulation of path 'overlays/sites/hamburg-port/log-shipper': "
                     "accumulating resources from 'bases/log-shipper/missing.yaml': no such file "
                     "or directory")
    assert "  stderr:" in rest
    assert "    # Warning: 'patchesJson6902' is deprecated. Please use 'patches' instead." in rest
    assert str(workspace) not in str(err.value)


def test_helm_error_is_the_first_line(tmp_path: Path) -> None:
    script = ("echo 'walk.go:75: found symbolic link in path' >&2; "
              "echo 'Error: execution error at (pos-app/templates/deployment.yaml:5:14): "
              "storeId is required' >&2; exit 1")
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", script], cwd=tmp_path, env={}, what="store-0001/pos-app")
    assert str(err.value).splitlines()[0] == (
        "store-0001/pos-app: sh failed (exit 1): execution error at "
        "(pos-app/templates/deployment.yaml:5:14): storeId is required")


def test_timeout_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ToolError, match="timed out after 1s"):
        tools.run(["sleep", "5"], cwd=tmp_path, env={}, timeout=1)


def test_runs_are_hermetic(tmp_path: Path) -> None:
    environ = {**os.environ, "GIT_DIR": "/elsewhere", "HELM_REPOSITORY_CONFIG": "/x",
               "KUBECONFIG": "/root/.kube/config", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
               "TZ": "Pacific/Kiritimati"}
    env = tools.hermetic_env(tmp_path, environ)
    out = tools.run(["env"], cwd=tmp_path, env=env).decode()
    names = {line.split("=", 1)[0] for line in out.splitlines()}
    assert "GIT_DIR" not in names
    assert "AWS_SECRET_ACCESS_KEY" not in names
    assert "HELM_REPOSITORY_CONFIG" not in names
    assert f"HOME={tmp_path}" in out
    assert f"KUBECONFIG={tmp_path}/kubeconfig" in out
    assert f"HTTPS_PROXY={tools.DEAD_PROXY}" in out
    # A chart that formats a date prints it the same on every machine.
    assert "TZ=UTC" in out.splitlines()


def test_go_tools_run_without_garbage_collection_unless_told(tmp_path: Path) -> None:
    """GOGC=off with a memory limit: helm and kustomize spend no time collecting garbage
    (the user's own GOGC does not leak in; HYDRATE_GOGC / HYDRATE_GOMEMLIMIT override)."""
    out = tools.run(["env"], cwd=tmp_path, env=tools.hermetic_env(tmp_path, {"GOGC": "50"})).decode()
    assert "GOGC=off" in out.splitlines()
    assert "GOMEMLIMIT=1GiB" in out.splitlines()
    told = tools.hermetic_env(tmp_path, {"HYDRATE_GOGC": "100", "HYDRATE_GOMEMLIMIT": "512MiB"})
    assert (told["GOGC"], told["GOMEMLIMIT"]) == ("100", "512MiB")


def test_long_stderr_keeps_its_start(tmp_path: Path) -> None:
    script = "echo 'panic: nil pointer' >&2; for i in $(seq 60); do echo frame$i >&2; done; exit 2"
    with pytest.raises(ToolError) as err:
        tools.run(["sh", "-c", script], cwd=tmp_path, env={})
    text = str(err.value)
    assert "panic: nil pointer" in text
    assert "more lines" in text
    assert "frame60" in text


REMOTES = {
    "git@github.com:org/repo//deploy": "transport 'ssh' not allowed",
    "github.com:org/repo": "transport 'https' not allowed",
    "ssh://git@example.com/org/repo": "transport 'ssh' not allowed",
    "https://github.com/org/repo//deploy?ref=v1": "transport 'https' not allowed",
}


@pytest.mark.parametrize("ref", sorted(REMOTES))
def test_a_missed_remote_reference_cannot_reach_the_network(
        tmp_path: Path, toolset: tools.Toolset, ref: str) -> None:
    """Even past hydrate's checks, kustomize's git refuses every transport before it
    resolves a name, and its HTTP client only meets the dead proxy."""
    (tmp_path / "kustomization.yaml").write_text(f"resources: ['{ref}']\n")
    with pytest.raises(ToolError) as err:
        tools.run([*toolset.kustomize.argv, "."], cwd=tmp_path,
                  env=tools.hermetic_env(tmp_path / "home", os.environ), timeout=60)
    assert REMOTES[ref] in str(err.value)
    if ref.startswith("https://"):
        assert f"proxyconnect tcp: dial tcp {tools.DEAD_PROXY.removeprefix('http://')}" in str(err.value)


def test_a_missed_file_url_cannot_read_another_repository(
        tmp_path: Path, toolset: tools.Toolset, example_repo: pygit2.Repository) -> None:
    """`file://` would let git copy any repository on the machine into the render."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    repo = Path(example_repo.workdir).resolve()
    (workspace / "kustomization.yaml").write_text(f"resources: ['file://{repo}//bases/namespaces']\n")
    with pytest.raises(ToolError, match="transport 'file' not allowed"):
        tools.run([*toolset.kustomize.argv, "."], cwd=workspace,
                  env=tools.hermetic_env(tmp_path / "home", os.environ), timeout=60)



def test_git_reads_no_machine_config(tmp_path: Path) -> None:
    """No credential helper, url.insteadOf or proxy from /etc/gitconfig (this machine's
    has a credential helper) or a global config reaches the git kustomize runs."""
    env = tools.hermetic_env(tmp_path, os.environ)
    out = tools.run(["git", "config", "--list", "--show-origin"], cwd=tmp_path, env=env).decode()
    assert out == ""


@pytest.mark.parametrize(("name", "value", "allowed"), [
    ("HYDRATE_GOGC", "fast", "off or a percentage such as 100"),
    ("HYDRATE_GOMEMLIMIT", "1 GB", "off or a size such as 1GiB or 512MiB"),
    ("HYDRATE_KUSTOMIZE_BATCH", "yes", None),
])
def test_a_tool_setting_the_tools_would_refuse_is_one_line(name: str, value: str, allowed: str | None,
                                                           tmp_path: Path) -> None:
    """Go dies at start on a GOGC or GOMEMLIMIT it cannot read: every tool run would fail
    with the runtime's own message. Said once, before any run, and nothing is written."""
    from tests.conftest import ROOT, hydrate

    out = tmp_path / "out"
    result = hydrate("--repo", ROOT, "render", "--env", "dev", "--out", out, env={name: value})
    assert result.code == 1
    assert result.err.count("\n") == 1, result.err
    assert result.err.startswith(f"hydrate: error: {name}={value!r}: ")
    if allowed is not None:
        assert result.err.endswith(f"give {allowed}\n")
    assert not out.exists()
