"""The two views of a configuration repository read directly (no CLI): a working tree
(`DirTree`, with and without git's ignore rules) and a commit (`GitTree`), on small real
repositories. Every path stays inside the repository, every link inside the configuration
folders; what git would leave out of a commit is not there; each refusal says which path
and why."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pygit2
import pytest

from pipeline.config import source
from pipeline.config.ignored import GitIgnore
from pipeline.config.source import DirTree, GitTree, normalize
from pipeline.errors import ConfigError, GitError
from tests.conftest import SIGNATURE, commit_all

OUTSIDE = ("symlink points outside the configuration folders (fleet/, bases/, overlays/), "
           "which are all a render may read; replace the link with a copy of what it points to")


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


# --- normalize ---------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "message"), [
    ("/etc/passwd", "/etc/passwd: path must be relative to the repository, with '/'"),
    ("bases\\x", "bases\\x: path must be relative to the repository, with '/'"),
    ("..", "..: path leaves the repository"),
    ("a/../..", "a/../..: path leaves the repository"),
    ("../bases", "../bases: path leaves the repository"),
])
def test_a_path_leaving_the_repository_is_refused_in_words(path: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        normalize(path)
    assert str(err.value) == message


@pytest.mark.parametrize(("path", "norm"), [
    ("", ""), (".", ""), ("./", ""), ("a/..", ""), ("bases/./x//y/", "bases/x/y"),
    ("...", "..."), ("..x/y", "..x/y"),
])
def test_a_path_inside_is_made_canonical(path: str, norm: str) -> None:
    assert normalize(path) == norm


# --- a working tree -------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, {"fleet/a.yaml": "a\n", "bases/app/k.yaml": "k\n", "bases/app/sub/s.yaml": "s\n",
                 "scripts/run.sh": "run\n"})
    return root


def test_reading_a_folder_or_nothing_says_so(tree: Path) -> None:
    t = DirTree(tree)
    assert t.read("bases/app/k.yaml") == b"k\n"
    assert t.blob_id("bases/app/k.yaml") == str(pygit2.hash(b"k\n"))
    for path, message in (("bases/app", "bases/app: is a directory, expected a file"),
                          ("bases/app/none.yaml", "bases/app/none.yaml: no such file")):
        with pytest.raises(ConfigError) as err:
            t.read(path)
        assert str(err.value) == message
    assert (t.is_dir("bases/app"), t.is_file("bases/app"), t.is_file("bases/app/k.yaml")) == (
        True, False, True)
    assert t.listdir("bases/app") == ["k.yaml", "sub"]
    assert t.listdir("bases/none") == []
    assert t.files("bases") == ["app/k.yaml", "app/sub/s.yaml"]
    assert t.label == f"working tree {tree.resolve()}"


def test_a_git_folder_is_never_read_or_listed(tree: Path) -> None:
    write(tree, {"bases/app/.git/config": "token\n", "bases/app/vendor/.git/HEAD": "x\n"})
    t = DirTree(tree)
    assert t.files("bases/app") == ["k.yaml", "sub/s.yaml"]
    assert t.listdir("bases/app") == ["k.yaml", "sub", "vendor"]
    with pytest.raises(ConfigError) as err:
        t.read("bases/app/.git/config")
    assert str(err.value) == ("bases/app/.git/config: inside a .git folder, which hydrate "
                              "never reads")


def test_each_escaping_link_is_named_by_the_link(tree: Path, tmp_path: Path) -> None:
    """The first link on the way that leads out names the refusal: a top-level folder, a
    folder inside, a file; a link to a folder of the repository outside the configuration
    folders is just as much outside."""
    outside = tmp_path / "outside"
    write(outside, {"f.yaml": "secret\n", "d/g.yaml": "secret\n"})
    os.symlink(outside, tree / "overlays")
    os.symlink(outside / "d", tree / "bases/app/linked")
    os.symlink(outside / "f.yaml", tree / "bases/app/sub/file.yaml")
    os.symlink("../../scripts/run.sh", tree / "bases/app/run.sh")
    os.symlink("/etc/hostname", tree / "scripts/host")
    t = DirTree(tree)
    for path, link in (("overlays/d/g.yaml", "overlays"), ("bases/app/linked/g.yaml",
                                                           "bases/app/linked"),
                       ("bases/app/sub/file.yaml", "bases/app/sub/file.yaml"),
                       ("bases/app/run.sh", "bases/app/run.sh"),
                       ("scripts/host", "scripts/host")):
        with pytest.raises(ConfigError) as err:
            t.read(path)
        assert str(err.value) == f"{link}: {OUTSIDE}", path


def test_a_link_inside_the_configuration_folders_is_followed(tree: Path) -> None:
    os.symlink("../../fleet/a.yaml", tree / "bases/app/a.yaml")
    t = DirTree(tree)
    assert t.read("bases/app/a.yaml") == b"a\n"
    assert t.files("bases/app") == ["a.yaml", "k.yaml", "sub/s.yaml"]


def test_listing_files_refuses_an_escaping_link_and_a_linked_folder_below(
        tree: Path, tmp_path: Path) -> None:
    os.symlink("/etc/hostname", tree / "bases/app/sub/host")
    with pytest.raises(ConfigError) as err:
        DirTree(tree).files("bases/app")
    assert str(err.value) == f"bases/app/sub/host: {OUTSIDE}"
    (tree / "bases/app/sub/host").unlink()
    os.symlink("../../../fleet", tree / "bases/app/sub/linked")
    with pytest.raises(ConfigError) as err:
        DirTree(tree).files("bases")
    assert str(err.value) == "bases/app/sub/linked: symlinked directories are not supported"


# --- a working tree with git's ignore rules ----------------------------------------------------

@pytest.fixture
def ignoring(tree: Path) -> DirTree:
    """The tree as a git repository: `*.secret` and `tmp/` ignored, one `.secret` file
    tracked anyway, and a rule anchored to one nested path."""
    write(tree, {".gitignore": "*.secret\ntmp/\n/bases/app/sub/drop.yaml\n",
                 "bases/app/kept.secret": "tracked\n", "bases/app/b.secret": "b\n",
                 "bases/app/a.yaml": "a\n", "bases/app/z.secret": "z\n",
                 "bases/app/y.yaml": "y\n", "bases/app/tmp/t.yaml": "t\n",
                 "bases/app/sub/drop.yaml": "d\n", "bases/app/sub/tmp/u.yaml": "u\n",
                 "bases/tmp/v.yaml": "v\n"})
    repo = pygit2.init_repository(str(tree), initial_head="main")
    repo.index.add_all()
    repo.index.add("bases/app/kept.secret")
    repo.index.write()
    ignore = GitIgnore.of(tree)
    assert ignore is not None
    return DirTree(tree, ignore)


def test_what_a_commit_would_leave_out_is_not_there(ignoring: DirTree) -> None:
    t = ignoring
    assert t.files("bases/app") == ["a.yaml", "k.yaml", "kept.secret", "sub/s.yaml", "y.yaml"]
    assert t.listdir("bases/app") == ["a.yaml", "k.yaml", "kept.secret", "sub", "y.yaml"]
    assert t.listdir("bases/app/sub") == ["s.yaml"]
    assert t.listdir("bases/app/tmp") == []
    assert t.files("bases/app/tmp") == []
    assert t.files("bases") == ["app/a.yaml", "app/k.yaml", "app/kept.secret", "app/sub/s.yaml",
                                "app/y.yaml"]
    assert not t.is_file("bases/app/b.secret")
    assert not t.is_dir("bases/app/tmp")
    assert not t.is_file("bases/app/tmp/t.yaml")  # inside an ignored folder
    assert t.is_file("bases/app/kept.secret")  # tracked: a commit holds it
    assert t.is_dir("bases/app")


def test_what_was_left_out_is_noted_folders_with_a_slash(ignoring: DirTree) -> None:
    ignoring.files("bases")
    assert sorted(ignoring.left_out) == ["bases/app/b.secret", "bases/app/sub/drop.yaml",
                                         "bases/app/sub/tmp/", "bases/app/tmp/",
                                         "bases/app/z.secret", "bases/tmp/"]
    other = DirTree(ignoring.root, GitIgnore.of(ignoring.root))
    other.listdir("bases/app")
    assert sorted(other.left_out) == ["bases/app/b.secret", "bases/app/tmp/",
                                      "bases/app/z.secret"]
    third = DirTree(ignoring.root, GitIgnore.of(ignoring.root))
    assert not third.is_file("bases/app/tmp/t.yaml")
    assert list(third.left_out) == ["bases/app/tmp/"]
    assert not third.is_file("bases/app/b.secret")
    assert list(third.left_out) == ["bases/app/tmp/", "bases/app/b.secret"]  # a file: no /
    fourth = DirTree(ignoring.root, GitIgnore.of(ignoring.root))
    assert fourth.files("bases/app/tmp") == []
    assert list(fourth.left_out) == ["bases/app/tmp/"]  # the folder, not what is in it
    fifth = DirTree(ignoring.root, GitIgnore.of(ignoring.root))
    assert fifth.listdir("bases/app/tmp") == []
    assert list(fifth.left_out) == ["bases/app/tmp/"]


def test_a_top_level_folder_git_ignores_is_not_there(tree: Path) -> None:
    write(tree, {".gitignore": "/overlays/\nbuild/\n", "overlays/o.yaml": "o\n",
                 "bases/app/build": "a file named like an ignored folder\n"})
    pygit2.init_repository(str(tree), initial_head="main")
    t = DirTree(tree, GitIgnore.of(tree))
    assert not t.is_dir("overlays")
    assert list(t.left_out) == ["overlays/"]
    assert t.listdir("") == [".gitignore", "bases", "fleet", "scripts"]
    assert t.ignored_by("overlays/") == ".gitignore:1 `/overlays/`"
    assert t.ignored_by("bases/app/build") is None  # `build/` ignores folders only
    assert t.ignored_by("bases/app/build/") == ".gitignore:2 `build/`"


def test_reading_an_ignored_file_names_the_rule(ignoring: DirTree) -> None:
    for path, where in (("bases/app/b.secret", ".gitignore:1 `*.secret`"),
                        ("bases/app/tmp/t.yaml", ".gitignore:2 `tmp/`"),
                        ("bases/app/sub/drop.yaml", ".gitignore:3 `/bases/app/sub/drop.yaml`")):
        with pytest.raises(ConfigError) as err:
            ignoring.read(path)
        assert str(err.value) == (
            f"{path}: ignored by git ({where}), so a commit does not hold it, and hydrate renders "
            f"what a commit holds; commit it (git add -f {path}) or drop the rule")
        assert ignoring.ignored_by(path) == where
    assert ignoring.ignored_by("bases/app/tmp/") == ".gitignore:2 `tmp/`"
    assert ignoring.ignored_by("bases/app/a.yaml") is None
    assert DirTree(ignoring.root).ignored_by("bases/app/b.secret") is None  # no rules given
    assert DirTree(ignoring.root).is_file("bases/app/b.secret")


def test_listing_an_ignored_file_first_still_lists_the_rest(tree: Path) -> None:
    """Several ignored files among kept ones, in whatever order the folder lists them:
    each ignored one is skipped, never the ones after it."""
    names = ["i1.secret", "a.yaml", "b.yaml", "i2.secret", "c.yaml", "d.yaml", "i3.secret"]
    write(tree, {".gitignore": "*.secret\n", **{f"bases/many/{n}": n for n in names}})
    pygit2.init_repository(str(tree), initial_head="main")
    t = DirTree(tree, GitIgnore.of(tree))
    assert t.files("bases/many") == ["a.yaml", "b.yaml", "c.yaml", "d.yaml"]


# --- a commit ----------------------------------------------------------------------------------

def _commit(repo: pygit2.Repository, files: dict[str, bytes],
            links: dict[str, bytes] | None = None) -> pygit2.Commit:
    index = pygit2.Index()
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    for path, target in (links or {}).items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(target), pygit2.enums.FileMode.LINK))
    oid = repo.create_commit(None, SIGNATURE, SIGNATURE, "c", index.write_tree(repo), [])
    return repo[oid].peel(pygit2.Commit)


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / "git"), bare=True)


BASE = {"fleet/a.yaml": b"a\n", "bases/app/k.yaml": b"k\n", "bases/app/sub/s.yaml": b"s\n",
        "bases/app/sub/deeper/d.yaml": b"d\n", "bases/app/boX/x.yaml": b"x\n"}


def test_a_commit_reads_lists_and_walks_like_the_folder(repo: pygit2.Repository) -> None:
    c = _commit(repo, BASE)
    t = GitTree(repo, c)
    assert t.read("bases/app/k.yaml") == b"k\n"
    assert t.files("bases/app") == ["boX/x.yaml", "k.yaml", "sub/deeper/d.yaml", "sub/s.yaml"]
    assert t.files("bases/app/sub") == ["deeper/d.yaml", "s.yaml"]
    assert t.files("bases/app/k.yaml") == []
    assert t.listdir("bases/app") == ["boX", "k.yaml", "sub"]
    assert t.listdir("bases/app/k.yaml") == []
    assert t.listdir("") == ["bases", "fleet"]
    assert t.label == f"commit {str(c.id)[:7]}"
    assert t.tree_id("bases") == str(c.tree["bases"].id)
    assert t.tree_id("bases/app/k.yaml") is None
    assert t.tree_id("overlays") is None
    for how in (t.read, t.blob_id):
        for path in ("bases/app", "bases/none.yaml"):
            with pytest.raises(ConfigError) as err:
                how(path)
            assert str(err.value) == f"{path}: no such file in commit {str(c.id)[:7]}"


def test_a_chain_of_links_is_followed_nine_deep_and_no_further(repo: pygit2.Repository) -> None:
    """Nine links in a row resolve (`l0` → `l1` … → `l8` → the file); ten are refused, as
    is a loop, naming the link at which the chain got too long."""
    links = {f"bases/l{i}": f"l{i + 1}".encode() for i in range(9)}
    links["bases/l8"] = b"app/k.yaml"
    t = GitTree(repo, _commit(repo, BASE, links))
    assert t.read("bases/l0") == b"k\n"
    longer = {**links, "bases/m": b"l0"}
    with pytest.raises(ConfigError) as err:
        GitTree(repo, _commit(repo, BASE, longer)).read("bases/m")
    assert str(err.value) == "bases/l8: too many levels of symbolic links"
    loop = GitTree(repo, _commit(repo, BASE, {"bases/x": b"y", "bases/y": b"x"}))
    with pytest.raises(ConfigError) as err:
        loop.read("bases/x")
    assert str(err.value) == "bases/y: too many levels of symbolic links"  # x is l0, y l9


@pytest.mark.parametrize("target", [b"/etc/hostname", b"../../.git/config", b"../scripts/x",
                                    b"app\\..\\..\\x", b"../\xff\xfe/x"])
def test_a_committed_link_out_of_the_configuration_folders_is_named(
        repo: pygit2.Repository, target: bytes) -> None:
    t = GitTree(repo, _commit(repo, BASE, {"bases/link": target}))
    with pytest.raises(ConfigError) as err:
        t.read("bases/link")
    assert str(err.value) == f"bases/link: {OUTSIDE}"


def test_a_committed_link_to_a_folder_is_refused_when_walked(repo: pygit2.Repository) -> None:
    t = GitTree(repo, _commit(repo, BASE, {"bases/app/sub/up": b"../../../fleet",
                                           "bases/app/f.yaml": b"k.yaml"}))
    assert t.read("bases/app/f.yaml") == b"k\n"
    with pytest.raises(ConfigError) as err:
        t.files("bases")
    assert str(err.value) == "bases/app/sub/up: symlinked directories are not supported"


def test_a_configuration_folder_inside_a_bigger_repository(repo: pygit2.Repository) -> None:
    c = _commit(repo, {f"config/{k}": v for k, v in BASE.items()} | {"README.md": b"x\n"})
    t = GitTree(repo, c, "config")
    assert t.read("bases/app/k.yaml") == b"k\n"
    assert t.listdir("") == ["bases", "fleet"]
    assert t.label == f"commit {str(c.id)[:7]} (config/)"
    with pytest.raises(GitError) as err:
        GitTree(repo, c, "conf")
    assert str(err.value) == (f"conf/: no such folder in commit {str(c.id)[:7]}; is the "
                              "configuration committed?")


def test_a_commit_names_the_rule_that_kept_a_file_out(repo: pygit2.Repository) -> None:
    """The ignore files of the commit decide, at the repository's top and above the
    configuration folder; a .gitignore that is a folder holds no rule."""
    c = _commit(repo, {".gitignore": b"*.secret\n", "config/.gitignore": b"charts/\n",
                       "config/bases/app/k.yaml": b"k\n",
                       "config/bases/app/sub/.gitignore/x": b"not a file\n"})
    t = GitTree(repo, c, "config")
    assert t.ignored_by("bases/app/x.secret") == ".gitignore:1 `*.secret`"
    assert t.ignored_by("bases/app/charts/c.yaml") == "config/.gitignore:1 `charts/`"
    assert t.ignored_by("bases/app/k.yaml") is None
    assert t.ignored_by("bases/app/sub/y.yaml") is None
    top = GitTree(repo, _commit(repo, {".gitignore": b"/bases/tmp/\n", "bases/a.yaml": b"a\n"}))
    assert top.ignored_by("bases/tmp/x.yaml") == ".gitignore:1 `/bases/tmp/`"


def test_the_inputs_digest_is_of_the_three_configuration_folders_only(
        repo: pygit2.Repository) -> None:
    """The ledger records it: it is the SHA-256 of each folder's tree id (`-` for a folder
    the commit lacks), in this order; other files do not change it."""
    c = _commit(repo, {**BASE, "README.md": b"x\n"})
    expected = hashlib.sha256(f"fleet:{c.tree['fleet'].id}\nbases:{c.tree['bases'].id}\n"
                              "overlays:-\n".encode()).hexdigest()
    assert source.inputs_digest(GitTree(repo, c)) == expected
    other = _commit(repo, {**BASE, "README.md": b"changed\n"})
    assert source.inputs_digest(GitTree(repo, other)) == expected
    for change in ({"fleet/a.yaml": b"b\n"}, {"bases/app/k.yaml": b"l\n"},
                   {"overlays/o.yaml": b"o\n"}):
        changed = _commit(repo, {**BASE, **change})
        assert source.inputs_digest(GitTree(repo, changed)) != expected, change


# --- repositories and revisions ------------------------------------------------------------

def test_a_repository_is_found_from_any_folder_in_it(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), initial_head="main")
    (tmp_path / "r/config/fleet").mkdir(parents=True)
    found = source.open_repository(tmp_path / "r/config/fleet")
    assert Path(found.workdir).resolve() == Path(repo.workdir).resolve()
    (tmp_path / "lonely").mkdir()
    with pytest.raises(GitError) as err:
        source.open_repository(tmp_path / "lonely")
    assert str(err.value) == f"{tmp_path / 'lonely'}: not inside a git repository"
    assert source.config_root(found, tmp_path / "r") == ""
    assert source.config_root(found, tmp_path / "r/config") == "config"
    assert source.config_root(found, tmp_path / "lonely") == ""
    bare = pygit2.init_repository(str(tmp_path / "b.git"), bare=True)
    assert source.config_root(bare, tmp_path / "b.git") == ""


def test_a_revision_that_names_no_commit_says_why(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "rX"), initial_head="trunk")
    where = str(tmp_path / "rX")  # named in full, whatever its last letter
    for rev in ("HEAD", "@", "trunk"):
        with pytest.raises(GitError) as err:
            source.tree_at(repo, rev)
        assert str(err.value) == (f"{rev}: the repository {where} has no commits yet; commit "
                                  "the configuration (fleet/, bases/, overlays/) first")
    with pytest.raises(GitError) as err:
        source.tree_at(repo, "main")
    assert str(err.value).startswith(f"main: no such revision in {where} (")
    (tmp_path / "rX/fleet").mkdir()
    (tmp_path / "rX/fleet/a.yaml").write_text("a\n")
    commit_all(repo, "Fleet")
    with pytest.raises(GitError) as err:
        source.tree_at(repo, "HEAD~3")
    assert str(err.value).startswith(f"HEAD~3: no such revision in {where} (")
    assert source.tree_at(repo, "trunk").read("fleet/a.yaml") == b"a\n"
    bare = pygit2.init_repository(str(tmp_path / "b.git"), bare=True)
    with pytest.raises(GitError) as err:
        source.tree_at(bare, "HEAD")
    assert str(err.value).startswith(f"HEAD: the repository {tmp_path / 'b.git'} has no commits")


def test_a_shallow_clone_says_how_to_fetch_the_rest(tmp_path: Path) -> None:
    import subprocess

    upstream = pygit2.init_repository(str(tmp_path / "up"), initial_head="main")
    for n in range(3):
        (tmp_path / "up/fleet").mkdir(exist_ok=True)
        (tmp_path / f"up/fleet/{n}.yaml").write_text(f"{n}\n")
        commit_all(upstream, f"commit {n}")
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{tmp_path / 'up'}",
                    str(tmp_path / "shallow")], check=True, capture_output=True,
                   env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                        "GIT_CONFIG_NOSYSTEM": "1"})
    shallow = pygit2.Repository(str(tmp_path / "shallow"))
    with pytest.raises(GitError) as err:
        source.tree_at(shallow, "HEAD~2")
    assert str(err.value) == (
        f"HEAD~2: not found in {tmp_path / 'shallow'}, a shallow clone (its history is cut, so "
        "older commits are missing); fetch the whole history with `git fetch --unshallow` "
        "(GitHub Actions: `fetch-depth: 0` in actions/checkout)")
