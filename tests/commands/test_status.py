from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pygit2

from tests.conftest import BYPASS, commit_all, hydrate


def test_status_and_history(example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    repo = example_repo.workdir
    before = hydrate("--repo", repo, "status")
    assert before.code == 0, before.err
    assert [line.split()[:4] for line in before.out.splitlines()] == [
        ["dev", "env/dev", "not", "published"], ["staging", "env/staging", "not", "published"],
        ["prod", "env/prod", "not", "published"]]
    first = str(example_repo.head.target)
    assert hydrate("--repo", repo, "publish", *BYPASS, "--env", "dev", "--env", "staging", "--remote",
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
    assert [e.split()[3:6] for e in entries] == [["publish", "source", second[:7]],
                                                 ["publish", "source", first[:7]]]
    assert "Three POS replicas" in entries[0]
    assert "1 cluster changed, 0 added, 0 removed (of 4)." in history.out


def test_history_of_an_unpublished_environment(example_repo: pygit2.Repository) -> None:
    result = hydrate("--repo", example_repo.workdir, "history", "--env", "prod")
    assert result.code == 1
    assert "env/prod: no such branch (nothing published to prod yet" in result.err


def test_status_reads_remote_tracking_branches(example_repo: pygit2.Repository,
                                               remote: pygit2.Repository) -> None:
    example_repo.remotes.create("origin", remote.path)
    published = hydrate("--repo", example_repo.workdir, "publish", "--remote", "origin", "--push")
    assert published.code == 0, published.err
    assert "refs/heads/env/dev" not in example_repo.references  # pushed, never made locally
    result = hydrate("--repo", example_repo.workdir, "status")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["dev", "env/dev", str(example_repo.head.target)[:7]]
    assert "4 clusters (argocd); up to date" in lines[1]
    assert lines[2].strip() == ("read from refs/remotes/origin/env/dev (there is no local "
                                "branch)")
    assert lines[3].split()[:4] == ["staging", "env/staging", "not", "published"]
    history = hydrate("--repo", example_repo.workdir, "history", "--env", "dev")
    assert history.code == 0, history.err
    assert "Initial fleet" in history.out


def test_status_of_a_branch_hydrate_did_not_write(example_repo: pygit2.Repository) -> None:
    example_repo.branches.local.create("env/dev", example_repo.head.peel(pygit2.Commit))
    result = hydrate("--repo", example_repo.workdir, "status")
    assert result.code == 0, result.err
    head = str(example_repo.head.target)[:7]
    assert result.out.splitlines()[:2] == [
        f"dev        env/dev        not a hydrate branch: its head {head} has no "
        ".hydrate/metadata.json: hydrate did not write it",
        f"{'':<25} publish refuses to build on it without --force"]
    assert "None" not in result.out


def test_status_in_a_shallow_clone(example_repo: pygit2.Repository, remote: pygit2.Repository,
                                   tmp_path: Path) -> None:
    assert hydrate("--repo", example_repo.workdir, "publish", "--remote", remote.path,
                   "--push").code == 0
    (Path(example_repo.workdir) / "NOTES.md").write_text("not configuration\n")
    commit_all(example_repo, "Notes")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", "main",
                    f"file://{example_repo.workdir}", str(clone)], check=True,
                   env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)})
    result = hydrate("--repo", clone, "status", "--remote", remote.path)
    assert result.code == 0, result.err
    assert result.out.splitlines()[1].endswith(
        "history is shallow: cannot tell how far main is ahead (git fetch --unshallow)")
    assert "source not in" not in result.out
    # Fetching the env branches (whole histories) left the clone shallow and whole.
    assert (clone / ".git/shallow").read_text().split() == [str(example_repo.head.target)]
    fsck = subprocess.run(["git", "fsck", "--connectivity-only"], cwd=clone, capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
                          check=False)
    assert fsck.returncode == 0, fsck.stderr


def test_the_readme_usage_with_a_named_remote(example_repo: pygit2.Repository,
                                              remote: pygit2.Repository, tmp_path: Path) -> None:
    """`--remote origin` as the README uses it, for publish, status, history and diff:
    each fetches from the remote it names (a publish made from another clone shows up)."""
    repo = example_repo.workdir
    example_repo.remotes.create("origin", remote.path)
    first = str(example_repo.head.target)
    published = hydrate("--repo", repo, "publish", *BYPASS, "--all", "--remote", "origin", "--push")
    assert published.code == 0, published.err
    assert published.out.splitlines()[0] == (f"source {first[:7]}: Initial fleet → "
                                             f"{remote.path.rstrip('/')}")
    assert sorted(remote.references) == ["refs/heads/env/dev", "refs/heads/env/prod",
                                         "refs/heads/env/staging", "refs/notes/hydrator.metadata"]
    other = pygit2.clone_repository(repo, str(tmp_path / "other"))
    pop = Path(other.workdir) / "fleet/classes/pop.yaml"
    pop.write_text(pop.read_text().replace("posReplicas: 2", "posReplicas: 3"))
    commit_all(other, "Three POS replicas")
    second = str(other.head.target)
    assert hydrate("--repo", other.workdir, "publish", "--env", "dev", "--remote", remote.path,
                   "--push").code == 0

    status = hydrate("--repo", repo, "status", "--remote", "origin")
    assert status.code == 0, status.err
    lines = status.out.splitlines()
    assert lines[0].split()[:3] == ["dev", "env/dev", second[:7]]
    assert lines[2].split()[:3] == ["staging", "env/staging", first[:7]]
    assert example_repo.references["refs/remotes/origin/env/dev"].target == \
        remote.references["refs/heads/env/dev"].target
    history = hydrate("--repo", repo, "history", "--env", "dev", "--remote", "origin")
    assert history.code == 0, history.err
    entries = [line for line in history.out.splitlines() if not line.startswith(" ")]
    assert [e.split()[3:6] for e in entries] == [["publish", "source", second[:7]],
                                                 ["publish", "source", first[:7]]]
    # HEAD (posReplicas 2) against the branch (3): store-lab is the dev POS cluster.
    diff = hydrate("--repo", repo, "diff", "--against-branch", "--env", "dev", "--remote",
                   "origin", "--format", "json")
    assert diff.code == 0, diff.err
    doc = json.loads(diff.out)
    assert doc["base"]["commit"] == str(remote.references["refs/heads/env/dev"].target)
    assert [c["cluster"] for g in doc["groups"] for v in g["variants"]
            for c in v["clusters"]] == ["store-lab"]


def test_a_renamed_environment_leaves_its_old_branch_as_it_was(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """prod becomes production: publish writes env/production and never touches env/prod
    (agents may still read it); status names env/prod as retired, from the remote and from
    the remote-tracking branches alike."""
    repo = example_repo.workdir
    example_repo.remotes.create("origin", remote.path)
    assert hydrate("--repo", repo, "publish", *BYPASS, "--all", "--remote", "origin", "--push").code == 0
    old = remote.references["refs/heads/env/prod"].target
    for path in [Path(repo) / "fleet/environments.yaml",
                 *(Path(repo) / "fleet/clusters").glob("*.yaml")]:
        path.write_text(path.read_text().replace("name: prod\n", "name: production\n")
                        .replace("environment: prod\n", "environment: production\n"))
    commit_all(example_repo, "prod is now production")
    published = hydrate("--repo", repo, "publish", *BYPASS, "--all", "--remote", "origin", "--push")
    assert published.code == 0, published.err
    assert "env/production: pushed" in published.out
    assert "env/prod:" not in published.out
    assert remote.references["refs/heads/env/prod"].target == old
    for args in (("--remote", "origin"), ()):
        status = hydrate("--repo", repo, "status", *args)
        assert status.code == 0, status.err
        lines = status.out.splitlines()
        at = next(i for i, line in enumerate(lines) if line.split()[:2] == ["prod", "env/prod"])
        assert lines[at + 1].endswith(", 11 clusters (argocd); retired: not in "
                                      "fleet/environments.yaml"), lines
        assert lines[at + 2].strip() == ("agents reading this branch still apply it: point them "
                                         "elsewhere, then delete the branch")
        assert [ln.split()[0] for ln in lines if not ln.startswith(" ")] == \
            ["dev", "staging", "production", "prod"]
    gone = hydrate("--repo", repo, "publish", "--env", "prod")
    assert gone.code == 1
    assert gone.err.strip() == ("hydrate: error: unknown environment 'prod' "
                                "(fleet/environments.yaml has dev, staging, production)")
