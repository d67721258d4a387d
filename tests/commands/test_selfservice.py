"""`hydrate add` / `hydrate remove` through the real CLI, on copies of the example fleet."""

from __future__ import annotations

import difflib
import signal
from pathlib import Path

import pygit2

from tests import clirun
from tests.conftest import Result, hydrate, writing

POP = "fleet/classes/pop.yaml"
EDGE = "fleet/classes/edge.yaml"


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for top in ("fleet", "bases", "overlays") for p in sorted((root / top).rglob("*"))
            if p.is_file()}


def _changes(before: dict[str, bytes], root: Path | dict[str, bytes]) -> dict[str, list[str]]:
    """Per changed file, the lines of its diff (no headers, no context)."""
    after = _snapshot(root) if isinstance(root, Path) else root
    assert set(after) == set(before)
    return {path: [line for line in difflib.unified_diff(
        before[path].decode().splitlines(), after[path].decode().splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        for path in sorted(before) if before[path] != after[path]}


def _run(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return hydrate("--repo", root, *args, env=env)


def _package(root: Path, name: str, depends_on: str, image: str = "nginx:1.27.3") -> None:
    """A small kustomize package of the catalog: one Deployment in the tracing namespace."""
    writing(f"bases/{name}/package.yaml",
            f"name: {name}\ntype: kustomize\nnamespace: tracing\ndependsOn: [{depends_on}]\n")(root)
    writing(f"bases/{name}/kustomization.yaml", "resources: [deployment.yaml]\n")(root)
    writing(f"bases/{name}/deployment.yaml", f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
      - name: app
        image: {image}
        resources:
          requests: {{cpu: 10m, memory: 16Mi}}
          limits: {{memory: 16Mi}}
""")(root)


def test_add_to_a_class_is_one_line_and_takes_over_a_clusters_own_add(example: Path) -> None:
    before = _snapshot(example)
    result = _run(example, "add", "tracing-collector", "--class", "pop")
    assert result.code == 0, result.err
    assert _changes(before, example) == {
        POP: ["+- tracing-collector"],
        "fleet/clusters/store-0003.yaml": ["-packages: {add: [tracing-collector]}"],
    }
    assert result.out.splitlines()[:4] == [
        "Add tracing-collector to class pop:",
        f"  {POP}:14: + - tracing-collector",
        "  fleet/clusters/store-0003.yaml:8: - packages: {add: [tracing-collector]}",
        "  clusters edited: store-0003",
    ]
    assert ("tracing-collector now runs on 6 clusters:\n"
            "  dev      store-lab\n"
            "  staging  store-0006\n"
            "  prod     store-0001, store-0002, store-0004, store-0005\n"
            "validated: 6 clusters rendered and checked\n") in result.out


def test_comments_odd_quoting_and_indentation_survive(example: Path) -> None:
    pop = example / POP
    odd = """\
# Retail stores.
name: pop
description: 'Retail store: "pop"'   #  odd
kubernetesVersion: "1.30"
capacity: { cpu: '12', memory: 48Gi, pods: 330, nodes: 3 }
packages:
    # the platform
    - namespaces
    - "rbac-baseline"
    - cert-manager
    - ingress
    - monitoring-agent
    - log-shipper
    -   pos-app     # the tills
# apps end here

vars: {ingressReplicas: 1, logLevel: warn, retentionDays: 3, scrapeInterval: 60s,
       agentReplicas: 1, posReplicas: 2}
"""
    pop.write_text(odd)
    before = _snapshot(example)
    result = _run(example, "add", "postgres", "--class", "pop")
    assert result.code == 0, result.err
    assert _changes(before, example) == {POP: ["+    - postgres"]}
    assert "# the tills\n    - postgres\n# apps end here\n\nvars:" in pop.read_text()
    result = _run(example, "remove", "postgres", "--class", "pop")
    assert result.code == 0, result.err
    assert pop.read_text() == odd


def test_a_cluster_gets_its_own_change_or_loses_it(example: Path) -> None:
    before = _snapshot(example)
    assert _run(example, "add", "postgres", "--cluster", "store-lab").code == 0
    assert _run(example, "add", "service-mesh", "--cluster", "office-paris").code == 0
    result = _run(example, "remove", "pos-app", "--cluster", "store-lab")
    assert result.code == 0, result.err
    assert _changes(before, example) == {
        "fleet/clusters/office-paris.yaml": ["-packages: {remove: [service-mesh]}"],
        "fleet/clusters/store-lab.yaml": ["+packages: {add: [postgres], remove: [pos-app]}"],
    }
    assert "pos-app no longer runs on 1 cluster:\n  dev  store-lab\n" in result.out


def test_nothing_to_change_is_said_and_nothing_is_written(example: Path) -> None:
    before = _snapshot(example)
    for args, said in [
        (("add", "ingress", "--cluster", "store-0001"),
         "store-0001 already runs ingress (class pop lists it); nothing to change\n"),
        (("remove", "service-mesh", "--cluster", "office-paris"),
         "office-paris does not run service-mesh (its packages.remove lists it); nothing to "
         "change\n"),
        (("add", "pos-app", "--class", "pop"),
         f"class pop already lists pos-app ({POP}); nothing to change\n"),
    ]:
        result = _run(example, *args)
        assert (result.code, result.out) == (0, said), result.err
    assert _changes(before, example) == {}


def test_a_site_edits_each_of_its_clusters(example: Path) -> None:
    before = _snapshot(example)
    result = _run(example, "add", "postgres", "--site", "lab")
    assert result.code == 0, result.err
    assert _changes(before, example) == {
        f"fleet/clusters/{c}.yaml": ["+packages: {add: [postgres]}"]
        for c in ("edge-lab", "office-lab", "store-lab")}
    assert "  clusters edited: edge-lab, office-lab, store-lab\n" in result.out
    assert ("dc-lab-1 already runs postgres (class datacenter lists it); nothing to change\n"
            in result.out)
    assert "postgres now runs on 3 clusters:\n  dev  edge-lab, office-lab, store-lab\n" in result.out


def test_a_missing_dependency_fails_unless_added_with_deps(example: Path) -> None:
    _package(example, "store-cache", "tracing-collector")
    before = _snapshot(example)
    result = _run(example, "add", "store-cache", "--class", "edge")
    assert (result.code, result.err) == (1, (
        "hydrate: error: store-cache depends on tracing-collector, which class edge does not "
        "list: add it too with --with-deps (hydrate add store-cache --class edge --with-deps)\n"))
    assert _changes(before, example) == {}
    result = _run(example, "add", "store-cache", "--class", "edge", "--with-deps")
    assert result.code == 0, result.err
    assert _changes(before, example) == {EDGE: ["+- tracing-collector", "+- store-cache"]}
    assert result.out.startswith("Add store-cache (with tracing-collector) to class edge:\n")
    assert "tracing-collector now runs on 4 clusters:" in result.out
    assert "store-cache now runs on 4 clusters:" in result.out


def test_removing_a_package_others_need_fails_naming_them(example: Path) -> None:
    # store-0001 without the issuers (which depend on cert-manager): ingress still needs it.
    with (example / "fleet/clusters/store-0001.yaml").open("a") as f:
        f.write("packages: {remove: [cert-manager-issuers]}\n")
    before = _snapshot(example)
    for args, error in [
        (("remove", "ingress", "--class", "pop"),
         "cannot remove ingress from class pop: pos-app depends on it (on all 7 clusters of "
         "class pop); remove pos-app first"),
        (("remove", "cert-manager", "--cluster", "store-0002"),
         "cannot remove cert-manager from cluster store-0002: cert-manager-issuers depends on "
         "it; remove cert-manager-issuers first"),
        (("remove", "cert-manager", "--cluster", "store-0001"),  # a CRD, not a dependsOn
         "cannot remove cert-manager from cluster store-0001: ingress renders "
         "Certificate.cert-manager.io objects, whose CRD cert-manager provides; remove ingress "
         "first"),
    ]:
        result = _run(example, *args)
        assert (result.code, result.err) == (1, f"hydrate: error: {error}\n")
    assert _changes(before, example) == {}


def test_a_change_that_fails_validation_writes_nothing(example: Path) -> None:
    _package(example, "latest-app", "namespaces", image="nginx:latest")
    before = _snapshot(example)
    for args, rule in [(("add", "latest-app", "--cluster", "store-lab"), "[latest-tag]"),
                       (("remove", "log-shipper", "--class", "edge"), "[required-package]")]:
        result = _run(example, *args)
        assert result.code == 1
        assert result.err.startswith("hydrate: error: validation found 1 error; nothing was "
                                     "written\n"), result.err
        assert rule in result.err
    assert _changes(before, example) == {}


def test_unknown_names_and_wrong_usage(example: Path) -> None:
    for args, error in [
        (("add", "pos-ap", "--class", "pop"), "unknown package 'pos-ap' (did you mean "
         "'pos-app'?) (packages are the directories in bases/; `hydrate catalog` lists them)"),
        (("add", "pos-app", "--class", "po"), "unknown class 'po' (did you mean 'pop'?) "
         "(classes are the files in fleet/classes/)"),
        (("remove", "pos-app", "--site", "lap"), "unknown site 'lap' (did you mean 'lab'?) (a "
         "site is what the site: of a cluster in fleet/clusters/ says; by default the "
         "cluster's name)"),
        (("add", "pos-app", "--cluster", "store-001"), "unknown cluster 'store-001' (did you "
         "mean 'store-0001'?) (clusters are the files in fleet/clusters/)"),
    ]:
        result = _run(example, *args)
        assert (result.code, result.out, result.err) == (1, "", f"hydrate: error: {error}\n")
    for args, error in [(("add", "pos-app"), "give exactly one of --class, --site or --cluster"),
                        (("add", "pos-app", "--class", "pop", "--site", "lab"),
                         "give exactly one of --class, --site or --cluster"),
                        (("add", "pos-app", "--class", "pop", "-m", "x"),
                         "--message is the commit message: it needs --branch")]:
        result = _run(example, *args)
        assert (result.code, result.err.splitlines()[-1]) == (2, f"Error: {error}"), result.err


def test_branch_commits_the_edit_and_leaves_the_checkout_alone(
        example_repo: pygit2.Repository) -> None:
    root = Path(example_repo.workdir)
    head = example_repo.head.target
    before = _snapshot(root)
    env = {"GIT_AUTHOR_NAME": "Pat Platform", "GIT_AUTHOR_EMAIL": "pat@example.com",
           "GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.com"}
    result = _run(root, "add", "tracing-collector", "--class", "edge", "--branch",
                  "add-tracing", env=env)
    assert result.code == 0, result.err
    commit = example_repo.revparse_single("refs/heads/add-tracing").peel(pygit2.Commit)
    assert commit.parent_ids == [head]
    diff = example_repo.diff(example_repo[head].peel(pygit2.Commit).tree, commit.tree)
    assert [p.delta.new_file.path for p in diff] == [EDGE]
    edited = {EDGE: example_repo[commit.tree[EDGE].id].data}
    assert _changes({EDGE: before[EDGE]}, edited) == {EDGE: ["+- tracing-collector"]}
    assert (commit.author.name, commit.author.email) == ("Pat Platform", "pat@example.com")
    assert (commit.committer.name, commit.committer.email) == ("CI", "ci@example.com")
    assert commit.message.startswith("Add tracing-collector to class edge\n\n"
                                     "tracing-collector now runs on 4 clusters:\n")
    assert commit.message.endswith("Made with `hydrate add tracing-collector --class edge`.\n")
    # HEAD, the index and the working tree are as they were
    assert (example_repo.head.target, example_repo.head.shorthand) == (head, "main")
    assert example_repo.status() == {}
    assert _snapshot(root) == before
    assert f"committed {str(commit.id)[:7]} on the new branch add-tracing" in result.out
    assert result.out.endswith("next: git push origin add-tracing, then open a pull request: "
                               "the pr-diff workflow comments the rendered diff\n")

    again = _run(root, "remove", "edge-gateway", "--cluster", "edge-lab", "--branch",
                 "add-tracing")
    assert (again.code, again.err) == (1, "hydrate: error: branch add-tracing already exists; "
                                          "choose another name (or delete it: git branch -D "
                                          "add-tracing)\n")
    (root / EDGE).write_text((root / EDGE).read_text() + "# draft\n")
    dirty = _run(root, "add", "postgres", "--class", "edge", "--branch", "pg", "-m", "PG")
    assert (dirty.code, dirty.err) == (1, f"hydrate: error: {EDGE} has uncommitted changes; "
                                          "commit or stash them first (--branch builds on HEAD)\n")
    assert "refs/heads/pg" not in example_repo.references
    other = _run(root, "add", "postgres", "--site", "lab", "--branch", "pg", "-m", "PG for the lab")
    assert other.code == 0, other.err
    assert example_repo.revparse_single("pg").peel(pygit2.Commit).message == "PG for the lab"


def _crlf_bom_mixed(root: Path) -> dict[str, bytes]:
    """store-0003 in CRLF with a byte order mark; pop in mixed endings (CRLF in the head,
    LF after) with a tab before a comment. Returns the files' bytes."""
    store = root / "fleet/clusters/store-0003.yaml"
    store.write_bytes(b"\xef\xbb\xbf" + store.read_bytes().replace(b"\n", b"\r\n"))
    pop = root / POP
    lines = pop.read_bytes().split(b"\n")
    pop.write_bytes((b"\r\n".join(lines[:5]) + b"\n" + b"\n".join(lines[5:]))
                    .replace(b"- pos-app\n", b"- pos-app\t# the tills\n"))
    return {"store": store.read_bytes(), "pop": pop.read_bytes()}


def test_crlf_bom_mixed_endings_and_tabs_are_kept_byte_for_byte(example: Path) -> None:
    """A CRLF cluster file made `add` write the class file, then stop with "changed while
    hydrate was checking" (the check read text mode), leaving every command broken."""
    old = _crlf_bom_mixed(example)
    result = _run(example, "add", "tracing-collector", "--class", "pop")
    assert result.code == 0, result.err
    assert (example / "fleet/clusters/store-0003.yaml").read_bytes() == \
        old["store"].replace(b"packages: {add: [tracing-collector]}\r\n", b"")
    assert (example / POP).read_bytes() == \
        old["pop"].replace(b"- pos-app\t# the tills\n", b"- pos-app\t# the tills\n- tracing-collector\n")
    assert _run(example, "validate", "--cluster", "store-0003").code == 0
    # Back again: a new line in a CRLF file ends in CRLF, as its neighbours do.
    result = _run(example, "remove", "tracing-collector", "--class", "pop")
    assert result.code == 0, result.err
    assert (example / POP).read_bytes() == old["pop"]
    result = _run(example, "add", "tracing-collector", "--cluster", "store-0003")
    assert result.code == 0, result.err
    comment, line = b"# Pilot store for distributed tracing of the checkout flow.\r\n", \
        b"packages: {add: [tracing-collector]}\r\n"
    assert (example / "fleet/clusters/store-0003.yaml").read_bytes() == old["store"].replace(
        comment + line, line + comment)


def test_a_tab_before_a_comment_is_read_by_add_as_by_render(example: Path) -> None:
    """24.12: `add` refused a class file with a tab before a comment, in a multi-line
    error, while render and validate accepted it."""
    pop = example / POP
    pop.write_text(pop.read_text().replace('kubernetesVersion: "1.30"\n',
                                           'kubernetesVersion: "1.30"\t# the stores run 1.30\n'))
    assert _run(example, "validate", "--cluster", "store-0001").code == 0
    result = _run(example, "add", "postgres", "--class", "pop")
    assert result.code == 0, result.err
    assert 'kubernetesVersion: "1.30"\t# the stores run 1.30\n' in pop.read_text()
    # What only the round-trip editor cannot read is one line naming the file and line.
    pop.write_text(pop.read_text().replace("description: Retail", "description: Retail\tstore"))
    assert _run(example, "validate", "--cluster", "store-0001").code == 0
    before = _snapshot(example)
    result = _run(example, "remove", "postgres", "--class", "pop")
    assert (result.code, result.out) == (1, "")
    assert result.err.startswith(f"hydrate: error: {POP}:2: hydrate's round-trip editor cannot "
                                 "read this line (")
    assert result.err.endswith("); make the edit by hand\n")
    assert result.err.count("\n") == 1
    assert _snapshot(example) == before
    # A file that is not YAML says so in the one form every command uses.
    pop.write_text(pop.read_text() + "vars: {again: 1}\n")
    errors = {_run(example, *args).err for args in (("remove", "postgres", "--class", "pop"),
                                                    ("validate",), ("render",))}
    assert len(errors) == 1, errors
    assert errors.pop().startswith(f"hydrate: error: {POP}:")


def test_an_edit_of_several_files_is_all_or_nothing(example: Path) -> None:
    """Two files change (the class, and a cluster's own add): a failure at the second
    rename, or a kill in the middle, leaves both as they were, or both edited."""
    before = _snapshot(example)
    crashed = clirun.failing("--repo", example, "add", "tracing-collector", "--class", "pop",
                             env={}, event="os.rename", needle="/fleet/", nth=2)
    assert crashed.code == 3, crashed.err
    assert _snapshot(example) == before
    assert [p.name for p in example.rglob(".*") if p.name != ".helmignore"] == []  # no temporary file left
    stopped = clirun.interrupted("--repo", example, "add", "tracing-collector", "--class", "pop",
                                 env={}, needle="/fleet/", nth=1, signum=signal.SIGTERM)
    assert stopped.code == 143, stopped.err
    assert _changes(before, example) == {
        POP: ["+- tracing-collector"], "fleet/clusters/store-0003.yaml": [
            "-packages: {add: [tracing-collector]}"]}
    assert [p.name for p in example.rglob(".*") if p.name != ".helmignore"] == []


def test_a_file_changed_while_checking_stops_the_whole_edit(example: Path) -> None:
    before = _snapshot(example)
    store = example / "fleet/clusters/store-0003.yaml"
    cold = {"HYDRATE_CACHE_DIR": str(example.parent / "cache")}  # so that tools run
    with clirun.paused("--repo", example, "add", "tracing-collector", "--class", "pop", env=cold,
                       event="subprocess.Popen", needle="kustomize") as pause:
        store.write_bytes(store.read_bytes() + b"# a comment added meanwhile\n")
        result = pause.resume()
    assert (result.code, result.err) == (
        1, "hydrate: error: fleet/clusters/store-0003.yaml changed while hydrate was checking the "
           "edit; nothing was written: run the command again\n")
    assert _changes(before, example) == {
        "fleet/clusters/store-0003.yaml": ["+# a comment added meanwhile"]}
    assert [p.name for p in example.rglob(".*") if p.name != ".helmignore"] == []


def test_branch_names_git_refuses_or_misreads_are_refused(example_repo: pygit2.Repository) -> None:
    root = Path(example_repo.workdir)
    head = example_repo.head.target
    example_repo.references.create("refs/heads/exists", head)
    example_repo.references.create("refs/heads/team/a", head)
    refs_before = sorted(example_repo.references)
    for name, error in [
        ("exists/sub", "--branch 'exists/sub': the branch exists exists, and git cannot have both "
                       "exists/sub and exists (one would be a folder of the other); choose another "
                       "name"),
        ("team", "--branch 'team': the branch team/a exists, and git cannot have both team and "
                 "team/a (one would be a folder of the other); choose another name"),
        ("HEAD", "--branch 'HEAD': HEAD is not a branch name git can tell from its other refs; "
                 "choose another name"),
        ("@", "--branch '@': @ is not a branch name git can tell from its other refs; choose "
              "another name"),
        ("refs/heads/x", "--branch 'refs/heads/x': refs/heads/x is not a branch name git can "
                         "tell from its other refs; choose another name"),
        ("-x", "--branch '-x': a branch name may not start with '-' (git would read it as an "
               "option); choose another name"),
    ]:
        result = _run(root, "add", "tracing-collector", "--class", "pop", f"--branch={name}")
        assert (result.code, result.out, result.err) == (1, "", f"hydrate: error: {error}\n"), name
    for name in ("a..b", "a b", "x.lock", "a/", "a@{1}", ".x", "x/.y"):
        result = _run(root, "add", "tracing-collector", "--class", "pop", f"--branch={name}")
        assert result.code == 1, name
        assert result.err.startswith(f"hydrate: error: --branch {name!r}: not a valid branch name ")
    assert sorted(example_repo.references) == refs_before
    assert example_repo.status() == {}
