"""A working tree holds what a commit of it would hold: git-ignored files are left out,
and the ignore line is named (for a working tree and for a commit alike)."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from pipeline.config import ignored
from pipeline.config.ignored import GitIgnore, Rule
from pipeline.config.source import DirTree, tree_at
from pipeline.errors import ConfigError
from tests.charts import helm_package, small_fleet, vendored_chart
from tests.conftest import commit_all, hydrate


def _reader(files: dict[str, str]) -> ignored.Reader:
    return lambda path: files[path].encode() if path in files else None


@pytest.mark.parametrize(("files", "path", "found"), [
    ({"a/chart/.gitignore": "# vendored\n\ncharts/*\n"}, "a/chart/charts/sub/Chart.yaml",
     Rule("a/chart/.gitignore", 3, "charts/*")),
    ({"a/chart/.gitignore": "charts/*\n!charts/keep\n"}, "a/chart/charts/keep", None),
    # The deeper file decides: a `!` there beats the top's rule.
    ({".gitignore": "*.tgz\n", "a/.gitignore": "!keep.tgz\n"}, "a/keep.tgz", None),
    ({".gitignore": "*.tgz\n", "a/.gitignore": "!keep.tgz\n"}, "a/other.tgz",
     Rule(".gitignore", 1, "*.tgz")),
    # A folder rule ignores everything below it; a file rule does not match the folder.
    ({".gitignore": "build/\n"}, "x/build/out.yaml", Rule(".gitignore", 1, "build/")),
    ({".gitignore": "build/\n"}, "x/build", None),
    ({".git/info/exclude": "secret.yaml\n"}, "x/secret.yaml",
     Rule(".git/info/exclude", 1, "secret.yaml")),
    ({".gitignore": "/top.yaml\n"}, "x/top.yaml", None),
])
def test_the_rule_is_the_line_git_applies(files: dict[str, str], path: str, found: Rule | None) -> None:
    assert ignored.rule(_reader(files), path) == found


def _repo(tmp_path: Path) -> tuple[Path, pygit2.Repository]:
    root = small_fleet(tmp_path / "config", ("vendored",))
    vendored_chart(helm_package(root, "vendored"))
    repo = pygit2.init_repository(str(root), initial_head="main")
    commit_all(repo, "A vendored chart whose .gitignore keeps its subcharts out")
    return root, repo


def test_a_working_tree_leaves_out_what_git_ignores_and_keeps_what_it_tracks(tmp_path: Path) -> None:
    root, repo = _repo(tmp_path)
    chart = "bases/vendored/chart"
    tree = DirTree(root, GitIgnore.of(root))
    assert "charts/sub/Chart.yaml" not in tree.files(chart)
    assert tree.left_out == {f"{chart}/charts/sub/": None, f"{chart}/charts/common/": None}
    assert not tree.is_file(f"{chart}/charts/sub/Chart.yaml")
    assert tree.listdir(f"{chart}/charts") == []
    with pytest.raises(ConfigError, match=r"charts/sub/values.yaml: ignored by git \(bases/vendored/"
                                          r"chart/.gitignore:1 `charts/\*`\), so a commit does not"):
        tree.read(f"{chart}/charts/sub/values.yaml")
    # A tracked file stays, ignored or not: a commit holds it.
    repo.index.add(f"{chart}/charts/sub/Chart.yaml")
    repo.index.write()
    tree = DirTree(root, GitIgnore.of(root))
    assert [f for f in tree.files(chart) if f.startswith("charts/")] == ["charts/sub/Chart.yaml"]
    # The same paths as the commit of it.
    commit_all(repo, "Track one file")
    assert tree.files(chart) == tree_at(repo, "HEAD").files(chart)
    assert DirTree(root).files(chart) != tree.files(chart)  # without the rules: everything


def test_render_of_the_working_tree_and_of_a_commit_fail_alike_naming_the_rule(tmp_path: Path) -> None:
    root, repo = _repo(tmp_path)
    rule = "bases/vendored/chart/charts/sub is ignored by git (bases/vendored/chart/.gitignore:1 " \
           "`charts/*`), so a commit does not hold it"
    working = hydrate("--repo", root, "render", "--out", tmp_path / "a")
    commit = hydrate("--repo", root, "render", "--source", "HEAD", "--out", tmp_path / "b")
    for result in (working, commit):
        assert result.code == 1
        first = result.err.splitlines()[0]
        assert "missing in charts/ directory: sub, common" in first
        assert rule in first
        assert "git add -f bases/vendored/chart/charts" in first
    # Vendored for real (forced past the rule): both render, to the same files.
    for path in sorted((root / "bases/vendored/chart/charts").rglob("*")):
        if path.is_file():
            repo.index.add(path.relative_to(root).as_posix())
    commit_all(repo, "Vendor the subcharts")
    (root / ".gitignore").write_text("debug.yaml\n")
    (root / "bases/vendored/chart/templates/debug.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: debug}\n")
    working = hydrate("--repo", root, "render", "--out", tmp_path / "a")
    assert working.code == 0, working.err
    assert working.err.splitlines() == [
        "hydrate: warning: bases/vendored/chart/templates/debug.yaml: ignored by git (.gitignore:1 "
        "`debug.yaml`), so not an input: hydrate renders what a commit of the working tree holds"]
    commit = hydrate("--repo", root, "render", "--source", "HEAD", "--out", tmp_path / "b")
    assert commit.code == 0, commit.err
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.yaml"))
    assert files == sorted(p.relative_to(tmp_path / "b").as_posix()
                           for p in (tmp_path / "b").rglob("*.yaml"))
    assert not any("debug" in f for f in files)
    assert any("configmap_apps_vendored-sub" in f for f in files)


def test_a_gitignore_edit_reaches_a_warm_render(tmp_path: Path) -> None:
    """The recalled keys know the file list: ignoring a layer file changes the render."""
    root, repo = _repo(tmp_path)
    (root / "bases/vendored/chart/.gitignore").unlink()
    commit_all(repo, "Vendor the subcharts")
    layer = root / "overlays/classes/standard/vendored/values.yaml"
    layer.parent.mkdir(parents=True)
    layer.write_text("replicaCount: 3\n")
    cache = {"HYDRATE_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    deployment = out / "dev/dev-1/vendored/deployment.apps_apps_vendored-vendored.yaml"
    assert hydrate("--repo", root, "render", "--out", out, env=cache).code == 0
    assert "replicas: 3" in deployment.read_text()
    (root / ".gitignore").write_text("overlays/classes/standard/vendored/\n")
    result = hydrate("--repo", root, "render", "--out", out, env=cache)
    assert result.code == 0, result.err
    assert "replicas: 1" in deployment.read_text()
    assert "overlays/classes/standard/vendored/: ignored by git (.gitignore:1" in result.err


def test_an_ignored_package_file_is_named_with_its_rule(tmp_path: Path) -> None:
    """An untracked package.yaml that a rule ignores (CRLF lines): the missing file is
    named with the rule; the tracked package.yaml files are untouched by it."""
    root, _ = _repo(tmp_path)
    (root / "bases/vendored/chart/.gitignore").unlink()
    (root / ".gitignore").write_text("# local experiments\r\nbases/extra/package.yaml\r\n")
    (root / "bases/extra").mkdir()
    (root / "bases/extra/package.yaml").write_text("name: extra\ntype: kustomize\n")
    (root / "bases/extra/kustomization.yaml").write_text("resources: []\n")
    result = hydrate("--repo", root, "render", "--out", tmp_path / "out")
    assert result.code == 1
    assert result.err.splitlines()[0] == (
        "hydrate: error: bases/extra: no package.yaml (every directory in bases/ is a package); "
        "bases/extra/package.yaml is ignored by git (.gitignore:2 `bases/extra/package.yaml`): "
        "commit it")
    (root / "bases/extra/package.yaml").unlink()
    (root / "bases/extra/kustomization.yaml").unlink()
    (root / "bases/extra").rmdir()
    (root / ".gitignore").write_text("package.yaml\n")  # every package.yaml is tracked
    result = hydrate("--repo", root, "render", "--out", tmp_path / "out")
    assert result.code == 0, result.err
