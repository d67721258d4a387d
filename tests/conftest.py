"""Shared fixtures: the real CLI, real tools, real git repositories in tmp_path."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest

from pipeline.render import tools

ROOT = Path(__file__).resolve().parents[1]
FLEET_DIRS = ("fleet", "bases", "overlays")
SIGNATURE = pygit2.Signature("hydrate tests", "tests@hydrate.dev", 1_790_000_000, 0)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


@functools.cache
def shared_cache() -> str:
    """The render cache the whole suite shares (HYDRATE_TEST_CACHE, which scripts/test sets
    for all workers, else one per test process). It is content-addressed and safe for
    concurrent writers, so sharing it changes no output, only how many tools run."""
    configured = os.environ.get("HYDRATE_TEST_CACHE")
    if configured:
        return configured
    path = tempfile.mkdtemp(prefix="hydrate-test-cache-")
    atexit.register(shutil.rmtree, path, True)
    return path


def hydrate(*args: str | os.PathLike[str], cwd: Path | None = None,
            env: dict[str, str] | None = None, cold: bool = False) -> Result:
    """Run the real `hydrate` CLI (as `python -m pipeline`) in a subprocess. It uses the
    suite's shared render cache; `cold`: an empty one of its own, for a test that counts
    tool runs (a test may also pass its own HYDRATE_CACHE_DIR in `env`)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "HYDRATE_"))}
    with tempfile.TemporaryDirectory(prefix="hydrate-test-cache-") as cache:
        full_env["HYDRATE_CACHE_DIR"] = cache if cold else shared_cache()
        full_env.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=cwd,
                              env=full_env, capture_output=True, text=True, timeout=600,
                              check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


# What a test adds to publish an environment that has `promotion` (staging, prod of the
# example fleet) directly: the recorded bypass a platform team would use to bootstrap.
BYPASS = ("--force", "--reason", "tests publish every environment directly")


def copy_example(dest: Path) -> Path:
    """A copy of the example fleet's configuration in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in FLEET_DIRS:
        shutil.copytree(ROOT / name, dest / name)
    return dest


Edit = Callable[[Path], None]  # a change to a configuration repository at the given root


def replace_in(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in the file; fail loudly if it is not there."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def replacing(rel: str, old: str, new: str) -> Edit:
    return lambda root: replace_in(root / rel, old, new)


def appending(rel: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        with (root / rel).open("a") as f:
            f.write(text)
    return edit


def writing(rel: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return edit


def commit_all(repo: pygit2.Repository, message: str) -> pygit2.Oid:
    """Stage every file of the working tree and commit it on HEAD."""
    repo.index.add_all()
    repo.index.write()
    tree = repo.index.write_tree()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    return repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A writable copy of the example fleet (not a git repository)."""
    return copy_example(tmp_path / "config")


@pytest.fixture
def example_repo(tmp_path: Path) -> pygit2.Repository:
    """The example fleet as a git repository with one commit on main."""
    path = copy_example(tmp_path / "config")
    repo = pygit2.init_repository(str(path), initial_head="main")
    commit_all(repo, "Initial fleet")
    return repo


@pytest.fixture(scope="session")
def toolset(tmp_path_factory: pytest.TempPathFactory) -> tools.Toolset:
    """The real helm and kustomize, as hydrate finds them."""
    return tools.discover(os.environ, tmp_path_factory.mktemp("tool-home"))


@pytest.fixture(scope="session")
def rendered_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example fleet rendered once by the real CLI, shared by read-only tests."""
    out = tmp_path_factory.mktemp("example-render") / "rendered"
    result = hydrate("--repo", ROOT, "render", "--out", out)
    assert result.code == 0, result.err
    return out


@pytest.fixture
def kubectl_json(toolset: tools.Toolset, tmp_path: Path) -> Callable[[str], object]:
    """Parse YAML with Kubernetes' own decoder (`kubectl label --local`), to JSON."""
    import json

    binary = toolset.kustomize.argv[0]
    if not Path(binary).name.startswith("kubectl"):
        binary = shutil.which("kubectl") or binary

    def parse(text: str) -> object:
        path = tmp_path / "doc.yaml"
        path.write_text(text)
        proc = subprocess.run([binary, "label", "--local", "-f", str(path), "x=y", "-o", "json"],
                              capture_output=True, text=True, check=True,
                              env={"PATH": os.environ["PATH"], "KUBECONFIG": os.devnull,
                                   "HOME": str(tmp_path)})
        return json.loads(proc.stdout)

    return parse


@pytest.fixture
def remote(tmp_path: Path) -> pygit2.Repository:
    """An empty bare repository, the remote env branches are pushed to."""
    return pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)


def branch_files(repo: pygit2.Repository, ref: str, prefix: str = "") -> dict[str, bytes]:
    """Every file of the commit `ref` points at (below `prefix`), by path."""
    commit = repo.revparse_single(ref).peel(pygit2.Commit)
    tree = commit.tree if not prefix else repo[commit.tree[prefix].id]
    files: dict[str, bytes] = {}

    def walk(node: pygit2.Tree, base: str) -> None:
        for entry in node:
            obj = repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                walk(obj, f"{base}{entry.name}/")
            else:
                assert isinstance(obj, pygit2.Blob)
                files[f"{base}{entry.name}"] = obj.data

    assert isinstance(tree, pygit2.Tree)
    walk(tree, "")
    return files


def log(repo: pygit2.Repository, ref: str) -> list[pygit2.Commit]:
    """Commits reachable from `ref`, newest first."""
    head = repo.revparse_single(ref).peel(pygit2.Commit)
    return list(repo.walk(head.id, pygit2.enums.SortMode.TOPOLOGICAL))
