"""Sharded renders published through the fan-in equal a single full publish."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pygit2
import pytest

from pipeline.render import shard
from tests.conftest import BYPASS, commit_all, hydrate


def test_partition_is_deterministic_and_balanced_by_work() -> None:
    work = {"big-a": 10.0, "big-b": 9.0, **{f"small-{i:02d}": 1.0 for i in range(19)}}
    first = shard.partition(work, 3)
    assert first == shard.partition(dict(reversed(list(work.items()))), 3)
    loads = [sum(w for c, w in work.items() if first[c] == i) for i in (1, 2, 3)]
    assert max(loads) - min(loads) <= 1.0
    assert first["big-a"] != first["big-b"]
    counts = [sum(1 for c in first if first[c] == i) for i in (1, 2, 3)]
    assert max(counts) - min(counts) > 3  # balanced by work, not by count


@pytest.mark.parametrize("spec", ["0/3", "4/3", "x", "1-3", "2/", "1/1234567"])
def test_bad_shard_spec(spec: str) -> None:
    with pytest.raises(ValueError, match="expected i/N"):
        shard.parse(spec)


@pytest.mark.parametrize("spec", ["3/2", "5/4", "0/1", "two/4"])
def test_a_bad_shard_is_a_usage_error(example: Path, spec: str) -> None:
    result = hydrate("--repo", example, "render", "--shard", spec)
    assert result.code == 2, result.err
    assert f"Invalid value for '--shard': '{spec}': expected i/N with 1 <= i <= N" in result.err
    assert not (example / "rendered").exists()


def test_more_shards_than_clusters_leave_the_rest_empty() -> None:
    work = {f"store-{i:02d}": 1.0 + i % 5 for i in range(21)}
    assert shard.partition(work, 999_999) == shard.partition(work, 21)
    assert sorted(shard.partition(work, 999_999).values()) == list(range(1, 22))


def _rendered(out: str) -> tuple[int, int]:
    """Clusters rendered and tool runs, as `hydrate publish` says (its last line)."""
    found = re.fullmatch(r"  rendered (\d+) clusters? with (\d+) tool runs?(?: \(\d+ from the "
                         r"cache\))?; \d+\.\d\ds in all", out.splitlines()[-1])
    assert found is not None, out
    return int(found[1]), int(found[2])


def _shards(repo: pygit2.Repository, tmp_path: Path, n: int) -> list[Path]:
    dirs = []
    for i in range(1, n + 1):
        out = tmp_path / f"shard-{i}"
        result = hydrate("--repo", repo.workdir, "render", "--source", "HEAD", "--shard",
                         f"{i}/{n}", "--out", out)
        assert result.code == 0, result.err
        dirs.append(out)
    return dirs


def test_fan_in_equals_a_single_full_publish(example_repo: pygit2.Repository,
                                             tmp_path: Path) -> None:
    envs = example_repo.workdir + "fleet/environments.yaml"
    Path(envs).write_text(Path(envs).read_text().replace("- name: staging\n",
                                                         "- name: staging\n  agent: flux\n"))
    commit_all(example_repo, "Flux for staging")
    dirs = _shards(example_repo, tmp_path, 3)
    manifests = [json.loads((d / ".hydrate-render").read_text()) for d in dirs]
    names = [set(m["clusters"]) for m in manifests]
    assert sum(len(n) for n in names) == 18
    assert len(set().union(*names)) == 18
    assert all(m["shard"] == f"{i}/3" for i, m in enumerate(manifests, 1))
    assert all(m["source"]["commit"] == str(example_repo.head.target) for m in manifests)
    sharded = pygit2.init_repository(str(tmp_path / "sharded.git"), bare=True)
    single = pygit2.init_repository(str(tmp_path / "single.git"), bare=True)
    fan_in = hydrate("--repo", example_repo.workdir, "publish", *BYPASS, "--all", "--remote", sharded.path,
                     "--push", "--from-shards", *dirs)
    assert fan_in.code == 0, fan_in.err
    assert fan_in.out.count("pushed") == 3
    # The shards' renders are read back, not rendered again (not even from the cache).
    assert _rendered(fan_in.out) == (0, 0)
    full = hydrate("--repo", example_repo.workdir, "publish", *BYPASS, "--all", "--remote", single.path,
                   "--push")
    assert full.code == 0, full.err
    for env in ("dev", "staging", "prod"):
        a = sharded.revparse_single(f"env/{env}").peel(pygit2.Commit)
        b = single.revparse_single(f"env/{env}").peel(pygit2.Commit)
        assert a.tree.id == b.tree.id, env  # byte for byte, metadata and README included


def test_fan_in_refuses_incomplete_or_mixed_shards(example_repo: pygit2.Repository,
                                                   tmp_path: Path) -> None:
    dirs = _shards(example_repo, tmp_path, 3)
    remote = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    partial = hydrate("--repo", example_repo.workdir, "publish", *BYPASS, "--all", "--remote", remote.path,
                      "--push", "--from-shards", dirs[0], dirs[1])
    assert partial.code == 1
    assert "has clusters no shard rendered" in partial.err
    assert list(remote.references) == []
    overlap = hydrate("--repo", example_repo.workdir, "publish", "--from-shards", dirs[0], dirs[0])
    assert overlap.code == 1
    assert "shards must not overlap" in overlap.err
    pop = Path(example_repo.workdir) / "fleet/classes/pop.yaml"
    pop.write_text(pop.read_text().replace("posReplicas: 2", "posReplicas: 3"))
    commit_all(example_repo, "Newer")
    stale = hydrate("--repo", example_repo.workdir, "publish", *BYPASS, "--all", "--from-shards", *dirs)
    assert stale.code == 1
    assert "is a render of" in stale.err
    assert "render the shards with --source" in stale.err


def test_incremental_publish_equals_a_full_one(example_repo: pygit2.Repository,
                                               tmp_path: Path) -> None:
    a = pygit2.init_repository(str(tmp_path / "a.git"), bare=True)
    b = pygit2.init_repository(str(tmp_path / "b.git"), bare=True)
    repo = example_repo.workdir
    assert hydrate("--repo", repo, "publish", *BYPASS, "--all", "--remote", a.path, "--push").code == 0
    values = Path(repo) / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    values.write_text(values.read_text() + "bridge:\n  logLevel: debug\n")
    (Path(repo) / "fleet/clusters/store-0004.yaml").unlink()
    commit_all(example_repo, "Hamburg debug; close 0004")
    incremental = hydrate("--repo", repo, "publish", *BYPASS, "--all", "--remote", a.path, "--push")
    assert incremental.code == 0, incremental.err
    assert "incremental: 1 of 10 clusters rendered since" in incremental.out
    assert "incremental: 0 of 4 clusters rendered since" in incremental.out
    full = hydrate("--repo", repo, "publish", *BYPASS, "--all", "--full", "--remote", b.path, "--push")
    assert full.code == 0, full.err
    for env in ("dev", "staging", "prod"):
        # dev and staging did not change, so made no commit: their metadata still names the
        # previous source; the manifests themselves must be identical.
        left = a.revparse_single(f"env/{env}").peel(pygit2.Commit).tree["clusters"].id
        right = b.revparse_single(f"env/{env}").peel(pygit2.Commit).tree["clusters"].id
        assert left == right, env
    prod = [r.revparse_single("env/prod").peel(pygit2.Commit) for r in (a, b)]
    assert prod[0].tree.id == prod[1].tree.id  # a publish that commits records the same
