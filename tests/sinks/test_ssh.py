"""Publishing over SSH, for real: a paramiko SSH server on loopback running git."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from tests.conftest import hydrate
from tests.sshserver import SSHServer, make_keys

ACCEPT = {"HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS": "1"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[SSHServer, Path, pygit2.Repository]]:
    client, host = make_keys(tmp_path)
    bare = pygit2.init_repository(str(tmp_path / "served/fleet.git"), bare=True)
    with SSHServer(tmp_path / "served", client, host) as ssh:
        yield ssh, client, bare


def test_push_with_a_key_file(example_repo: pygit2.Repository,
                              server: tuple[SSHServer, Path, pygit2.Repository]) -> None:
    ssh, key, bare = server
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", ssh.url("fleet.git"),
                     "--push", env={**ACCEPT, "HYDRATE_SSH_KEY": str(key)})
    assert result.code == 0, result.err
    assert "env/dev: pushed" in result.out
    assert sorted(bare.references) == ["refs/heads/env/dev", "refs/notes/hydrator.metadata"]
    assert ssh.sessions >= 2  # listed the heads, then pushed


def test_push_with_the_ssh_agent(example_repo: pygit2.Repository, tmp_path: Path,
                                 server: tuple[SSHServer, Path, pygit2.Repository]) -> None:
    ssh, key, bare = server
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        _wait_for_socket(sock, agent)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": os.environ["PATH"]}
        subprocess.run(["ssh-add", str(key)], env=env, check=True, capture_output=True)
        result = hydrate("--repo", example_repo.workdir, "publish", "--remote",
                         ssh.url("fleet.git"), "--push", env={**ACCEPT, "SSH_AUTH_SOCK": str(sock)})
    finally:
        agent.terminate()
        agent.wait()
    assert result.code == 0, result.err
    assert sorted(bare.references) == ["refs/heads/env/dev", "refs/notes/hydrator.metadata"]


def _wait_for_socket(sock: Path, agent: subprocess.Popen[bytes]) -> None:
    """ssh-agent creates its socket after it starts: wait for it, and fail the test with
    the reason (agent exited, or no socket after 10 s) rather than run on without one."""
    deadline = time.monotonic() + 10
    while not sock.exists():
        if agent.poll() is not None:
            pytest.fail(f"ssh-agent exited with {agent.returncode} before creating {sock}")
        if time.monotonic() > deadline:
            pytest.fail(f"ssh-agent created no socket at {sock} within 10 s")
        time.sleep(0.05)


def test_a_refused_key_is_a_clear_error(example_repo: pygit2.Repository, tmp_path: Path,
                                        server: tuple[SSHServer, Path, pygit2.Repository]) -> None:
    ssh, _, bare = server
    (tmp_path / "other").mkdir()
    other, _ = make_keys(tmp_path / "other")
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", ssh.url("fleet.git"),
                     "--push", env={**ACCEPT, "HYDRATE_SSH_KEY": str(other)})
    assert result.code == 1
    assert "authentication failed; check HYDRATE_SSH_KEY or the keys in your SSH agent" in result.err
    assert list(bare.references) == []


def test_ssh_needs_an_explicit_opt_in(example_repo: pygit2.Repository,
                                      server: tuple[SSHServer, Path, pygit2.Repository]) -> None:
    ssh, key, bare = server
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", ssh.url("fleet.git"),
                     "--push", env={"HYDRATE_SSH_KEY": str(key)})
    assert result.code == 1
    assert "HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS=1" in result.err
    assert ssh.sessions == 0
    assert list(bare.references) == []
