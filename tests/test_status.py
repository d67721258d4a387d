from __future__ import annotations

from pathlib import Path

import pygit2

from tests.conftest import commit_all, hydrate


def test_status_and_history(example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    repo = example_repo.workdir
    before = hydrate("--repo", repo, "status")
    assert before.code == 0, before.err
    assert [line.split()[:4] for line in before.out.splitlines()] == [
        ["dev", "env/dev", "not", "published"], ["staging", "env/staging", "not", "published"],
        ["prod", "env/prod", "not", "published"]]
    first = str(example_repo.head.target)
    assert hydrate("--repo", repo, "publish", "--env", "dev", "--env", "staging", "--remote",
                   remote.path, "--push").code == 0
    pop = Path(repo) / "fleet/classes/pop.yaml"
    pop.write_text(pop.read_text().replace("posReplicas: 2", "posReplicas: 3"))
    commit_all(example_repo, "Three POS replicas")
    second = str(example_repo.head.target)
    assert hydrate("--repo", repo, "publish", "--remote", remote.path, "--push").code == 0

    result = hydrate("--repo", repo, "status", "--remote", remote.path)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["dev", "env/dev", second[:7]]
    assert "Three POS replicas" in lines[0]
    assert "4 clusters (argocd); up to date" in lines[1]
    assert lines[2].split()[:3] == ["staging", "env/staging", first[:7]]
    assert "3 clusters (argocd); main is 1 commit ahead" in lines[3]
    assert lines[4].split()[:4] == ["prod", "env/prod", "not", "published"]

    history = hydrate("--repo", repo, "history", "--env", "dev", "--remote", remote.path)
    assert history.code == 0, history.err
    entries = [line for line in history.out.splitlines() if not line.startswith(" ")]
    assert [e.split()[4] for e in entries] == [second[:7], first[:7]]
    assert "Three POS replicas" in entries[0]
    assert "1 clusters changed, 0 added, 0 removed (of 4)." in history.out


def test_history_of_an_unpublished_environment(example_repo: pygit2.Repository) -> None:
    result = hydrate("--repo", example_repo.workdir, "history", "--env", "prod")
    assert result.code == 1
    assert "env/prod: no such branch (nothing published to prod yet" in result.err
