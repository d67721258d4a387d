"""What a publish builds on and what it renders: the plan of an attempt against the branch
head (first publish, foreign heads, other tools, an unknown source, drift, incremental
reuse), the heads it refuses, and which branches hold the dry configuration (the checked
out one, the one named, the remote's default branch, also in a detached CI checkout)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pygit2
import pytest

from pipeline.config.model import Cluster, Environment, Inventory
from pipeline.errors import GitError, PipelineError
from pipeline.render import affected
from pipeline.render.tools import Tool, Toolset
from pipeline.sinks import ledger, planning
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote
from tests.conftest import commit_all
from tests.envbranch import bare, commit, make_ledger

TOOLS = Toolset(Tool("helm", ("helm",), "v4.1.4"), Tool("kustomize", ("kubectl", "kustomize"),
                                                              "v5.6.0"))
ENGINE = "e" * 64
DEV = Environment("dev", "env/dev", None)
SOURCE = "a" * 40
NAMES = ("store-1", "store-2", "store-3")


def inventory(*names: str, env: str = "dev") -> Inventory:
    clusters = {n: Cluster(n, f"fleet/clusters/{n}.yaml", "pop", n, env, {}, {}) for n in names}
    other = Cluster("prod-1", "fleet/clusters/prod-1.yaml", "pop", "p", "prod", {}, {})
    return Inventory((DEV,), {}, {**clusters, "prod-1": other}, {})


def branch_commit(repo: pygit2.Repository, names: tuple[str, ...] = NAMES, *,
                  edited: str | None = None, env: str = "dev", agent: str = "argocd",
                  tools: Toolset = TOOLS, engine: str = ENGINE,
                  parents: tuple[pygit2.Oid, ...] = ()) -> pygit2.Commit:
    """A commit hydrate could have written for `env`: one subtree per cluster, recorded in
    the ledger with its tree id and digest; `edited`: that cluster's files changed after
    (by hand, on the branch)."""
    files = {f"clusters/{n}/cm.yaml": f"name: {n}\n".encode() for n in names}
    index = pygit2.Index()
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    top = repo[index.write_tree(repo)]
    assert isinstance(top, pygit2.Tree)
    clusters_tree = repo[top["clusters"].id]
    assert isinstance(clusters_tree, pygit2.Tree)
    subtrees = {e.name: str(e.id) for e in clusters_tree}
    led = make_ledger(env, {n: SOURCE for n in names})
    led = replace(led, agent=agent, engine=engine,
                  tools={"helm": tools.helm.version, "kustomize": tools.kustomize.version},
                  clusters={n: replace(c, output=ledger.InTree(subtrees[n]))
                            for n, c in led.clusters.items()})
    if edited is not None:
        files[f"clusters/{edited}/cm.yaml"] += b"# hotfix\n"
    return commit(repo, "refs/heads/env/dev", led, "2026-11-30T08:00:00Z", parents, files=files)


def since(touched: tuple[str, ...] = (), env: str = "dev") -> planning.Since:
    def changes(commit: str) -> affected.Affected:
        assert commit == SOURCE
        return affected.Affected(tuple(affected.Pair(env, c, "app", "changed", ("x",))
                                       for c in touched), (), 3, 3)
    return changes


def unknown(commit: str) -> affected.Affected:
    raise PipelineError(f"{commit}: no such commit")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return bare(tmp_path)


# --- the plan ----------------------------------------------------------------------------

def test_a_first_publish_renders_every_cluster_of_the_environment(
        repo: pygit2.Repository) -> None:
    found = planning.plan(repo, None, DEV, inventory(*NAMES), TOOLS, ENGINE, False, since())
    assert found == planning.Plan(frozenset(NAMES), {}, "first publish")


def test_only_what_changed_since_the_branchs_source_is_rendered(
        repo: pygit2.Repository) -> None:
    base = branch_commit(repo)
    found = planning.plan(repo, base, DEV, inventory(*NAMES), TOOLS, ENGINE, False,
                          since(("store-2",)))
    assert found.render == frozenset({"store-2"})
    assert sorted(found.reuse) == ["store-1", "store-3"]
    recorded = ledger.read(repo, base)
    assert recorded is not None
    assert found.reuse["store-1"] == recorded.clusters["store-1"]  # with its subtree
    assert found.note == f"incremental: 1 of 3 clusters rendered since {SOURCE[:7]}"
    assert found.drifted == frozenset()
    # What the change touched in another environment is not rendered here.
    elsewhere = planning.plan(repo, base, DEV, inventory(*NAMES), TOOLS, ENGINE, False,
                              since(("store-2",), env="prod"))
    assert (elsewhere.render, sorted(elsewhere.reuse)) == (frozenset(), list(NAMES))


def test_a_cluster_new_to_the_inventory_is_rendered(repo: pygit2.Repository) -> None:
    base = branch_commit(repo, ("store-1",))
    found = planning.plan(repo, base, DEV, inventory("store-1", "store-2"), TOOLS, ENGINE,
                          False, since())
    assert (found.render, sorted(found.reuse)) == (frozenset({"store-2"}), ["store-1"])


@pytest.mark.parametrize(("change", "expected"), [
    ({"engine": "f" * 64}, "full render: tools or hydrate changed since the last publish"),
    ({"tools": Toolset(replace(TOOLS.helm, version="v4.2.0"), TOOLS.kustomize)},
     "full render: tools or hydrate changed since the last publish"),
    ({"tools": Toolset(TOOLS.helm, replace(TOOLS.kustomize, version="v5.7.0"))},
     "full render: tools or hydrate changed since the last publish"),
    ({"agent": "flux"}, "full render: tools or hydrate changed since the last publish"),
])
def test_other_tools_hydrate_or_agent_render_everything(repo: pygit2.Repository,
                                                        change: dict[str, object],
                                                        expected: str) -> None:
    base = branch_commit(repo, **change)  # type: ignore[arg-type]
    found = planning.plan(repo, base, DEV, inventory(*NAMES), TOOLS, ENGINE, False, since())
    assert found == planning.Plan(frozenset(NAMES), {}, expected)


def test_an_unknown_source_commit_renders_everything(repo: pygit2.Repository) -> None:
    base = branch_commit(repo)
    found = planning.plan(repo, base, DEV, inventory(*NAMES), TOOLS, ENGINE, False, unknown)
    assert found == planning.Plan(frozenset(NAMES), {}, "full render: the branch's source "
                                                        "commit is unknown here")


def test_a_cluster_edited_on_the_branch_is_rendered_again(repo: pygit2.Repository) -> None:
    base = branch_commit(repo, edited="store-3")
    found = planning.plan(repo, base, DEV, inventory(*NAMES), TOOLS, ENGINE, False, since())
    assert found.render == frozenset({"store-3"})
    assert found.drifted == frozenset({"store-3"})
    assert found.note == (f"incremental: 1 of 3 clusters rendered since {SOURCE[:7]}; restores "
                          "1 cluster edited on the branch: store-3")
    full = planning.plan(repo, base, DEV, inventory(*NAMES), TOOLS, ENGINE, True, since())
    assert (full.render, full.reuse, full.drifted) == (frozenset(NAMES), {},
                                                       frozenset({"store-3"}))
    assert full.note == "full render; restores 1 cluster edited on the branch: store-3"


def test_a_head_hydrate_did_not_write_is_rendered_in_full(repo: pygit2.Repository) -> None:
    other = commit(repo, "refs/heads/env/dev", None, "2026-11-30T08:00:00Z",
                   files={"app.yaml": b"kind: ConfigMap\n"})
    found = planning.plan(repo, other, DEV, inventory(*NAMES), TOOLS, ENGINE, False, since())
    assert found == planning.Plan(frozenset(NAMES), {}, "full render on a head hydrate did "
                                                        "not write (--force)")


def test_a_cluster_without_a_digest_or_a_subtree_is_not_reused(repo: pygit2.Repository) -> None:
    base = branch_commit(repo, ("store-1", "store-2"))
    led = ledger.read(repo, base)
    assert led is not None
    no_digest = replace(led, clusters={**led.clusters, "store-1": replace(
        led.clusters["store-1"], digest="")})
    assert sorted(planning.reusable(base, no_digest, ["store-1", "store-2"])) == ["store-2"]
    assert planning.reusable(base, led, ["store-9"]) == {}
    assert planning.same_tools(led, TOOLS, ENGINE)
    assert not planning.same_tools(led, TOOLS, "other")


# --- heads it builds on --------------------------------------------------------------------

def test_a_head_is_built_on_only_if_hydrate_wrote_it_for_this_environment(
        tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "config"), initial_head="main")
    (tmp_path / "config/fleet.yaml").write_text("a: 1\n")
    source = str(commit_all(repo, "Fleet"))
    ours = branch_commit(repo)
    planning.check_head(repo, ours, DEV, source, False)  # no error
    staging = branch_commit(repo, env="staging", parents=(ours.id,))
    with pytest.raises(GitError) as caught:
        planning.check_head(repo, staging, DEV, source, False)
    assert str(caught.value) == (
        f"environment dev: branch env/dev is not a hydrate environment branch (its head "
        f"{str(staging.id)[:7]} was written for environment staging, not dev); publish "
        "refuses to build on it: check the branch name in fleet/environments.yaml, or pass "
        "--force to build on that head anyway")
    planning.check_head(repo, staging, DEV, source, True)  # forced: allowed
    history = repo.revparse_single("main").peel(pygit2.Commit)
    for force in (False, True):
        with pytest.raises(GitError, match=r"branch env/dev holds source history \(its head "
                                           rf"{str(history.id)[:7]} shares commits with the "
                                           rf"source {source[:7]}\)"):
            planning.check_head(repo, history, DEV, source, force)


def test_the_head_is_the_local_branch_without_a_remote(repo: pygit2.Repository) -> None:
    assert planning.branch_head(repo, DEV, None) is None
    made = branch_commit(repo)
    found = planning.branch_head(repo, DEV, None)
    assert found is not None
    assert found.id == made.id


# --- source branches ------------------------------------------------------------------------

def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "advice.detachedHead=false", *args], cwd=cwd,
                          check=True, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(cwd),
                               "GIT_CONFIG_NOSYSTEM": "1"}).stdout


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A configuration repository on branch main, with a second branch `next`."""
    path = tmp_path / "upstream"
    repo = pygit2.init_repository(str(path), initial_head="main")
    (path / "fleet.yaml").write_text("a: 1\n")
    first = commit_all(repo, "Fleet")
    repo.create_branch("next", repo[first].peel(pygit2.Commit))
    return path


def _ci_checkout(upstream: Path, where: Path) -> pygit2.Repository:
    """What a CI job has: a clone with the commit checked out detached (no local branch
    is checked out), the remote's default branch known as origin/HEAD."""
    _git(where.parent, "clone", "-q", str(upstream), str(where))
    _git(where, "checkout", "-q", "--detach", "HEAD")
    repo = pygit2.Repository(str(where))
    assert repo.head_is_detached
    assert repo.references["refs/remotes/origin/HEAD"].target == "refs/remotes/origin/main"
    return repo


def test_the_remotes_default_branch_is_a_source_branch_in_a_detached_checkout(
        upstream: Path, tmp_path: Path) -> None:
    """Nothing checked out and HEAD given as the revision: main is still the branch that
    holds the configuration, because it is the remote's default."""
    repo = _ci_checkout(upstream, tmp_path / "ci")
    origin = Remote(repo, "origin", Credentials(), {"PATH": "/usr/bin:/bin"})
    assert planning.source_branches(repo, "HEAD", origin) == {"main"}
    assert planning.source_branches(repo, "HEAD", None) == {"main"}
    main_env = Environment("dev", "main", None)
    with pytest.raises(GitError) as caught:
        planning.refuse_source_branches(repo, (DEV, main_env), "HEAD", origin)
    assert str(caught.value) == (
        "fleet/environments.yaml: environment dev: branch main is the source branch (it holds "
        "the configuration hydrate renders); give dev a branch only hydrate writes (`branch: "
        "env/dev`, the default)")
    planning.refuse_source_branches(repo, (DEV,), "HEAD", origin)  # env/dev: fine


def test_another_remotes_default_branch_is_not_this_ones(upstream: Path, tmp_path: Path) -> None:
    """Publishing to remote `mirror`: origin's default branch is not a source branch there
    (it may well be an environment branch of the mirror)."""
    repo = _ci_checkout(upstream, tmp_path / "ci")
    mirror_path = tmp_path / "mirror.git"
    pygit2.init_repository(str(mirror_path), bare=True)
    repo.remotes.create("mirror", str(mirror_path))
    mirror = Remote(repo, "mirror", Credentials(), {"PATH": "/usr/bin:/bin"})
    assert planning.source_branches(repo, "HEAD", mirror) == set()
    by_url = Remote(repo, str(mirror_path), Credentials(), {"PATH": "/usr/bin:/bin"})
    assert planning.source_branches(repo, "HEAD", by_url) == set()


def test_the_checked_out_and_the_named_branches_are_source_branches(upstream: Path,
                                                                    tmp_path: Path) -> None:
    repo = pygit2.Repository(str(upstream))
    assert planning.source_branches(repo, "HEAD", None) == {"main"}
    assert planning.source_branches(repo, "next", None) == {"main", "next"}
    assert planning.source_branches(repo, "no-such-branch", None) == {"main"}
    clone = _ci_checkout(upstream, tmp_path / "ci")
    _git(tmp_path / "ci", "fetch", "-q", "origin")
    assert planning.source_branches(clone, "origin/next", None) == {"main", "next"}
    unborn = pygit2.init_repository(str(tmp_path / "new"), initial_head="trunk")
    assert planning.source_branches(unborn, "HEAD", None) == set()
