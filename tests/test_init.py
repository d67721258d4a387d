"""`hydrate init`: a new configuration repository that renders, validates, publishes and
diffs as created; refusals that write nothing; the example fleet; the workflows it ships."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pygit2
import pytest
import yaml

from pipeline import __version__
from pipeline.commands.init import InitOptions, plan
from pipeline.render import tools
from tests import clirun
from tests.conftest import FLEET_DIRS, ROOT, branch_files, commit_all, hydrate, replace_in
from tests.test_workflows import PINNED, assert_valid_workflow

SCAFFOLD = ROOT / "pipeline" / "scaffold"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_a_new_repository_renders_publishes_and_diffs(tmp_path: Path, remote: pygit2.Repository,
                                                       toolset: tools.Toolset) -> None:
    config = tmp_path / "fleet-config"
    made = hydrate("init", config, cwd=tmp_path)
    assert made.code == 0, made.err
    assert "new git repository (branch main)" in made.out
    assert "hydrate explain dev-1 hello" in made.out  # next steps name a real cluster and package
    repo = pygit2.Repository(str(config))
    assert repo.head_is_unborn
    assert repo.references["HEAD"].target == "refs/heads/main"
    commit_all(repo, "Start the fleet configuration")

    rendered = hydrate("render", cwd=config)
    assert rendered.code == 0, rendered.err
    assert "0 errors, 0 warnings" in rendered.out
    cluster = config / "rendered" / "dev" / "dev-1"
    assert sorted(p.relative_to(cluster).as_posix() for p in cluster.rglob("*.yaml")) == [
        "hello/deployment.apps_hello_hello.yaml", "hello/kustomization.yaml",
        "hello/service_hello_hello.yaml", "kustomization.yaml", "namespaces/kustomization.yaml",
        "namespaces/namespace_hello.yaml"]
    deployment = yaml.safe_load((cluster / "hello/deployment.apps_hello_hello.yaml").read_text())
    assert deployment["spec"]["replicas"] == 1  # the cluster's var over the class's
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "PODINFO_UI_MESSAGE", "value": "hello from dev-1 (dev)"}]  # the .j2 overlay
    # What Argo CD and Flux do with the path works.
    built = subprocess.run([*toolset.kustomize.argv, str(cluster)], capture_output=True, text=True,
                           check=True).stdout
    assert [d["kind"] for d in yaml.safe_load_all(built)] == ["Namespace", "Service", "Deployment"]

    validated = hydrate("validate", cwd=config)
    assert validated.code == 0, validated.err
    assert "0 errors, 0 warnings" in validated.out

    published = hydrate("publish", "--remote", remote.path, "--push", cwd=config)
    assert published.code == 0, published.err
    branch = branch_files(remote, "refs/heads/env/dev")
    assert branch["clusters/dev-1/hello/deployment.apps_hello_hello.yaml"] == \
        (cluster / "hello/deployment.apps_hello_hello.yaml").read_bytes()
    assert json.loads(branch[".hydrate/metadata.json"])["environment"] == "dev"

    replace_in(config / "fleet/clusters/dev-1.yaml", "helloReplicas: 1", "helloReplicas: 3")
    commit_all(repo, "dev-1: three replicas of hello")
    diff = hydrate("diff", "--base", "HEAD~1", "--format", "json", cwd=config)
    assert diff.code == 0, diff.err
    report = json.loads(diff.out)
    assert report["summary"]["clustersChanged"] == 1
    assert report["summary"]["objectsChanged"] == 1
    [variant] = [v for g in report["groups"] for v in g["variants"]]
    assert [c["cluster"] for c in variant["clusters"]] == ["dev-1"]
    assert [(o["package"], o["kind"], o["name"], o["paths"]) for o in variant["objects"]] == \
        [("hello", "Deployment", "hello", ["spec.replicas"])]
    assert "-  replicas: 1\n+  replicas: 3\n" in variant["objects"][0]["diff"]


def test_the_example_fleet_is_copied_whole(tmp_path: Path) -> None:
    config = tmp_path / "example"
    made = hydrate("init", "--from-example", config)
    assert made.code == 0, made.err
    files = _files(config)
    for top in FLEET_DIRS:
        assert {p: c for p, c in files.items() if p.startswith(f"{top}/")} == \
            {f"{top}/{p}": c for p, c in _files(ROOT / top).items()}
    # The rest of the scaffold comes along; the README names a cluster of this fleet.
    assert {".github/workflows/render.yml", ".gitignore", ".github/hydrate-requirements.txt"} <= set(files)
    readme = files["README.md"].decode()
    cluster = re.search(r"hydrate explain (\S+) (\S+)", readme)
    assert cluster is not None
    assert (config / "fleet/clusters" / f"{cluster[1]}.yaml").is_file()
    assert (config / "bases" / cluster[2] / "package.yaml").is_file()
    assert "dev-1" not in readme
    assert "${" not in readme
    commit_all(pygit2.Repository(str(config)), "example")
    validated = hydrate("validate", "--env", "dev", cwd=config)
    assert validated.code == 0, validated.err
    assert ": 0 errors, 0 warnings" in validated.out


def test_a_non_empty_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n")
    result = hydrate("init", target)
    assert result.code == 1
    assert result.err == (f"hydrate: error: {target}: not empty (notes.txt); choose a new directory, "
                          "or give --force to add the files that are missing (existing files are kept)\n")
    assert _files(target) == {"notes.txt": b"mine\n"}
    assert not (target / ".git").exists()

    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert hydrate("init", a_file).err == (f"hydrate: error: init {a_file}: exists and is a file, "
                                           "not a directory; give another path\n")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "empty", target_is_directory=True)
    (tmp_path / "empty").mkdir()
    assert hydrate("init", link).err == (f"hydrate: error: init {link}: is a symbolic link; hydrate "
                                         "never writes through one: give the directory itself, or a "
                                         "new path\n")
    assert list((tmp_path / "empty").iterdir()) == []


def test_force_adds_what_is_missing_and_keeps_every_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "adopt"
    (target / "fleet/clusters").mkdir(parents=True)
    (target / "README.md").write_text("# Our fleet\n")
    ours = "name: dev-1\nclass: standard\nenvironment: dev\nlabels: {team: ours}\n"
    (target / "fleet/clusters/dev-1.yaml").write_text(ours)
    result = hydrate("init", "--force", target)
    assert result.code == 0, result.err
    assert "2 kept as they were" in result.out
    assert "  kept README.md\n  kept fleet/clusters/dev-1.yaml\n" in result.out
    assert (target / "README.md").read_text() == "# Our fleet\n"
    assert (target / "fleet/clusters/dev-1.yaml").read_text() == ours
    scaffold = _files(SCAFFOLD)
    assert (target / "bases/hello/chart/Chart.yaml").read_bytes() == scaffold["bases/hello/chart/Chart.yaml"]
    assert (target / ".git").is_dir()


def test_force_over_kept_files_that_do_not_load_names_them_and_writes_nothing(tmp_path: Path) -> None:
    """The help says the result renders and validates: a kept file that breaks the
    configuration is named (file and line) before anything is added."""
    target = tmp_path / "adopt"
    (target / "fleet").mkdir(parents=True)
    (target / "fleet/environments.yaml").write_text("environments: [dev\n")
    before = _files(target)
    result = hydrate("init", "--force", target)
    assert result.code == 1
    assert result.err.startswith(f"hydrate: error: {target}: the files kept would not load with the "
                                 "new ones: fleet/environments.yaml:2: YAML syntax error: ")
    assert result.err.endswith("; fix that and run init --force again (nothing was written)\n")
    assert result.err.count("\n") == 1
    assert _files(target) == before
    assert not (target / ".git").exists()
    assert "initialised" not in result.out

    # Valid YAML that does not fit the rest: a class the kept cluster names does not exist.
    (target / "fleet/environments.yaml").unlink()
    (target / "fleet/clusters").mkdir()
    (target / "fleet/clusters/edge-1.yaml").write_text("name: edge-1\nclass: edge\nenvironment: dev\n")
    result = hydrate("init", "--force", target)
    assert result.code == 1
    assert ": fleet/clusters/edge-1.yaml:2: class: unknown class 'edge'" in result.err
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "fleet", "fleet/clusters", "fleet/clusters/edge-1.yaml"]


def test_a_folder_of_a_repository_gets_no_workflows_github_would_never_run(tmp_path: Path) -> None:
    mono = tmp_path / "mono"
    pygit2.init_repository(str(mono), initial_head="main")
    result = hydrate("init", mono / "platform/cfg")
    assert result.code == 0, result.err
    assert not (mono / "platform/cfg/.github/workflows").exists()
    assert not (mono / ".github").exists()  # the root's own workflows are theirs
    assert (mono / "platform/cfg/.github/hydrate-requirements.txt").is_file()  # the pin
    assert (f"workflows not written: {mono / 'platform/cfg'} is a folder of the git repository "
            f"{mono.resolve()}, and GitHub runs only the workflows in "
            f"{mono.resolve() / '.github/workflows'}; see hydrate's docs/install.md") in result.out
    # At the root of a repository (`git init` first) they are written.
    own = tmp_path / "own"
    pygit2.init_repository(str(own), initial_head="main")
    done = hydrate("init", own)
    assert done.code == 0, done.err
    assert "workflows not written" not in done.out
    assert sorted(p.name for p in (own / ".github/workflows").iterdir()) == sorted(
        p.name for p in SCAFFOLD_WORKFLOWS)


def test_files_and_folders_get_the_umasks_modes(tmp_path: Path) -> None:
    target = tmp_path / "private"
    result = clirun.run("init", target, preexec=[clirun.umask(0o027)])
    assert result.code == 0, result.err
    modes = {p.stat().st_mode & 0o777 for p in target.rglob("*") if ".git" not in p.parts}
    assert modes == {0o640, 0o750}
    assert target.stat().st_mode & 0o777 == 0o750


def test_force_never_writes_through_a_symlink_out_of_the_directory(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "bases").symlink_to(outside)
    result = hydrate("init", "--force", target)
    assert result.code == 1
    assert "its directory leads outside" in result.err
    assert "nothing was written" in result.err
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in target.iterdir()) == ["bases"]

    (target / "bases").unlink()
    (target / "fleet").write_text("a file where a directory goes\n")
    result = hydrate("init", "--force", target)
    assert result.err == (f"hydrate: error: {target / 'fleet'}: is a file, but fleet/classes/standard.yaml "
                          "goes below it; move it away or choose a new directory; nothing was written\n")
    assert sorted(p.name for p in target.iterdir()) == ["fleet"]


def test_a_directory_that_cannot_be_written_is_one_line_and_nothing_is_left(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    result = clirun.run("init", parent / "config", preexec=[clirun.honour_permissions])
    assert result.code == 1, result.err
    assert result.err.startswith(f"hydrate: error: {parent / 'config'}: cannot write: ")
    assert result.err.count("\n") == 1
    assert list(parent.iterdir()) == []


def test_a_git_repository_alone_counts_as_empty_and_a_monorepo_folder_gets_no_nested_git(
        tmp_path: Path) -> None:
    own = tmp_path / "own"
    pygit2.init_repository(str(own), initial_head="trunk")
    result = hydrate("init", own)
    assert result.code == 0, result.err
    assert "new git repository" not in result.out
    assert pygit2.Repository(str(own)).references["HEAD"].target == "refs/heads/trunk"  # theirs

    mono = tmp_path / "mono"
    repo = pygit2.init_repository(str(mono), initial_head="main")
    assert hydrate("init", mono / "platform" / "fleet-config").code == 0
    assert not (mono / "platform/fleet-config/.git").exists()
    commit_all(repo, "fleet config as a folder of a bigger repository")
    rendered = hydrate("--repo", mono / "platform/fleet-config", "render", "--out", tmp_path / "out")
    assert rendered.code == 0, rendered.err
    assert (tmp_path / "out/dev/dev-1/hello/deployment.apps_hello_hello.yaml").is_file()


def test_an_interrupted_init_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "half"
    stopped = clirun.interrupted("init", target, env=clirun.environment(), needle=".half.init-",
                                 nth=5, signum=signal.SIGTERM)
    assert stopped.code == 143, stopped.err
    assert list(tmp_path.iterdir()) == []  # neither the directory nor its staging copy
    crashed = clirun.failing("init", target, env=clirun.environment(), event="os.rename",
                             needle=".half.init-", nth=3)
    assert crashed.code == 3
    assert list(tmp_path.iterdir()) == []

    # An empty directory (`mkdir x && cd x && hydrate init .`) is filled by moving the top
    # entries in: stopped after the first of them, it is empty again.
    target.mkdir()
    files, _, _ = plan(InitOptions(target))
    moving = clirun.interrupted("init", target, env=clirun.environment(), needle=".half.init-",
                                nth=len(files) + 2, signum=signal.SIGTERM)
    assert moving.code == 143, moving.err
    assert [p.name for p in tmp_path.iterdir()] == ["half"]
    assert list(target.iterdir()) == []


def test_a_directory_made_by_someone_else_meanwhile_is_left_alone(tmp_path: Path) -> None:
    """Another process creates the directory while init builds its copy beside it: the
    rename fails, one line says so, theirs is untouched and no copy is left."""
    target = tmp_path / "race"
    files, _, _ = plan(InitOptions(target))
    with clirun.paused("init", target, env=clirun.environment(), event="os.rename",
                       needle=".race.init-", nth=len(files) + 1) as stopped:
        target.mkdir()
        (target / "theirs.txt").write_text("theirs\n")
        result = stopped.resume()
    assert result.code == 1, result.err
    assert result.err.startswith(f"hydrate: error: {target}: cannot write: ")
    assert result.err.count("\n") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["race"]
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]


def test_the_requirement_is_pinned_and_checked(tmp_path: Path) -> None:
    default = tmp_path / "default"
    assert hydrate("init", default).code == 0
    lines = (default / ".github/hydrate-requirements.txt").read_text().splitlines()
    assert [line for line in lines if not line.startswith("#")] == [f"hydrate-gitops=={__version__}"]

    for n, spec in enumerate((
            f"hydrate-gitops @ https://example.org/hydrate_gitops-{__version__}-py3-none-any.whl",
            f"Hydrate_Gitops[extra]>={__version__}",
            f"./dist/hydrate_gitops-{__version__}-py3-none-any.whl")):
        result = hydrate("init", "--hydrate-requirement", spec, tmp_path / f"ok{n}")
        assert result.code == 0, result.err
        assert (tmp_path / f"ok{n}/.github/hydrate-requirements.txt").read_text().splitlines()[-1] == spec

    for bad in ("hydrate-gitops==1\n--index-url https://example.org/simple", "--index-url x",
                "hydrated==1", "hydrate-gitops-extra==1", ""):
        result = hydrate("init", "--hydrate-requirement", bad, tmp_path / "bad")
        assert result.code == 1
        assert "give one pip requirement for hydrate-gitops" in result.err
        assert not (tmp_path / "bad").exists()
    # `hydrate` on the package index is a stranger's project: the workflows would run it.
    for stranger in ("hydrate==0.1.0", f"hydrate @ https://example.org/hydrate-{__version__}-py3-none-any.whl",
                     f"./hydrate-{__version__}-py3-none-any.whl", "HYDRATE"):
        result = hydrate("init", "--hydrate-requirement", stranger, tmp_path / "bad")
        assert result.code == 1
        assert result.err.count("\n") == 1
        assert "`hydrate` on the package index is another project" in result.err, stranger
        assert not (tmp_path / "bad").exists()


SCAFFOLD_WORKFLOWS = sorted((SCAFFOLD / ".github/workflows").glob("*.yml"))


def _steps(path: Path) -> list[tuple[str | None, str | None]]:
    doc = yaml.safe_load(path.read_text())
    return [(step.get("uses"), step.get("run")) for job in doc["jobs"].values() for step in job["steps"]]


@pytest.mark.parametrize("path", SCAFFOLD_WORKFLOWS, ids=lambda p: p.name)
def test_the_workflows_install_hydrate_pinned_not_from_a_clone(path: Path) -> None:
    assert_valid_workflow(path)
    assert "write-all" not in str(yaml.safe_load(path.read_text())["permissions"])
    installs = 0
    for uses, run in _steps(path):
        if uses:
            assert PINNED.fullmatch(uses), uses
        if run:
            assert not re.findall(r"\$\{\{", run), run  # values reach scripts through env
            assert not re.search(r"scripts/|\.venv|git clone", run), run
            installs += "pip install -r" in run
            for command in re.findall(r"(?:^|\n|&& )\s*([\w./-]+)", run):
                assert command in {"hydrate", "python", "git", "mkdir", "cat", "echo", "gh"}, command
    assert installs == len(yaml.safe_load(path.read_text())["jobs"]), "every job installs hydrate"


def test_the_scaffold_covers_what_a_repository_needs() -> None:
    files = set(_files(SCAFFOLD))
    assert {".github/workflows/render.yml", ".github/workflows/pr-diff.yml",
            ".github/workflows/promote.yml", ".github/workflows/verify.yml",
            ".github/workflows/pr-diff-comment.yml", ".gitignore", "README.md",
            "fleet/environments.yaml", "fleet/policy.yaml"} <= files
    assert len([p for p in files if p.startswith("fleet/classes/")]) == 1
    assert len([p for p in files if p.startswith("fleet/clusters/")]) == 1
    types = sorted(yaml.safe_load((SCAFFOLD / p).read_text())["type"]
                   for p in files if p.startswith("bases/") and p.endswith("/package.yaml"))
    assert types == ["helm", "kustomize"]
    environments = yaml.safe_load((SCAFFOLD / "fleet/environments.yaml").read_text())["environments"]
    assert [e["name"] for e in environments] == ["dev", "staging", "prod"]
    assert all("promotion" in e for e in environments[1:])
