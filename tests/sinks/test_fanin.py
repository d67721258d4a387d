"""`publish --from-shards`: the fan-in takes a shard only as `hydrate render` left it.

A shard is a CI artifact: anything between the render and the fan-in may have touched it.
Each case here changes one thing in an intact pair of shards and expects one clear error
and nothing published."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pygit2
import pytest

from tests.conftest import BYPASS, commit_all, copy_example, hydrate


class Rendered(NamedTuple):
    repo: Path
    shards: tuple[Path, Path]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The example fleet as a repository, rendered in two shards of its HEAD."""
    base = tmp_path_factory.mktemp("fanin")
    repo = pygit2.init_repository(str(copy_example(base / "config")), initial_head="main")
    commit_all(repo, "Initial fleet")
    dirs = []
    for i in (1, 2):
        out = base / f"shard-{i}"
        result = hydrate("--repo", repo.workdir, "render", "--source", "HEAD", "--shard",
                         f"{i}/2", "--out", out)
        assert result.code == 0, result.err
        dirs.append(out)
    return Rendered(Path(repo.workdir), (dirs[0], dirs[1]))


def _manifest(shard: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shard / ".hydrate-render").read_text())
    return data


def _set_manifest(shard: Path, data: dict[str, Any]) -> None:
    (shard / ".hydrate-render").write_text(json.dumps(data))


def _a_cluster(shard: Path) -> Path:
    """The folder of a staging cluster in the shard: publish --all takes dev first, so a
    check made only when staging's turn comes would leave dev published."""
    return shard / max(k for k in _manifest(shard)["clusters"] if k.startswith("staging/"))


def _first_file(folder: Path) -> Path:
    return sorted(p for p in folder.rglob("*.yaml") if p.name != "kustomization.yaml")[0]


def _edit_a_file(shard: Path) -> None:
    path = _first_file(_a_cluster(shard))
    path.write_text(path.read_text() + "# edited after the render\n")


def _link_a_file(shard: Path) -> None:
    path = _first_file(_a_cluster(shard))
    path.unlink()
    path.symlink_to("/etc/hostname")


def _link_the_cluster(shard: Path) -> None:
    folder = _a_cluster(shard)
    shutil.rmtree(folder)
    folder.symlink_to(_a_cluster(shard).parent.parent.parent / "elsewhere")


def _other_helm(shard: Path) -> None:
    data = _manifest(shard)
    data["tools"]["helm"] = "v4.0.0"
    _set_manifest(shard, data)


def _other_engine(shard: Path) -> None:
    data = _manifest(shard)
    data["engine"] = "0" * 64
    _set_manifest(shard, data)


def _corrupt_manifest(shard: Path) -> None:
    (shard / ".hydrate-render").write_text('{"schemaVersion": 1, "clusters": ')


def _no_manifest(shard: Path) -> None:
    (shard / ".hydrate-render").unlink()


def _entry_without_class(shard: Path) -> None:
    data = _manifest(shard)
    del data["clusters"][max(data["clusters"])]["class"]
    _set_manifest(shard, data)


def _a_cluster_added(shard: Path) -> None:
    """A cluster folder (and entry) that no inventory has: files no render made."""
    data = _manifest(shard)
    key = sorted(data["clusters"])[0]
    env = key.split("/")[0]
    data["clusters"][f"{env}/intruder"] = data["clusters"][key]
    shutil.copytree(shard / key, shard / env / "intruder")
    _set_manifest(shard, data)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "a file edited": (_edit_a_file, "files do not match the manifest's digest"),
    "a file made a link": (_link_a_file, "not a regular file"),
    "a cluster made a link": (_link_the_cluster, "not a directory as `hydrate render` writes it"),
    "another helm": (_other_helm, "helm v4.0.0, kustomize v5.6.0, hydrate "),
    "another hydrate": (_other_engine, "kustomize v5.6.0, hydrate 000000000000"),
    "a corrupt manifest": (_corrupt_manifest, "not a `hydrate render` output"),
    "no manifest": (_no_manifest, "not a `hydrate render` output"),
    "an entry without its class": (_entry_without_class, "has no valid class"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_shard_changed_after_the_render_is_refused(rendered: Rendered, tmp_path: Path,
                                                      case: str) -> None:
    change, message = CASES[case]
    shards = [Path(shutil.copytree(s, tmp_path / s.name, symlinks=True))
              for s in rendered.shards]
    change(shards[1])
    remote = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    result = hydrate("--repo", rendered.repo, "publish", *BYPASS, "--all", "--remote", remote.path,
                     "--push", "--from-shards", *shards)
    assert result.code == 1, result.out + result.err
    (line,) = result.err.splitlines()
    assert line.startswith("hydrate: error: "), line
    assert "--from-shards: " in line, line
    assert f"{shards[1]}" in line, line  # the shard that changed is named
    assert message in line, line
    assert list(remote.references) == []


def test_an_intact_pair_of_shards_publishes(rendered: Rendered, tmp_path: Path) -> None:
    """The cases above start from shards that would publish."""
    shards = [Path(shutil.copytree(s, tmp_path / s.name)) for s in rendered.shards]
    _a_cluster_added(shards[0])  # a folder no inventory names is not read at all
    remote = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    result = hydrate("--repo", rendered.repo, "publish", *BYPASS, "--all", "--remote", remote.path,
                     "--push", "--from-shards", *shards)
    assert result.code == 0, result.err
    assert sorted(remote.references) == ["refs/heads/env/dev", "refs/heads/env/prod",
                                         "refs/heads/env/staging", "refs/notes/hydrator.metadata"]
    for env in ("dev", "staging", "prod"):
        tree = remote.revparse_single(f"env/{env}").peel(pygit2.Commit).tree
        paths = _paths(remote, tree)
        assert any("edge-lab" in p for p in paths) == (env == "dev")
        assert not any("intruder" in p for p in paths)


def _paths(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> list[str]:
    found = []
    for entry in tree:
        path = f"{prefix}{entry.name}"
        found.append(path)
        if entry.type_str == "tree":
            found.extend(_paths(repo, repo[entry.id].peel(pygit2.Tree), path + "/"))
    return found


def test_a_folder_that_is_no_render(rendered: Rendered, tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("nothing rendered here\n")
    result = hydrate("--repo", rendered.repo, "publish", *BYPASS, "--all", "--from-shards",
                     rendered.shards[0], tmp_path / "notes")
    assert result.code == 1
    assert result.err.strip() == (
        f"hydrate: error: --from-shards: {tmp_path / 'notes'}: not a `hydrate render` output "
        "(no .hydrate-render manifest)")
    assert not os.path.exists(Path(rendered.repo) / ".git/refs/heads/env")
