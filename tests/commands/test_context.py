"""The command context: the one way a command gets tools and remotes, both made from the
context's environment (never the process's)."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from pipeline.commands import render as render_mod
from pipeline.commands.context import Context
from pipeline.errors import GitError, ToolError
from pipeline.render import tools
from tests.conftest import SIGNATURE, shared_cache


def _asking(tmp_path: Path, toolset: tools.Toolset) -> tuple[dict[str, str], Path]:
    """HYDRATE_HELM / HYDRATE_KUSTOMIZE wrappers that log each time they are asked anything."""
    log = tmp_path / "asked.log"
    env = {"PATH": os.environ["PATH"]}
    for var, name, real in (("HYDRATE_HELM", "helm", toolset.helm.argv[0]),
                            ("HYDRATE_KUSTOMIZE", "kubectl", toolset.kustomize.argv[0])):
        wrapper = tmp_path / name
        wrapper.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
        env[var] = str(wrapper)
    return env, log


def test_tools_are_found_once_per_context(tmp_path: Path, toolset: tools.Toolset) -> None:
    env, log = _asking(tmp_path, toolset)
    ctx = Context(tmp_path, env, use_cache=False)  # no memo file: each finding asks the tools
    first = ctx.tools()
    assert ctx.tools() is first
    assert (first.helm.version, first.kustomize.version) == (toolset.helm.version,
                                                             toolset.kustomize.version)
    assert sorted(log.read_text().splitlines()) == [
        "helm version --template {{.Version}}", "kubectl version --client -o json"]
    Context(tmp_path, env, use_cache=False).tools()  # another context finds them again
    assert len(log.read_text().splitlines()) == 4


def test_tools_come_from_the_contexts_environment(tmp_path: Path, toolset: tools.Toolset,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    env, _ = _asking(tmp_path, toolset)
    monkeypatch.setenv("HYDRATE_HELM", "/nowhere/helm")  # the process's: not read
    found = Context(tmp_path, env, use_cache=False).tools()
    assert found.helm.argv[0] == env["HYDRATE_HELM"]


def test_remotes_take_credentials_and_git_from_the_contexts_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = pygit2.init_repository(str(tmp_path / "work"), initial_head="main")
    tree = repo.TreeBuilder().write()
    commit = repo.create_commit(None, SIGNATURE, SIGNATURE, "x", tree, [])
    bare = tmp_path / "remote.git"
    pygit2.init_repository(str(bare), bare=True)
    monkeypatch.setenv("HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS", "1")  # the process's
    ctx = Context(tmp_path, {"PATH": os.environ["PATH"]})
    with pytest.raises(GitError, match="HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS"):
        ctx.remote(repo, "ssh://git@example.invalid/fleet.git")
    assert ctx.remote(repo, None) is None
    # A push to a local remote runs git from the context's PATH (here: none there).
    lost = Context(tmp_path, {"PATH": str(tmp_path / "empty")}).remote(repo, str(bare))
    assert lost is not None
    with pytest.raises(GitError, match="git not found on PATH"):
        lost.push(commit, "main")
    found = ctx.remote(repo, str(bare))
    assert found is not None
    assert found.push(commit, "main")
    assert pygit2.Repository(str(bare)).references["refs/heads/main"].target == commit


@pytest.mark.parametrize(("name", "value"), [("HYDRATE_KUSTOMIZE_BATCH", "sometimes"),
                                             ("HYDRATE_GOGC", "lots")])
def test_renders_run_the_tools_with_the_contexts_settings(example: Path, name: str,
                                                          value: str) -> None:
    """The tools' settings come from the context's environment: a value the process does
    not have is still refused (it was read from os.environ, and silently ignored)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "HYDRATE_"))}
    environ["HYDRATE_CACHE_DIR"] = shared_cache()
    Context(example, environ).tools()  # their versions remembered: asked no more below
    ctx = Context(example, {**environ, name: value})
    with pytest.raises(ToolError, match=f"{name}={value!r}"):
        render_mod.render_to_dir(ctx, render_mod.RenderOptions(clusters=("store-0001",),
                                                               out=example / "out"))
