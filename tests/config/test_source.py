from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pygit2
import pytest

from pipeline.config.source import DirTree, config_root, normalize, tree_at
from pipeline.errors import ConfigError, GitError
from tests.conftest import commit_all, copy_example, hydrate


@pytest.mark.parametrize("path", ["../x", "a/../../x", "/etc/passwd", "a\\b"])
def test_paths_may_not_leave_the_repository(path: str) -> None:
    with pytest.raises(ConfigError):
        normalize(path)


def test_normalize_keeps_inner_paths() -> None:
    assert normalize("bases/./pos-app/../pos-app/chart") == "bases/pos-app/chart"
    assert normalize("") == ""


OUTSIDE = "symlink points outside the configuration folders (fleet/, bases/, overlays/)"


def test_symlink_out_of_the_repository_is_refused(example: Path) -> None:
    os.symlink("/etc/hostname", example / "bases/pos-app/chart/templates/host.yaml")
    result = hydrate("--repo", example, "render", "--cluster", "store-0001")
    assert result.code == 1
    assert f"bases/pos-app/chart/templates/host.yaml: {OUTSIDE}" in result.err


TOKEN = "AUTHORIZATION: basic eC1hY2Nlc3MtdG9rZW46Z2hzX3NlY3JldA=="


def _leak_git_config(repo: pygit2.Repository) -> Path:
    """What actions/checkout leaves behind, and a chart that tries to read it."""
    root = Path(repo.workdir)
    with open(root / ".git/config", "a") as f:
        f.write(f'[http "https://github.com/"]\n\textraheader = {TOKEN}\n')
    chart = root / "bases/pos-app/chart"
    os.symlink("../../../.git/config", chart / "gitcfg")
    (chart / "templates/leak.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n"
        "data: {config: {{ .Files.Get \"gitcfg\" | quote }}}\n")
    return root


def test_a_symlink_into_git_leaks_nothing_from_the_working_tree(
        example_repo: pygit2.Repository) -> None:
    root = _leak_git_config(example_repo)
    out = root / "rendered"
    result = hydrate("--repo", root, "render", "--cluster", "store-0001", "--out", out)
    assert result.code == 1, result.err
    assert f"hydrate: error: bases/pos-app/chart/gitcfg: {OUTSIDE}" in result.err
    assert TOKEN not in result.err
    assert ".git/config" not in result.err
    assert not out.exists()


def test_a_committed_symlink_into_git_leaks_nothing(example_repo: pygit2.Repository) -> None:
    root = _leak_git_config(example_repo)
    commit_all(example_repo, "a chart that reads the git config")
    with pytest.raises(ConfigError) as err:
        tree_at(example_repo, "HEAD").files("bases/pos-app/chart")
    assert str(err.value) == f"bases/pos-app/chart/gitcfg: {OUTSIDE}, which are all a render " \
        "may read; replace the link with a copy of what it points to"
    result = hydrate("--repo", root, "diff", "--base", "HEAD~1", "--head", "HEAD")
    assert result.code == 1, result.err
    assert f"bases/pos-app/chart/gitcfg: {OUTSIDE}" in result.out
    assert TOKEN not in result.err + result.out


def test_a_committed_absolute_symlink_is_named_by_the_link(example_repo: pygit2.Repository) -> None:
    os.symlink("/etc/passwd", Path(example_repo.workdir) / "bases/pos-app/chart/templates/pw.yaml")
    commit_all(example_repo, "absolute link")
    with pytest.raises(ConfigError) as err:
        tree_at(example_repo, "HEAD").read("bases/pos-app/chart/templates/pw.yaml")
    assert str(err.value).startswith(f"bases/pos-app/chart/templates/pw.yaml: {OUTSIDE}")
    assert "/etc/passwd" not in str(err.value)


@pytest.mark.parametrize("target", ["../../../scripts/x.yaml", "../../..", "../../../.git/HEAD"])
def test_links_may_not_leave_the_configuration_folders(example_repo: pygit2.Repository,
                                                      target: str) -> None:
    root = Path(example_repo.workdir)
    (root / "scripts").mkdir()
    (root / "scripts/x.yaml").write_text("a: 1\n")
    os.symlink(target, root / "bases/pos-app/link")
    commit_all(example_repo, "link")
    for tree in (DirTree(root), tree_at(example_repo, "HEAD")):
        with pytest.raises(ConfigError) as err:
            tree.read("bases/pos-app/link")
        assert str(err.value).startswith(f"bases/pos-app/link: {OUTSIDE}"), tree.label


def test_a_directory_link_is_named_not_the_file_below_it(example: Path) -> None:
    os.symlink("../../..", example / "bases/pos-app/up")
    with pytest.raises(ConfigError) as err:
        DirTree(example).read("bases/pos-app/up/fleet/environments.yaml")
    assert str(err.value).startswith(f"bases/pos-app/up: {OUTSIDE}")


def test_links_inside_the_configuration_folders_are_followed(example_repo: pygit2.Repository) -> None:
    root = Path(example_repo.workdir)
    os.symlink("../../../overlays/classes/pop/pos-app/pdb.yaml", root / "bases/pos-app/chart/pdb.yaml")
    commit_all(example_repo, "shared file")
    expected = (root / "overlays/classes/pop/pos-app/pdb.yaml").read_bytes()
    for tree in (DirTree(root), tree_at(example_repo, "HEAD")):
        assert tree.read("bases/pos-app/chart/pdb.yaml") == expected
        assert "pdb.yaml" in tree.files("bases/pos-app/chart")


def test_git_folders_are_never_read(example_repo: pygit2.Repository) -> None:
    with pytest.raises(ConfigError, match=r"^\.git/config: inside a \.git folder"):
        DirTree(Path(example_repo.workdir)).read(".git/config")


def test_a_chart_outside_the_configuration_folders_is_not_read(example: Path) -> None:
    shutil.copytree(example / "bases/pos-app/chart", example / "vendor/pos-app")
    pkg = example / "bases/pos-app/package.yaml"
    pkg.write_text(pkg.read_text().replace("chart: chart", "chart: ../../vendor/pos-app"))
    result = hydrate("--repo", example, "render", "--cluster", "store-0001")
    assert result.code == 1, result.err
    assert result.err.startswith(
        "hydrate: error: bases/pos-app/package.yaml:3: chart: vendor/pos-app is outside the "
        "configuration folders (fleet/, bases/, overlays/)"), result.err


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


def test_a_shallow_clone_says_so(example_repo: pygit2.Repository, tmp_path: Path) -> None:
    (Path(example_repo.workdir) / "NOTES.md").write_text("not configuration\n")
    commit_all(example_repo, "Notes")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{example_repo.workdir}",
                    str(clone)], check=True, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    result = hydrate("--repo", clone, "diff", "--base", "HEAD~1")
    assert result.code == 1
    assert result.err == (
        f"hydrate: error: HEAD~1: not found in {clone}, a shallow clone (its history is cut, so "
        "older commits are missing); fetch the whole history with `git fetch --unshallow` "
        "(GitHub Actions: `fetch-depth: 0` in actions/checkout)\n")


def test_a_repository_without_commits_says_so(example: Path) -> None:
    pygit2.init_repository(str(example), initial_head="main")
    result = hydrate("--repo", example, "publish")
    assert result.code == 1
    assert result.err == (f"hydrate: error: HEAD: the repository {example} has no commits yet; "
                          "commit the configuration (fleet/, bases/, overlays/) first\n")


def test_a_configuration_folder_inside_a_bigger_repository(tmp_path: Path) -> None:
    top = tmp_path / "monorepo"
    copy_example(top / "platform/fleet")
    repo = pygit2.init_repository(str(top), initial_head="main")
    commit_all(repo, "Monorepo")
    sub = top / "platform/fleet"
    assert config_root(repo, sub) == "platform/fleet"
    assert config_root(repo, top) == ""
    tree = tree_at(repo, "HEAD", config_root(repo, sub))
    assert tree.files("fleet") == DirTree(sub).files("fleet")
    assert tree.read("fleet/environments.yaml") == (sub / "fleet/environments.yaml").read_bytes()
    assert tree.listdir("") == ["bases", "fleet", "overlays"]
    with pytest.raises(GitError, match="elsewhere/: no such folder in commit"):
        tree_at(repo, "HEAD", "elsewhere")
