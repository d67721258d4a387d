"""`hydrate publish` with real repositories: a config repo, a bare remote, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pygit2
import pytest

from pipeline.render import tools
from pipeline.sinks import ledger
from tests import clirun
from tests.conftest import (
    BYPASS,
    ROOT,
    SIGNATURE,
    branch_files,
    commit_all,
    copy_example,
    hydrate,
    log,
    replace_in,
)
from tests.gitserver import GitServer, make_certificate


def _edit(repo: pygit2.Repository, rel: str, old: str, new: str) -> None:
    replace_in(Path(repo.workdir) / rel, old, new)


def _publish(repo: pygit2.Repository, remote: pygit2.Repository, *args: str,
             env: dict[str, str] | None = None) -> str:
    result = hydrate("--repo", repo.workdir, "publish", "--remote", remote.path, "--push", *args,
                     env=env)
    assert result.code == 0, result.err
    return result.out


def test_layout_metadata_and_trailers(example_repo: pygit2.Repository, remote: pygit2.Repository,
                                      toolset: tools.Toolset) -> None:
    _publish(example_repo, remote, "--all", *BYPASS)
    head = str(example_repo.head.target)
    expected = {"dev": {"dc-lab-1", "edge-lab", "office-lab", "store-lab"},
                "staging": {"dc-ams-1", "edge-lyon-plant", "store-0006"}}
    for env, clusters in expected.items():
        commit = remote.revparse_single(f"env/{env}").peel(pygit2.Commit)
        top = sorted(e.name for e in commit.tree)
        assert top == [".hydrate", "README.md", "clusters", "hydrator.metadata"]
        hydrator = json.loads(remote[commit.tree["hydrator.metadata"].id].data)
        assert (hydrator["drySha"], hydrator["subject"]) == (head, "Initial fleet")
        assert {e.name for e in remote[commit.tree["clusters"].id]} == clusters
        meta = json.loads(remote[commit.tree[".hydrate/metadata.json"].id].data)
        assert meta["source"]["commit"] == head
        assert meta["source"]["subject"] == "Initial fleet"
        assert meta["environment"] == env
        assert meta["branch"] == f"env/{env}"
        assert meta["tools"]["helm"] == toolset.helm.version
        assert meta["tools"]["kustomize"] == toolset.kustomize.version
        assert set(meta["clusters"]) == clusters
        assert all(len(c["digest"]) == 64 and c["objects"] > 0 for c in meta["clusters"].values())
        assert len(meta["inputsDigest"]) == 64
        readme = remote[commit.tree["README.md"].id].data.decode()
        assert head in readme
        assert f"hydrate render --env {env}" in readme
        assert commit.message.splitlines()[0] == f"{head[:7]}: Initial fleet"
        bypass = {} if env == "dev" else {"Hydrate-Bypass-Reason": BYPASS[2]}
        assert commit.message_trailers == {"Hydrate-Source-Commit": head,
                                           "Hydrate-Environment": env, **bypass}
        assert commit.parents == []


def test_a_publish_that_changes_nothing_makes_no_commit(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    _publish(example_repo, remote, "--env", "dev")
    before = remote.references["refs/heads/env/dev"].target
    (Path(example_repo.workdir) / "NOTES.md").write_text("not configuration\n")
    commit_all(example_repo, "Add notes")
    out = _publish(example_repo, remote, "--env", "dev")
    assert "no change, no commit" in out
    assert remote.references["refs/heads/env/dev"].target == before


def test_a_site_overlay_change_touches_only_that_site(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    _publish(example_repo, remote, "--env", "prod", *BYPASS)
    old = remote.revparse_single("env/prod").peel(pygit2.Commit)
    values = Path(example_repo.workdir) / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    values.write_text(values.read_text() + "bridge:\n  logLevel: debug\n")
    commit_all(example_repo, "Debug the MQTT bridge at the Hamburg port")
    out = _publish(example_repo, remote, "--env", "prod", *BYPASS)
    new = remote.revparse_single("env/prod").peel(pygit2.Commit)
    assert new.parents[0].id == old.id
    diff = remote.diff(old.tree, new.tree)
    paths = {p.delta.new_file.path for p in diff}
    cluster_paths = {p.split("/")[1] for p in paths if p.startswith("clusters/")}
    assert cluster_paths == {"edge-hamburg-port"}
    assert paths - {p for p in paths if p.startswith("clusters/")} <= {
        "README.md", ".hydrate/metadata.json", "hydrator.metadata"}
    assert "changed: edge-hamburg-port" in new.message
    assert "(1 changed; " in out
    assert "10 clusters reused" in out


def test_a_retired_cluster_disappears(example_repo: pygit2.Repository,
                                      remote: pygit2.Repository) -> None:
    _publish(example_repo, remote, "--env", "prod", *BYPASS)
    (Path(example_repo.workdir) / "fleet/clusters/store-0005.yaml").unlink()
    commit_all(example_repo, "Close store 0005")
    _publish(example_repo, remote, "--env", "prod", *BYPASS)
    commit = remote.revparse_single("env/prod").peel(pygit2.Commit)
    assert "store-0005" not in {e.name for e in remote[commit.tree["clusters"].id]}
    assert not any(p.startswith("clusters/store-0005/") for p in branch_files(remote, "env/prod"))
    meta = json.loads(remote[commit.tree[".hydrate/metadata.json"].id].data)
    assert "store-0005" not in meta["clusters"]
    assert "removed: store-0005" in commit.message


def test_history_only_moves_forward(example_repo: pygit2.Repository,
                                    remote: pygit2.Repository) -> None:
    heads = []
    for before, replicas in (("2", "3"), ("3", "4"), ("4", "5")):
        _edit(example_repo, "fleet/classes/pop.yaml", f"posReplicas: {before}",
              f"posReplicas: {replicas}  # was {before}")
        commit_all(example_repo, f"POS replicas {replicas}")
        _publish(example_repo, remote, "--env", "staging", *BYPASS)
        heads.append(remote.references["refs/heads/env/staging"].target)
    chain = [c.id for c in log(remote, "env/staging")]
    assert chain[:3] == list(reversed(heads))
    for commit in log(remote, "env/staging")[:-1]:
        assert len(commit.parents) == 1
    deployment = branch_files(remote, "env/staging")[
        "clusters/store-0006/pos-app/deployment.apps_pos_pos-app.yaml"]
    assert b"\n  replicas: 5\n" in deployment  # a number, the comment gone


def test_uncommitted_edits_do_not_leak(example_repo: pygit2.Repository,
                                       remote: pygit2.Repository, tmp_path: Path) -> None:
    values = Path(example_repo.workdir) / "overlays/classes/pop/pos-app/values.yaml.j2"
    committed = values.read_text()
    values.write_text(committed.replace("storeId:", "leakedEdit: true\nstoreId:"))
    _publish(example_repo, remote, "--env", "staging", *BYPASS)
    files = branch_files(remote, "env/staging", "clusters")
    assert not any(b"leakedEdit" in data for data in files.values())
    values.write_text(committed)
    out = tmp_path / "rendered"
    assert hydrate("--repo", example_repo.workdir, "render", "--env", "staging", "--out", out).code == 0
    rendered = {str(p.relative_to(out / "staging")): p.read_bytes()
                for p in (out / "staging").rglob("*") if p.is_file()}
    assert rendered == files  # the branch holds exactly `hydrate render` of the commit


def test_local_branches_without_a_remote(example_repo: pygit2.Repository) -> None:
    result = hydrate("--repo", example_repo.workdir, "publish", "--env", "dev")
    assert result.code == 0, result.err
    first = example_repo.references["refs/heads/env/dev"].target
    _edit(example_repo, "fleet/classes/edge.yaml", "agentReplicas: 1", "agentReplicas: 2")
    commit_all(example_repo, "Chattier edge logs")
    assert hydrate("--repo", example_repo.workdir, "publish", "--env", "dev").code == 0
    second = example_repo.references["refs/heads/env/dev"].target
    assert example_repo[second].parents[0].id == first


def _clone(source: pygit2.Repository, dest: Path) -> pygit2.Repository:
    return pygit2.clone_repository(source.workdir, str(dest))


def test_racing_publishers_end_with_one_commit(example_repo: pygit2.Repository,
                                               remote: pygit2.Repository, tmp_path: Path) -> None:
    """Two real processes, deterministically interleaved: the first is stopped just as it
    starts its `git push`, the second publishes the same source meanwhile; the first's
    push is refused (the branch moved), it fetches, rebuilds on the winner's commit, finds
    nothing left to change and says so."""
    _publish(example_repo, remote, "--env", "dev")
    before = len(log(remote, "env/dev"))
    _edit(example_repo, "fleet/classes/edge.yaml", "agentReplicas: 1", "agentReplicas: 3")
    commit_all(example_repo, "Debug logs on edge")
    first, second = (_clone(example_repo, tmp_path / f"clone{i}") for i in range(2))
    env = {"HYDRATE_CACHE_DIR": str(tmp_path / "cache")}
    args = ("publish", "--env", "dev", "--remote", remote.path, "--push")
    with clirun.paused("--repo", first.workdir, *args, env=env, event="subprocess.Popen",
                       needle=" push ") as loser:
        winner = clirun.run("--repo", second.workdir, *args, env=env)
        assert winner.code == 0, winner.err
        head = str(remote.references["refs/heads/env/dev"].target)
        assert f"env/dev: pushed {head[:7]} (1 changed;" in winner.out
        lost = loser.resume()
    assert lost.code == 0, lost.err
    assert str(remote.references["refs/heads/env/dev"].target) == head
    assert len(log(remote, "env/dev")) == before + 1
    (line,) = [x for x in lost.out.splitlines() if "env/dev:" in x]
    assert line.split("env/dev: ")[1].startswith(f"no change, no commit (head {head[:7]};"), line


def test_a_lost_race_is_rebuilt_on_the_new_head(example_repo: pygit2.Repository,
                                               remote: pygit2.Repository, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministically: a competing push lands between our fetch and our push."""
    from pipeline.commands import publish
    from pipeline.commands.context import Context
    from pipeline.sinks.remote import Remote

    other = _clone(example_repo, tmp_path / "other")
    real_push = Remote.push
    calls: list[str] = []

    def push_after_a_competitor(self: Remote, commit: pygit2.Oid, branch: str,
                                said: Callable[[str], None] | None = None) -> bool:
        if not calls:
            _edit(other, "fleet/classes/edge.yaml", "agentReplicas: 1", "agentReplicas: 4")
            commit_all(other, "Competing change")
            assert hydrate("--repo", other.workdir, "publish", "--env", "dev", "--remote",
                           remote.path, "--push").code == 0
        calls.append(branch)
        return real_push(self, commit, branch, said)

    monkeypatch.setattr(Remote, "push", push_after_a_competitor)
    ctx = Context(Path(example_repo.workdir), dict(os.environ), use_cache=False)
    report = publish.publish(ctx, publish.PublishOptions(("dev",), remote=remote.path, push=True,
                                                         jobs=2))
    (result,) = report.results
    assert result.attempts == 2
    assert result.pushed
    chain = log(remote, "env/dev")
    assert len(chain) == 2  # the competitor's commit, then ours on top of it
    assert chain[1].message.endswith("Hydrate-Environment: dev\n")
    assert chain[0].parents[0].id == chain[1].id


def test_a_branch_that_keeps_moving_gives_up_after_the_last_attempt(
        example_repo: pygit2.Repository, remote: pygit2.Repository,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A competitor moves the branch before each of our pushes (it re-publishes the older
    source, so every attempt has work to do): after MAX_ATTEMPTS pushes, one error naming
    the branch and the count, and none of our commits on the branch."""
    from pipeline.commands import publish
    from pipeline.commands.context import Context
    from pipeline.errors import GitError
    from pipeline.sinks.remote import Remote

    _publish(example_repo, remote, "--env", "dev")
    older = remote[remote.references["refs/heads/env/dev"].target].peel(pygit2.Commit)
    _edit(example_repo, "fleet/classes/edge.yaml", "agentReplicas: 1", "agentReplicas: 3")
    commit_all(example_repo, "Debug logs on edge")
    real_push = Remote.push
    ours: list[pygit2.Oid] = []

    def push_after_a_competitor(self: Remote, commit: pygit2.Oid, branch: str,
                                said: Callable[[str], None] | None = None) -> bool:
        ref = remote.references[f"refs/heads/{branch}"]
        who = pygit2.Signature("competitor", "c@example.com", older.committer.time + len(ours))
        ref.set_target(remote.create_commit(None, older.author, who, older.message,
                                            older.tree_id, [ref.target]))
        ours.append(commit)
        return real_push(self, commit, branch, said)

    monkeypatch.setattr(Remote, "push", push_after_a_competitor)
    ctx = Context(Path(example_repo.workdir), dict(os.environ), use_cache=False)
    with pytest.raises(GitError) as caught:
        publish.publish(ctx, publish.PublishOptions(("dev",), remote=remote.path, push=True))
    assert str(caught.value) == (f"env/dev: gave up after {publish.MAX_ATTEMPTS} attempts: other "
                                 "publishers kept moving the branch; run the publish again")
    assert len(ours) == publish.MAX_ATTEMPTS
    chain = log(remote, "env/dev")
    assert not {c.id for c in chain} & set(ours)
    assert [c.committer.name for c in chain[:publish.MAX_ATTEMPTS]] == \
        ["competitor"] * publish.MAX_ATTEMPTS


def test_a_remote_without_push_commits_locally_on_the_remote_head(
        example_repo: pygit2.Repository, remote: pygit2.Repository, tmp_path: Path) -> None:
    """`--remote` alone: build on the remote's head (fetched now), keep the commit in a
    local branch, push nothing: what a dry run before a push looks like."""
    other = _clone(example_repo, tmp_path / "other")
    _edit(other, "fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 3")
    commit_all(other, "Three POS replicas elsewhere")
    assert hydrate("--repo", other.workdir, "publish", "--env", "dev", "--remote", remote.path,
                   "--push").code == 0
    theirs = remote.references["refs/heads/env/dev"].target
    result = hydrate("--repo", example_repo.workdir, "publish", "--env", "dev", "--remote",
                     remote.path)
    assert result.code == 0, result.err
    local = example_repo.references["refs/heads/env/dev"].peel(pygit2.Commit)
    assert local.parent_ids == [theirs]
    assert f"env/dev: committed {str(local.id)[:7]} (1 changed;" in result.out
    assert remote.references["refs/heads/env/dev"].target == theirs
    assert len(log(remote, "env/dev")) == 1


def _recorded_as(remote: pygit2.Repository, branch: str, change: Callable[[dict[str, Any]], None]
                 ) -> None:
    """A commit on top of `branch` whose `.hydrate/metadata.json` says what `change` makes
    it say, as an older hydrate or other tool versions would have written it."""
    ref = remote.references[f"refs/heads/{branch}"]
    head = remote[ref.target].peel(pygit2.Commit)
    meta = json.loads(remote[head.tree[".hydrate/metadata.json"].id].data)
    change(meta)
    folder = remote.TreeBuilder(head.tree[".hydrate"])
    folder.insert("metadata.json", remote.create_blob(json.dumps(meta).encode()),
                  pygit2.GIT_FILEMODE_BLOB)
    top = remote.TreeBuilder(head.tree)
    top.insert(".hydrate", folder.write(), pygit2.GIT_FILEMODE_TREE)
    ref.set_target(remote.create_commit(None, head.author, head.committer, head.message,
                                        top.write(), [head.id]))


@pytest.mark.parametrize("what", ["helm", "kustomize", "engine"])
def test_other_tools_or_hydrate_on_the_branch_mean_a_full_render(
        example_repo: pygit2.Repository, remote: pygit2.Repository, what: str) -> None:
    """The branch was published with another helm, kustomize or hydrate: its clusters are
    not reused (they could render differently now); every cluster is rendered again."""
    _publish(example_repo, remote, "--env", "dev")

    def older(meta: dict[str, Any]) -> None:
        if what == "engine":
            meta["engine"] = "0" * 64
        else:
            meta["tools"][what] = "v0.0.1"

    _recorded_as(remote, "env/dev", older)
    _edit(example_repo, "fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 3")
    commit_all(example_repo, "Three POS replicas")
    lines = _publish(example_repo, remote, "--env", "dev").splitlines()
    assert "(1 changed; " in lines[1], lines
    assert lines[2].strip() == "full render: tools or hydrate changed since the last publish"
    assert lines[3].strip().startswith("rendered 4 clusters with "), lines
    led = ledger.read(remote, remote.references["refs/heads/env/dev"].peel(pygit2.Commit))
    assert led is not None
    assert led.engine != "0" * 64
    assert "v0.0.1" not in led.tools.values()


def test_the_same_tools_and_hydrate_reuse_untouched_clusters(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    _publish(example_repo, remote, "--env", "dev")
    _edit(example_repo, "fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 3")
    commit_all(example_repo, "Three POS replicas")
    lines = _publish(example_repo, remote, "--env", "dev").splitlines()
    assert "(1 changed; " in lines[1], lines
    assert lines[2].strip().startswith("incremental: 1 of 4 clusters rendered since ")
    assert lines[3].strip().startswith("rendered 1 cluster with "), lines


def test_branch_content_equals_render_of_the_commit(example_repo: pygit2.Repository,
                                                    remote: pygit2.Repository) -> None:
    _publish(example_repo, remote, "--all", *BYPASS)
    golden = ROOT / "tests/golden/rendered"
    for env in ("dev", "staging", "prod"):
        files = branch_files(remote, f"env/{env}", "clusters")
        expected = {str(p.relative_to(golden / env)): p.read_bytes()
                    for p in (golden / env).rglob("*") if p.is_file()}
        assert files == expected


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_https_remote_with_a_token(example_repo: pygit2.Repository, tmp_path: Path,
                                   certificate: tuple[Path, Path]) -> None:
    served = tmp_path / "served"
    bare = pygit2.init_repository(str(served / "fleet.git"), bare=True)
    with GitServer(served, "t0ken", certificate) as server:
        url = server.url("fleet.git")
        env = {"SSL_CERT_FILE": str(certificate[0])}
        bad = hydrate("--repo", example_repo.workdir, "publish", "--remote", url, "--push",
                      env={**env, "HYDRATE_GIT_TOKEN": "wrong"})
        assert bad.code == 1
        assert bad.err.strip() == (f"hydrate: error: {url}: authentication failed; check "
                                   "HYDRATE_GIT_TOKEN / GITHUB_TOKEN (is it valid, with write access?)")
        assert list(bare.references) == []
        none = hydrate("--repo", example_repo.workdir, "publish", "--remote", url, "--push", env=env)
        assert none.code == 1
        assert "set HYDRATE_GIT_TOKEN" in none.err
        good = hydrate("--repo", example_repo.workdir, "publish", "--remote", url, "--push",
                       env={**env, "GITHUB_TOKEN": "t0ken"})
        assert good.code == 0, good.err
        assert "dev        env/dev: pushed" in good.out
        assert server.requests > 0
    assert sorted(bare.references) == ["refs/heads/env/dev", "refs/notes/hydrator.metadata"]
    assert "t0ken" not in good.out + good.err


def test_a_token_in_the_remote_url_appears_nowhere(example_repo: pygit2.Repository,
                                                  tmp_path: Path,
                                                  certificate: tuple[Path, Path]) -> None:
    """`https://user:TOKEN@host/...` as origin's URL (what some CI systems configure): the
    token authenticates, and is in no output, error, commit, branch file or reflog."""
    served = tmp_path / "served"
    bare = pygit2.init_repository(str(served / "fleet.git"), bare=True)
    repo = example_repo.workdir
    env = {"SSL_CERT_FILE": str(certificate[0])}
    said: list[str] = []
    with GitServer(served, "s3cr3t-t0ken", certificate) as server:
        url = server.url("fleet.git")
        secret = url.replace("https://", "https://x-access-token:s3cr3t-t0ken@")
        wrong = url.replace("https://", "https://x-access-token:wr0ng-t0ken@")
        example_repo.remotes.create("origin", wrong)
        refused = hydrate("--repo", repo, "publish", "--remote", "origin", "--push", env=env)
        assert refused.code == 1
        assert refused.err.strip() == (f"hydrate: error: {url}: authentication failed; check "
                                       "the token in the remote's URL (is it valid, with write "
                                       "access?)")
        said += [refused.out, refused.err]
        example_repo.remotes.set_url("origin", secret)
        for args in (("publish", *BYPASS, "--all", "--remote", "origin", "--push"),
                     ("status", "--remote", "origin"), ("status",),
                     ("history", "--env", "dev", "--remote", "origin"),
                     ("diff", "--against-branch", "--remote", "origin", "--format", "json"),
                     ("bootstrap", "--env", "prod")):
            result = hydrate("--repo", repo, *args, env=env)
            assert result.code == 0, (args, result.err)
            said += [result.out, result.err]
    assert sorted(bare.references) == ["refs/heads/env/dev", "refs/heads/env/prod",
                                       "refs/heads/env/staging", "refs/notes/hydrator.metadata"]
    assert f"{url.rstrip('/')}" in said[2]  # the URL is named, without its user and token
    for name in ("env/dev", "env/staging", "env/prod"):
        commit = bare.revparse_single(name).peel(pygit2.Commit)
        said.append(commit.message)
        said += [data.decode() for data in branch_files(bare, name).values()]
    for ref in example_repo.references:
        said += [e.message or "" for e in example_repo.references[ref].log()]
    for text in said:
        assert "t0ken" not in text
        assert "x-access-token@" not in text


def test_unreachable_remote_is_a_clear_error_and_writes_nothing(
        example_repo: pygit2.Repository, tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    refs_before = set(example_repo.references)
    result = hydrate("--repo", example_repo.workdir, "publish", "--remote",
                     "https://127.0.0.1:9/fleet.git", "--push")
    assert result.code == 1
    assert result.err.startswith("hydrate: error: cannot reach https://127.0.0.1:9/fleet.git: ")
    missing = hydrate("--repo", example_repo.workdir, "publish", "--remote",
                      str(tmp_path / "no-such.git"), "--push")
    assert missing.code == 1
    assert "no-such.git" in missing.err
    with GitServer(tmp_path, "t", certificate) as server:
        untrusted = hydrate("--repo", example_repo.workdir, "publish", "--remote",
                            server.url("x.git"), "--push", env={"GITHUB_TOKEN": "t"})
    assert untrusted.code == 1
    assert "TLS certificate is not trusted" in untrusted.err
    assert set(example_repo.references) == refs_before


def test_push_needs_a_remote(example_repo: pygit2.Repository) -> None:
    result = hydrate("--repo", example_repo.workdir, "publish", "--push")
    assert result.code == 2  # a usage error
    assert "Error: --push needs --remote" in result.err


def test_a_refused_environment_stops_the_rest_and_says_what_stays(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    hook = Path(remote.path) / "hooks/pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n"
                    "  if [ \"$ref\" = refs/heads/env/staging ]; then\n"
                    "    echo 'staging is frozen until Monday' >&2; exit 1\n  fi\ndone\n")
    hook.chmod(0o755)
    result = hydrate("--repo", example_repo.workdir, "publish", *BYPASS, "--all", "--remote", remote.path,
                     "--push")
    assert result.code == 1
    dev = str(remote.references["refs/heads/env/dev"].target)
    lines = result.out.splitlines()
    assert lines[1].startswith(f"  dev        env/dev: pushed {dev[:7]} (")
    refused = lines.index("  staging    env/staging: refused by the remote (pre-receive hook "
                          "declined)")
    assert lines[refused + 1:refused + 3] == ["             remote: staging is frozen until Monday",
                                              "  prod       env/prod: not tried"]
    assert result.err.strip() == (
        f"hydrate: error: publish stopped at staging: {remote.path.rstrip('/')} refused the push "
        "to env/staging (pre-receive hook declined); the remote said: staging is frozen until "
        "Monday; dev stays pushed (nothing is undone); not tried: prod")
    assert sorted(remote.references) == ["refs/heads/env/dev", "refs/notes/hydrator.metadata"]


def test_a_cluster_that_does_not_render_publishes_nothing_anywhere(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    # The last environment fails: every environment renders before the first push.
    values = Path(example_repo.workdir) / "overlays/clusters/store-0003/pos-app/values.yaml"
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text("storeId: null\n")  # the chart requires it
    commit_all(example_repo, "Break one prod store")
    result = hydrate("--repo", example_repo.workdir, "publish", *BYPASS, "--all", "--remote", remote.path,
                     "--push")
    assert result.code == 1
    assert "store-0003/pos-app: helm failed" in result.err
    assert list(remote.references) == []


def test_not_a_git_repository(example: Path) -> None:
    shutil.rmtree(example / ".git", ignore_errors=True)
    result = hydrate("--repo", example, "publish")
    assert result.code == 1
    assert "not inside a git repository" in result.err


# --- branches hydrate owns, and drift --------------------------------------------------------

def _commit_files(repo: pygit2.Repository, ref: str, files: dict[str, bytes], message: str,
                  parents: list[pygit2.Oid], links: frozenset[str] = frozenset()) -> pygit2.Oid:
    """A commit holding exactly `files` (those in `links` as symbolic links to what they
    hold), as a person or another tool would make it."""
    index = pygit2.Index()
    for path, data in sorted(files.items()):
        mode = pygit2.enums.FileMode.LINK if path in links else pygit2.enums.FileMode.BLOB
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), mode))
    return repo.create_commit(ref, SIGNATURE, SIGNATURE, message, index.write_tree(repo), parents)


def _rendered(repo: Path, env: str, out: Path) -> dict[str, bytes]:
    """What `hydrate render --env ENV` writes for the configuration at `repo`, by path."""
    result = hydrate("--repo", repo, "render", "--env", env, "--out", out)
    assert result.code == 0, result.err
    return {str(p.relative_to(out / env)): p.read_bytes()
            for p in (out / env).rglob("*") if p.is_file()}


def test_an_environment_branch_may_not_be_the_source_branch(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    _edit(example_repo, "fleet/environments.yaml", "branch: env/dev", "branch: main")
    commit_all(example_repo, "Publish dev to main")
    main = example_repo.references["refs/heads/main"].target
    for args in ((), ("--force",), ("--remote", remote.path, "--push", "--force")):
        result = hydrate("--repo", example_repo.workdir, "publish", *args)
        assert result.code == 1, result.out
        assert ("fleet/environments.yaml: environment dev: branch main is the source branch"
                in result.err)
    assert example_repo.references["refs/heads/main"].target == main
    assert list(remote.references) == []


def test_the_remotes_default_branch_is_the_source_branch_in_a_detached_ci_checkout(
        example_repo: pygit2.Repository, tmp_path: Path) -> None:
    """CI clones the repository and checks the commit out detached: no branch is checked
    out, yet main (origin's default branch) holds the configuration, so dev may not be
    published onto it."""
    _edit(example_repo, "fleet/environments.yaml", "branch: env/dev", "branch: main")
    commit_all(example_repo, "Publish dev to main")
    main = example_repo.references["refs/heads/main"].target
    ci = tmp_path / "ci"
    git = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["clone", "-q", example_repo.workdir, str(ci)],
                 ["-C", str(ci), "-c", "advice.detachedHead=false", "checkout", "-q",
                  "--detach", str(main)]):
        subprocess.run(["git", *args], check=True, env=git, capture_output=True)
    assert pygit2.Repository(str(ci)).head_is_detached
    result = hydrate("--repo", ci, "publish", "--env", "dev", "--remote", "origin", "--push")
    assert result.code == 1, result.out + result.err
    assert result.err == (
        "hydrate: error: fleet/environments.yaml: environment dev: branch main is the source "
        "branch (it holds the configuration hydrate renders); give dev a branch only hydrate "
        "writes (`branch: env/dev`, the default)\n")
    assert example_repo.references["refs/heads/main"].target == main


def test_a_branch_moved_onto_source_history_is_refused_even_with_force(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    _publish(example_repo, remote, "--env", "dev")
    origin = example_repo.remotes.create("origin", remote.path)
    origin.push(["+refs/heads/main:refs/heads/env/dev"])  # someone force-pushed main there
    moved = remote.references["refs/heads/env/dev"].target
    _edit(example_repo, "fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 3")
    commit_all(example_repo, "Three POS replicas")
    for force in ((), ("--force",)):
        result = hydrate("--repo", example_repo.workdir, "publish", "--remote", remote.path,
                         "--push", *force)
        assert result.code == 1, result.out
        assert "environment dev: branch env/dev holds source history" in result.err
    assert remote.references["refs/heads/env/dev"].target == moved


def test_a_head_hydrate_did_not_write_needs_force(example_repo: pygit2.Repository,
                                                  remote: pygit2.Repository,
                                                  tmp_path: Path) -> None:
    other = _commit_files(remote, "refs/heads/env/dev", {"app.yaml": b"kind: ConfigMap\n"},
                          "Another tool's branch", [])
    refused = hydrate("--repo", example_repo.workdir, "publish", "--remote", remote.path, "--push")
    assert refused.code == 1
    assert refused.err == (
        f"hydrate: error: environment dev: branch env/dev is not a hydrate environment branch "
        f"(its head {str(other)[:7]} has no .hydrate/metadata.json: hydrate did not write it); "
        "publish refuses to build on it: check the branch name in fleet/environments.yaml, or "
        "pass --force to build on that head anyway\n")
    assert remote.references["refs/heads/env/dev"].target == other
    forced = _publish(example_repo, remote, "--force")
    assert "full render on a head hydrate did not write (--force)" in forced
    head = remote.revparse_single("env/dev").peel(pygit2.Commit)
    assert [p.id for p in head.parents] == [other]
    assert branch_files(remote, "env/dev", "clusters") == _rendered(
        Path(example_repo.workdir), "dev", tmp_path / "rendered")
    assert "app.yaml" not in head.tree
    # A head hydrate wrote for another environment is not this one's either.
    _publish(example_repo, remote, "--env", "staging", *BYPASS)
    remote.references["refs/heads/env/dev"].set_target(
        remote.references["refs/heads/env/staging"].target)
    mixed = hydrate("--repo", example_repo.workdir, "publish", "--remote", remote.path, "--push")
    assert mixed.code == 1
    assert "was written for environment staging, not dev" in mixed.err


@pytest.mark.parametrize("how", ["incremental", "full", "metadata without tree ids"])
def test_hand_edits_on_the_branch_are_restored(example_repo: pygit2.Repository, how: str) -> None:
    repo = example_repo.workdir
    assert hydrate("--repo", repo, "publish", "--env", "dev").code == 0
    published = branch_files(example_repo, "env/dev")
    edited = dict(published)
    path = next(p for p in sorted(edited) if p.startswith("clusters/store-lab/pos-app/")
                and not p.endswith("kustomization.yaml"))
    edited[path] += b"# hotfix made on the branch\n"
    edited.pop("clusters/edge-lab/namespaces/kustomization.yaml")
    if how == "metadata without tree ids":  # as hydrate wrote it before it recorded them
        meta = json.loads(edited[".hydrate/metadata.json"])
        for entry in meta["clusters"].values():
            del entry["tree"]
        edited[".hydrate/metadata.json"] = json.dumps(meta).encode()
    head = example_repo.references["refs/heads/env/dev"].target
    _commit_files(example_repo, "refs/heads/env/dev", edited, "Hotfix by hand", [head])

    status = hydrate("--repo", repo, "status")
    assert status.code == 0, status.err
    assert ("drift: 2 clusters edited on the branch (edge-lab, store-lab); the next publish "
            "restores them") in status.out
    assert "committed by hand" in status.out
    result = hydrate("--repo", repo, "publish", "--env", "dev",
                     *(["--full"] if how == "full" else []))
    assert result.code == 0, result.err
    assert "restores 2 clusters edited on the branch: edge-lab, store-lab" in result.out
    commit = example_repo.revparse_single("env/dev").peel(pygit2.Commit)
    assert "restored (edited on the branch): edge-lab, store-lab" in commit.message
    assert branch_files(example_repo, "env/dev", "clusters") == {
        p.removeprefix("clusters/"): data for p, data in published.items()
        if p.startswith("clusters/")}
    meta = json.loads(example_repo[commit.tree[".hydrate/metadata.json"].id].data)
    clusters = example_repo[commit.tree["clusters"].id]
    assert {e.name: str(e.id) for e in clusters} == {
        name: entry["tree"] for name, entry in meta["clusters"].items()}
    after = hydrate("--repo", repo, "status")
    assert "drift" not in after.out
    assert "up to date" in after.out


def test_a_link_committed_on_the_branch_is_drift_and_is_removed(
        example_repo: pygit2.Repository) -> None:
    """A symbolic link committed into a cluster's folder on the branch (an agent running
    `kubectl kustomize` would follow it) is an edit like any other: the next publish puts
    the cluster back as rendered, without the link."""
    repo = example_repo.workdir
    assert hydrate("--repo", repo, "publish", "--env", "dev").code == 0
    published = branch_files(example_repo, "env/dev")
    link = "clusters/store-lab/pos-app/passwd.yaml"
    head = example_repo.references["refs/heads/env/dev"].target
    _commit_files(example_repo, "refs/heads/env/dev", {**published, link: b"/etc/passwd"},
                  "A link by hand", [head], links=frozenset({link}))
    status = hydrate("--repo", repo, "status")
    assert "drift: 1 cluster edited on the branch (store-lab); the next publish restores them" \
        in status.out, status.out
    result = hydrate("--repo", repo, "publish", "--env", "dev")
    assert result.code == 0, result.err
    assert "restores 1 cluster edited on the branch: store-lab" in result.out
    tree = example_repo.revparse_single("env/dev").peel(pygit2.Commit).tree
    assert "passwd.yaml" not in {e.name for e in example_repo[tree["clusters/store-lab/pos-app"].id]}
    assert branch_files(example_repo, "env/dev", "clusters") == {
        p.removeprefix("clusters/"): data for p, data in published.items()
        if p.startswith("clusters/")}


def test_configuration_in_a_subfolder_of_a_bigger_repository(
        tmp_path: Path, remote: pygit2.Repository) -> None:
    top = tmp_path / "monorepo"
    copy_example(top / "platform/fleet")
    (top / "README.md").write_text("Everything the company runs.\n")
    repo = pygit2.init_repository(str(top), initial_head="main")
    commit_all(repo, "Monorepo")
    result = hydrate("--repo", top / "platform/fleet", "publish", "--remote", remote.path,
                     "--push")
    assert result.code == 0, result.err
    assert branch_files(remote, "env/dev", "clusters") == _rendered(
        top / "platform/fleet", "dev", tmp_path / "rendered")
    commit = remote.revparse_single("env/dev").peel(pygit2.Commit)
    meta = json.loads(remote[commit.tree[".hydrate/metadata.json"].id].data)
    assert meta["source"]["path"] == "platform/fleet"
    readme = remote[commit.tree["README.md"].id].data.decode()
    assert "hydrate --repo platform/fleet render --env dev" in readme
    # An incremental publish finds what the change touches inside the folder.
    replace_in(top / "platform/fleet/fleet/classes/pop.yaml", "posReplicas: 2", "posReplicas: 5")
    commit_all(repo, "Five POS replicas")
    again = hydrate("--repo", top / "platform/fleet", "publish", "--remote", remote.path,
                    "--push")
    assert again.code == 0, again.err
    assert "incremental: 1 of 4 clusters rendered" in again.out
    assert "changed: store-lab" in remote.revparse_single("env/dev").peel(pygit2.Commit).message


def test_an_author_that_is_not_name_and_email_is_refused(example_repo: pygit2.Repository) -> None:
    result = hydrate("--repo", example_repo.workdir, "publish", "--author", "release-bot")
    assert result.code == 1
    assert result.err.strip() == ("hydrate: error: --author 'release-bot': expected "
                                  "\"Name <email>\"")
    assert "refs/heads/env/dev" not in example_repo.references
    named = hydrate("--repo", example_repo.workdir, "publish", "--author",
                    "Release Bot <release@example.com>")
    assert named.code == 0, named.err
    commit = example_repo.revparse_single("env/dev").peel(pygit2.Commit)
    assert (commit.author.name, commit.author.email) == ("Release Bot", "release@example.com")
