"""Pushing to remotes for real: local bare repositories (path and file://) and the HTTPS
test server, with server-side hooks and concurrent pushers in separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest

from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote
from tests.conftest import ROOT, SIGNATURE, hydrate
from tests.gitserver import GitServer, make_certificate

BRANCH = "env/dev"

# One pusher: opens its own repository, says it is ready, waits for the start signal (so
# both pushers of a pair hit the remote at the same moment), pushes once, prints the result.
_PUSHER = """
import os, sys, time, pathlib
import pygit2
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote
repo_path, url, commit, branch, ready, go = sys.argv[1:]
remote = Remote(pygit2.Repository(repo_path), url, Credentials(), os.environ)
pathlib.Path(ready).touch()
while not pathlib.Path(go).exists():
    time.sleep(0.0002)
print(remote.push(pygit2.Oid(hex=commit), branch))
"""


def _commit_on(repo: pygit2.Repository, base: pygit2.Commit | None, text: str) -> pygit2.Oid:
    """A commit on `base` (or a root commit) that differs from any other by `text`."""
    builder = repo.TreeBuilder(base.tree) if base is not None else repo.TreeBuilder()
    builder.insert("who", repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
    return repo.create_commit(None, SIGNATURE, SIGNATURE, text, builder.write(),
                              [base.id] if base is not None else [])


def _first_parents(repo: pygit2.Repository, ref: str) -> list[pygit2.Oid]:
    chain = []
    commit: pygit2.Commit | None = repo.revparse_single(ref).peel(pygit2.Commit)
    while commit is not None:
        chain.append(commit.id)
        commit = commit.parents[0] if commit.parents else None
    return chain


@pytest.mark.parametrize("scheme", ["path", "file://"])
def test_racing_pushers_lose_no_commit(tmp_path: Path, remote: pygit2.Repository,
                                       scheme: str) -> None:
    """Pairs of processes push different commits on the same head at the same moment:
    every push reported as done must be on the branch's first-parent chain."""
    url = remote.path if scheme == "path" else f"file://{remote.path}"
    locals_ = [pygit2.init_repository(str(tmp_path / f"pusher{i}"), bare=True) for i in range(2)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "HYDRATE_"))}
    env["PYTHONPATH"] = str(ROOT)
    reported: list[pygit2.Oid] = []
    winners = []
    for pair in range(10):
        bases = [Remote(repo, url, Credentials(), env).fetch(BRANCH) for repo in locals_]
        commits = [_commit_on(repo, base, f"pair {pair} pusher {i}")
                   for i, (repo, base) in enumerate(zip(locals_, bases, strict=True))]
        go = tmp_path / f"go{pair}"
        ready = [tmp_path / f"ready{pair}-{i}" for i in range(2)]
        procs = [subprocess.Popen([sys.executable, "-c", _PUSHER, repo.path, url, str(commit),
                                   BRANCH, str(flag), str(go)], env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for repo, commit, flag in zip(locals_, commits, ready, strict=True)]
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            time.sleep(0.001)
        go.touch()
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        won = [c for c, (out, _) in zip(commits, outputs, strict=True) if out.strip() == "True"]
        reported.extend(won)
        winners.append(len(won))
    chain = set(_first_parents(remote, BRANCH))
    lost = [str(c)[:7] for c in reported if c not in chain]
    assert not lost, f"reported as pushed but on no branch: {lost}"
    assert winners == [1] * 10  # both built on the same head: exactly one moves it


def _hook(bare: pygit2.Repository, name: str, script: str) -> None:
    path = Path(bare.path) / "hooks" / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.mark.parametrize("scheme", ["path", "file://"])
def test_a_hook_that_declines_is_honoured_with_its_message(
        example_repo: pygit2.Repository, remote: pygit2.Repository, scheme: str) -> None:
    # A terminal escape in the hook's output must not reach ours.
    _hook(remote, "pre-receive", "printf 'env branches are frozen \\033[31mtoday\\033[0m\\n' >&2\n"
                                 "echo 'ask #release'\nexit 1\n")
    url = remote.path if scheme == "path" else f"file://{remote.path}"
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", url, "--push")
    assert result.code == 1, result.out
    assert result.err.strip() == (
        f"hydrate: error: {remote.path.rstrip('/')} refused the push to env/dev (pre-receive "
        "hook declined); the remote said: env branches are frozen today / ask #release")
    assert list(remote.references) == []


def test_what_the_remote_says_is_shown(example_repo: pygit2.Repository,
                                       remote: pygit2.Repository) -> None:
    _hook(remote, "post-receive", "echo 'deploy of env/dev queued'\n")
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", remote.path, "--push")
    assert result.code == 0, result.err
    assert "env/dev: pushed" in result.out
    assert f"{'':<10} remote: deploy of env/dev queued\n" in result.out


def test_a_failure_that_is_no_race_is_not_retried(example_repo: pygit2.Repository,
                                                  remote: pygit2.Repository) -> None:
    """receive-pack says "failed to update ref" for a lost compare-and-swap and for a real
    failure alike: here a branch `env` leaves no room for `env/dev`."""
    remote.references.create("refs/heads/env", _commit_on(remote, None, "a branch named env"))
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", remote.path, "--push")
    assert result.code == 1
    assert result.err.startswith(f"hydrate: error: {remote.path.rstrip('/')} refused the push to "
                                 "env/dev (failed to update ref); the remote said: ")
    assert "'refs/heads/env' exists" in result.err
    assert list(remote.references) == ["refs/heads/env"]


def test_a_local_remote_must_be_a_repository(example_repo: pygit2.Repository,
                                             tmp_path: Path) -> None:
    missing = tmp_path / "no-such.git"
    for spec in (str(missing), f"file://{missing}"):
        result = hydrate("--repo", example_repo.workdir, "publish", "--remote", spec, "--push")
        assert result.code == 1
        assert result.err.strip() == (
            f"hydrate: error: {spec}: no such directory; --remote takes a remote name (see "
            "`git remote -v`), an https:// or ssh:// URL, or the path of a git repository")
    (tmp_path / "plain").mkdir()
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", tmp_path / "plain")
    assert result.code == 1
    assert result.err.strip() == (
        f"hydrate: error: {tmp_path / 'plain'}: not a git repository; give the path of a "
        "repository (e.g. one made with `git init --bare`)")
    example_repo.remotes.create("origin", "../gone.git")
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote", "origin", "--push")
    assert result.code == 1
    assert result.err.startswith("hydrate: error: remote origin: ../gone.git: no such directory")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_an_https_hook_message_is_kept(example_repo: pygit2.Repository, tmp_path: Path,
                                       certificate: tuple[Path, Path]) -> None:
    bare = pygit2.init_repository(str(tmp_path / "served/fleet.git"), bare=True)
    _hook(bare, "pre-receive", "echo 'GH006: Protected branch update failed for env/dev' >&2\n"
                               "exit 1\n")
    with GitServer(tmp_path / "served", "t0ken", certificate) as server:
        url = server.url("fleet.git")
        result = hydrate("--repo", example_repo.workdir, "publish", "--remote", url, "--push",
                         env={"SSL_CERT_FILE": str(certificate[0]), "GITHUB_TOKEN": "t0ken"})
    assert result.code == 1
    assert result.err.strip() == (
        f"hydrate: error: {url} refused the push to env/dev (pre-receive hook declined); the "
        "remote said: GH006: Protected branch update failed for env/dev")
    assert list(bare.references) == []
