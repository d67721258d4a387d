from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from pipeline.errors import ConfigError, GitError
from pipeline.source import DirTree, normalize, tree_at
from tests.conftest import hydrate


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a\\b"])
def test_paths_may_not_leave_the_repository(path: str) -> None:
    with pytest.raises(ConfigError):
        normalize(path)


def test_normalize_keeps_inner_paths() -> None:
    assert normalize("bases/./pos-app/../pos-app/chart") == "bases/pos-app/chart"
    assert normalize("") == ""


def test_symlink_out_of_the_repository_is_refused(example: Path) -> None:
    os.symlink("/etc/hostname", example / "bases/pos-app/chart/templates/host.yaml")
    result = hydrate("--repo", example, "render", "--cluster", "store-0001")
    assert result.code == 1
    assert "bases/pos-app/chart/templates/host.yaml: symlink points outside the repository" in result.err


def test_chart_path_outside_the_repository_is_refused(example: Path) -> None:
    pkg = example / "bases/pos-app/package.yaml"
    pkg.write_text(pkg.read_text().replace("chart: chart", "chart: ../../../elsewhere"))
    result = hydrate("--repo", example, "render", "--cluster", "store-0001")
    assert result.code == 1
    assert "../../../elsewhere: path leaves the repository" in result.err


def test_git_tree_reads_what_the_directory_holds(example_repo: pygit2.Repository) -> None:
    workdir = DirTree(Path(example_repo.workdir))
    commit = tree_at(example_repo, "HEAD")
    for folder in ("bases/pos-app", "overlays/classes/pop", "fleet"):
        assert commit.files(folder) == workdir.files(folder)
        for rel in commit.files(folder):
            path = f"{folder}/{rel}"
            assert commit.read(path) == workdir.read(path)
            assert commit.blob_id(path) == workdir.blob_id(path)
    assert commit.listdir("bases") == workdir.listdir("bases")
    assert commit.is_dir("bases/pos-app")
    assert not commit.is_file("bases/pos-app")
    assert commit.label.startswith("commit ")


def test_unknown_revision_is_a_clear_error(example_repo: pygit2.Repository) -> None:
    with pytest.raises(GitError, match="no-such-branch: no such revision"):
        tree_at(example_repo, "no-such-branch")
