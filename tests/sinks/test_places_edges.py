"""Where hydrate may write, called directly (tests/sinks/test_places.py goes through the
CLI, in a subprocess mutation testing cannot see into): every refusal in its words, the
stamp, the repository and its parents, report files, the leftovers of a killed writer,
and the swap of a directory with its undo when the swap fails or the directory changed
under it. A failure at an exact rename is injected by an audit hook (as tests/clirun.py
does for the CLI), with real files throughout."""

from __future__ import annotations

import os
import re
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.errors import PipelineError
from pipeline.sinks import places

STAMP = ".hydrate-site"
STAMPED = b"written by hydrate: replaced whole on each run\n"
Action = Callable[[tuple[object, ...]], None]  # the audit event's arguments


@pytest.fixture(scope="session")
def _armed() -> list[tuple[str, Action]]:
    """One audit hook per process (they cannot be removed), doing what the test arms."""
    armed: list[tuple[str, Action]] = []

    def hook(event: str, args: tuple[object, ...]) -> None:
        for wanted, action in list(armed):
            if event == wanted:
                action(args)

    sys.addaudithook(hook)
    return armed


@pytest.fixture
def at(_armed: list[tuple[str, Action]]) -> Iterator[Callable[[str, Action], None]]:
    """at(event, action): run `action` at each audit `event` (os.rename, os.mkdir, …),
    before the call it announces; an exception it raises is that call's."""
    def arm(event: str, action: Action) -> None:
        _armed.append((event, action))

    yield arm
    _armed.clear()


def path_arg(args: tuple[object, ...], index: int = 0) -> str:
    return os.fsdecode(args[index])  # type: ignore[arg-type]


def tree(root: Path) -> dict[str, bytes | str]:
    """Everything below `root`, without following links: files by content, others by kind."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if stat.S_ISREG(p.lstat().st_mode)
            else stat.filemode(p.lstat().st_mode)[0] for p in sorted(root.rglob("*"))}


def refused(call: Callable[[], object], message: str) -> None:
    with pytest.raises(PipelineError) as caught:
        call()
    assert str(caught.value) == message


# --- what a path is ---------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "words"), [
    (stat.S_IFREG, "a file"), (stat.S_IFIFO, "a FIFO (named pipe)"),
    (stat.S_IFCHR, "a character device"), (stat.S_IFBLK, "a block device"),
    (stat.S_IFSOCK, "a socket"), (stat.S_IFLNK, "a symbolic link"),
    (stat.S_IFDIR, "a directory"), (0, "not a regular file")])
def test_each_kind_of_path_has_its_words(mode: int, words: str) -> None:
    assert places.kind(mode | 0o644) == words


def test_a_path_is_made_absolute_without_following_links(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.chdir(tmp_path)
    assert places.absolute(Path("link")) == tmp_path / "link"
    assert places.absolute(Path("link/../out")) == tmp_path / "out"


# --- directories ----------------------------------------------------------------------------------

def test_a_missing_or_empty_directory_may_be_written(tmp_path: Path) -> None:
    assert places.claim_dir(tmp_path / "new", what="--html", stamp=STAMP) is False
    assert places.claim_dir(tmp_path / "a-file" / "below", what="--html", stamp=STAMP) is False
    (tmp_path / "empty").mkdir()
    assert places.claim_dir(tmp_path / "empty", what="--html", stamp=STAMP) is True


def test_a_directory_hydrate_stamped_may_be_replaced_and_a_stamp_must_be_a_file(
        tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("old\n")
    (site / STAMP).write_bytes(STAMPED)
    assert places.claim_dir(site, what="--html", stamp=STAMP) is True
    (site / STAMP).unlink()
    (site / STAMP).mkdir()
    refused(lambda: places.claim_dir(site, what="--html", stamp=STAMP),
            f"--html {site}: holds files (.hydrate-site, index.html) and was not written by "
            "hydrate (no .hydrate-site); choose a new or empty directory (hydrate replaces "
            "only what it wrote)")


def test_someone_elses_files_are_refused_naming_three_of_them(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("d.txt", "a.txt", "c.txt", "b.txt"):
        (mine / name).write_text("mine\n")
    refused(lambda: places.claim_dir(mine, what="--out", stamp=STAMP),
            f"--out {mine}: holds files (a.txt, b.txt, c.txt, …) and was not written by "
            "hydrate (no .hydrate-site); choose a new or empty directory (hydrate replaces "
            "only what it wrote)")
    (mine / "d.txt").unlink()
    refused(lambda: places.claim_dir(mine, what="--out", stamp=STAMP),
            f"--out {mine}: holds files (a.txt, b.txt, c.txt) and was not written by hydrate "
            "(no .hydrate-site); choose a new or empty directory (hydrate replaces only what "
            "it wrote)")
    (mine / "c.txt").unlink()
    refused(lambda: places.claim_dir(mine, what="--out", stamp=None),
            f"--out {mine}: holds files (a.txt, b.txt) and is not empty; choose a new or "
            "empty directory (hydrate replaces only what it wrote)")
    # Names hydrate may find there are ignored; `filled_ok` takes any directory.
    assert places.claim_dir(mine, what="--out", stamp=None,
                            ignore=frozenset({"a.txt", "b.txt"})) is True
    assert places.claim_dir(mine, what="init", stamp=None, filled_ok=True) is True


def test_a_link_or_anything_but_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / STAMP).write_bytes(STAMPED)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    refused(lambda: places.claim_dir(tmp_path / "link", what="--html", stamp=STAMP),
            f"--html {tmp_path / 'link'}: is a symbolic link; hydrate never writes through "
            "one: give the directory itself, or a new path")
    os.mkfifo(tmp_path / "fifo")
    refused(lambda: places.claim_dir(tmp_path / "fifo", what="--html", stamp=STAMP),
            f"--html {tmp_path / 'fifo'}: exists and is a FIFO (named pipe), not a directory; "
            "give another path")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        refused(lambda: places.claim_dir(tmp_path / "sock", what="--out", stamp=STAMP),
                f"--out {tmp_path / 'sock'}: exists and is a socket, not a directory; give "
                "another path")


def test_the_repository_and_what_holds_it_are_refused_even_stamped(tmp_path: Path) -> None:
    repo = tmp_path / "config"
    (repo / "fleet").mkdir(parents=True)
    (repo / STAMP).write_bytes(STAMPED)
    refused(lambda: places.claim_dir(repo, what="--html", stamp=STAMP, protect=[repo]),
            f"--html {repo}: is the repository; hydrate would replace it: give a new "
            "directory for its output")
    refused(lambda: places.claim_dir(tmp_path, what="--html", stamp=STAMP, protect=[repo]),
            f"--html {tmp_path}: holds the repository {repo}; hydrate would replace it: give "
            "a new directory for its output")
    # A sibling whose name starts with the repository's is not the repository.
    sibling = tmp_path / "config-site"
    sibling.mkdir()
    assert places.claim_dir(sibling, what="--html", stamp=STAMP, protect=[repo]) is True
    assert places.claim_dir(repo / "fleet", what="--html", stamp=None, protect=[],
                            ignore=frozenset()) is True


# --- report files -------------------------------------------------------------------------------

def test_a_report_file_is_a_new_or_regular_file_outside_the_configuration(
        tmp_path: Path) -> None:
    repo = tmp_path / "config"
    (repo / "fleet").mkdir(parents=True)
    (repo / ".git").mkdir()
    places.claim_file(tmp_path / "new.json", what="--output", repo=repo)
    (tmp_path / "old.json").write_text("{}\n")
    places.claim_file(tmp_path / "old.json", what="--output", repo=repo)
    places.claim_file(repo / "report.json", what="--output", repo=repo)  # the top is fine
    for inside in (repo / "fleet" / "report.json", repo / ".git" / "report.json",
                   tmp_path / "elsewhere" / ".git" / "x"):
        refused(lambda p=inside: places.claim_file(p, what="--output", repo=repo),  # type: ignore[misc]
                f"--output {inside}: is part of the configuration (or of git); write the "
                "report somewhere else")
    # Without a repository, only git's own folders are off limits.
    places.claim_file(repo / "fleet" / "report.json", what="--output")
    os.mkfifo(tmp_path / "fifo")
    refused(lambda: places.claim_file(tmp_path / "fifo", what="--output"),
            f"--output {tmp_path / 'fifo'}: exists and is a FIFO (named pipe); hydrate "
            "replaces only a regular file: give a file path (or leave out --output for stdout)")


def test_a_report_file_is_written_whole_or_says_why_not(tmp_path: Path) -> None:
    places.write_file(tmp_path / "r.json", b"{}\n", what="--output")
    assert (tmp_path / "r.json").read_bytes() == b"{}\n"
    places.write_file(tmp_path / "r.json", b"[]\n", what="--output")
    assert (tmp_path / "r.json").read_bytes() == b"[]\n"
    refused(lambda: places.write_file(tmp_path / "missing" / "r.json", b"{}", what="--json"),
            f"--json {tmp_path / 'missing' / 'r.json'}: cannot write: No such file or "
            "directory")
    repo = tmp_path / "config"
    (repo / "fleet").mkdir(parents=True)
    refused(lambda: places.write_file(repo / "fleet" / "r.json", b"{}", what="--json",
                                      repo=repo),
            f"--json {repo / 'fleet' / 'r.json'}: is part of the configuration (or of git); "
            "write the report somewhere else")
    assert not (repo / "fleet" / "r.json").exists()


# --- replacing a directory ---------------------------------------------------------------

def test_a_directory_is_written_with_its_stamp_and_replaced_whole(tmp_path: Path) -> None:
    site = tmp_path / "deep" / "er" / "site"
    places.replace_dir(site, {"index.html": b"one\n", "clusters/eu/a.html": b"a\n"},
                       what="--html", stamp=STAMP)
    assert tree(site) == {STAMP: STAMPED, "clusters": "d", "clusters/eu": "d",
                          "clusters/eu/a.html": b"a\n", "index.html": b"one\n"}
    places.replace_dir(site, {"index.html": b"two\n"}, what="--html", stamp=STAMP)
    assert tree(site) == {STAMP: STAMPED, "index.html": b"two\n"}
    assert sorted(p.name for p in site.parent.iterdir()) == ["site"]  # nothing left beside
    empty = tmp_path / "empty"
    empty.mkdir()
    places.replace_dir(empty, {"x": b"x\n"}, what="--html", stamp=STAMP)
    assert tree(empty) == {STAMP: STAMPED, "x": b"x\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "empty"]


def test_new_folders_get_the_umasks_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        made = places.new_dir(tmp_path, ".site.hydrate-new-")
    finally:
        os.umask(old)
    assert made.parent == tmp_path
    assert made.name.startswith(".site.hydrate-new-")
    assert len(made.name) == len(".site.hydrate-new-") + 12
    assert made.stat().st_mode & 0o777 == 0o755


def test_a_refused_directory_is_left_as_it_was(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    with pytest.raises(PipelineError, match="holds files"):
        places.replace_dir(mine, {"index.html": b"x"}, what="--html", stamp=STAMP)
    assert tree(tmp_path) == {"mine": "d", "mine/notes.txt": b"mine\n"}


def test_what_cannot_be_written_leaves_the_old_directory_and_no_staging(
        tmp_path: Path) -> None:
    site = tmp_path / "site"
    places.replace_dir(site, {"index.html": b"old\n"}, what="--html", stamp=STAMP)
    before = tree(tmp_path)
    with pytest.raises(PipelineError) as caught:  # "a" cannot be a file and a folder
        places.replace_dir(site, {"a": b"x", "a/b": b"y"}, what="--html", stamp=STAMP)
    assert str(caught.value).startswith(f"--html {site}: cannot write: ")
    assert str(caught.value).endswith("; it is as it was")
    assert tree(tmp_path) == before
    (tmp_path / "file").write_text("")
    with pytest.raises(PipelineError) as caught:  # its parent cannot be made
        places.replace_dir(tmp_path / "file" / "site", {"x": b""}, what="--out", stamp=STAMP)
    assert str(caught.value).startswith(f"--out {tmp_path / 'file' / 'site'}: cannot write: ")
    assert not str(caught.value).endswith("it is as it was")


def test_what_a_killed_writer_left_beside_it_is_cleared_but_nothing_else(
        tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in (".site.hydrate-new-aaaa", ".site.hydrate-old-bbbb"):
        (tmp_path / name).mkdir()
        (tmp_path / name / STAMP).write_bytes(STAMPED)
    (tmp_path / ".site.hydrate-new-cccc").mkdir()  # not stamped: not ours
    (tmp_path / ".site.hydrate-new-cccc" / "theirs").write_text("x")
    (tmp_path / ".other.hydrate-new-dddd").mkdir()  # another directory's
    (tmp_path / ".other.hydrate-new-dddd" / STAMP).write_bytes(STAMPED)
    (tmp_path / ".site.hydrate-old-file").write_bytes(STAMPED)  # a file, not a folder
    (tmp_path / ".site.hydrate-new-link").symlink_to(tmp_path / ".other.hydrate-new-dddd")
    places.clear_leftovers(site, STAMP)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.hydrate-new-dddd", ".site.hydrate-new-cccc", ".site.hydrate-new-link",
        ".site.hydrate-old-file"]
    places.replace_dir(site, {"x": b"x"}, what="--html", stamp=STAMP)  # clears them too
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".other.hydrate-new-dddd", ".site.hydrate-new-cccc", ".site.hydrate-new-link",
        ".site.hydrate-old-file", "site"]


# --- the swap and its undo ------------------------------------------------------------------

def test_a_folder_that_appears_before_the_new_one_is_moved_in_is_kept(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    site = tmp_path / "site"

    def theirs(args: tuple[object, ...]) -> None:
        if path_arg(args, 1) == str(site) and not site.exists():
            site.mkdir()
            (site / "theirs.txt").write_text("mine\n")

    at("os.rename", theirs)
    refused(lambda: places.replace_dir(site, {"x": b"x"}, what="--html", stamp=STAMP),
            f"--html {site}: holds files (theirs.txt) and was not written by hydrate (no "
            ".hydrate-site); choose a new or empty directory (hydrate replaces only what it "
            "wrote)")
    assert tree(tmp_path) == {"site": "d", "site/theirs.txt": b"mine\n"}


def test_a_directory_swapped_for_someone_elses_after_the_check_is_put_back(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    """Checked as hydrate's, then replaced by another folder just before it is moved away:
    what was moved is checked again, and put back."""
    site = tmp_path / "site"
    places.replace_dir(site, {"index.html": b"old\n"}, what="--html", stamp=STAMP)

    def swap_in_theirs(args: tuple[object, ...]) -> None:
        if path_arg(args) == str(site) and (site / STAMP).exists():
            (site / STAMP).unlink()
            (site / "index.html").write_text("theirs\n")

    at("os.rename", swap_in_theirs)
    refused(lambda: places.replace_dir(site, {"index.html": b"new\n"}, what="--html",
                                       stamp=STAMP),
            f"--html {site}: changed while hydrate was writing; it is as it was: run the "
            "command again")
    assert tree(tmp_path) == {"site": "d", "site/index.html": b"theirs\n"}


def test_a_failed_move_of_the_new_directory_puts_the_old_one_back(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    site = tmp_path / "site"
    places.replace_dir(site, {"index.html": b"old\n"}, what="--html", stamp=STAMP)

    def fail_the_new_one(args: tuple[object, ...]) -> None:
        if path_arg(args, 1) == str(site) and ".site.hydrate-new-" in path_arg(args):
            raise OSError(28, "No space left on device", path_arg(args))

    at("os.rename", fail_the_new_one)
    with pytest.raises(PipelineError) as caught:
        places.replace_dir(site, {"index.html": b"new\n"}, what="--html", stamp=STAMP)
    assert str(caught.value) == (f"--html {site}: cannot write: No space left on device: "
                                 f"{caught.value.__context__.filename}; it is as it was")  # type: ignore[union-attr]
    assert tree(tmp_path) == {"site": "d", f"site/{STAMP}": STAMPED,
                              "site/index.html": b"old\n"}


def test_an_empty_directory_replaced_is_removed_and_one_of_ours_too(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    places.replace_dir(site, {"a": b"1"}, what="--html", stamp=STAMP)
    places.replace_dir(site, {"b": b"2"}, what="--html", stamp=STAMP)
    assert tree(tmp_path) == {"site": "d", f"site/{STAMP}": STAMPED, "site/b": b"2"}


def test_a_folder_hydrate_may_not_list_says_so(tmp_path: Path,
                                              at: Callable[[str, Action], None]) -> None:
    """(Root lists any folder: the refusal is injected at os.listdir.)"""
    mine = tmp_path / "mine"
    mine.mkdir()

    def deny(args: tuple[object, ...]) -> None:
        if path_arg(args) == str(mine):
            raise PermissionError(13, "Permission denied", str(mine))

    at("os.listdir", deny)
    refused(lambda: places.claim_dir(mine, what="--out", stamp=STAMP),
            f"--out {mine}: cannot read it: Permission denied: {mine}")


def test_below_a_link_loop_the_write_fails_naming_it(tmp_path: Path) -> None:
    """A path below a symbolic link loop: no crash, the reason in words (before, lstat's
    ELOOP escaped as an internal error)."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    below = tmp_path / "a" / "report.json"
    places.claim_file(below, what="--output", repo=tmp_path)
    refused(lambda: places.write_file(below, b"{}", what="--output", repo=tmp_path),
            f"--output {below}: cannot write: Too many levels of symbolic links")
    assert places.claim_dir(tmp_path / "a" / "site", what="--out", stamp=STAMP,
                            protect=[tmp_path / "a"]) is False


def test_the_repository_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Checked first: a stamped repository is refused as the repository, not found
    unwritable on the way (these files cannot be written)."""
    repo = tmp_path / "config"
    repo.mkdir()
    (repo / STAMP).write_bytes(STAMPED)
    refused(lambda: places.replace_dir(repo, {"a": b"x", "a/b": b"y"}, what="--html",
                                       stamp=STAMP, protect=[repo]),
            f"--html {repo}: is the repository; hydrate would replace it: give a new "
            "directory for its output")


def test_a_repository_moved_inside_while_writing_is_not_replaced(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    """Checked again at the swap: the repository moved into the site meanwhile (a link
    left where it was) is refused and kept, with the site as it was."""
    site, repo = tmp_path / "site", tmp_path / "config"
    (repo / "fleet").mkdir(parents=True)
    places.replace_dir(site, {"index.html": b"old\n"}, what="--html", stamp=STAMP,
                       protect=[repo])

    def move_it_inside(args: tuple[object, ...]) -> None:
        if ".site.hydrate-new-" in path_arg(args) and not repo.is_symlink():
            os.rename(repo, site / "config")
            repo.symlink_to(site / "config")

    at("os.mkdir", move_it_inside)
    refused(lambda: places.replace_dir(site, {"index.html": b"new\n"}, what="--html",
                                       stamp=STAMP, protect=[repo]),
            f"--html {site}: holds the repository {repo}; hydrate would replace it: give a "
            "new directory for its output")
    assert tree(site) == {STAMP: STAMPED, "config": "d", "config/fleet": "d",
                          "index.html": b"old\n"}


def test_a_repository_that_appears_where_the_new_directory_goes_is_named(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    site = tmp_path / "site"

    def clone_there(args: tuple[object, ...]) -> None:
        if path_arg(args, 1) == str(site) and not site.exists():
            (site / "fleet").mkdir(parents=True)
            (site / STAMP).write_bytes(STAMPED)

    at("os.rename", clone_there)
    refused(lambda: places.replace_dir(site, {"x": b"x"}, what="--html", stamp=STAMP,
                                       protect=[site]),
            f"--html {site}: is the repository; hydrate would replace it: give a new "
            "directory for its output")
    assert tree(tmp_path) == {"site": "d", f"site/{STAMP}": STAMPED, "site/fleet": "d"}


def test_a_link_swapped_in_after_the_check_is_put_back_untouched(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    """Someone replaced the site with a link to a folder hydrate wrote, after the check:
    what was moved away is a link, so the swap is undone and the link left as it was."""
    site, other = tmp_path / "site", tmp_path / "other"
    places.replace_dir(site, {"index.html": b"old\n"}, what="--html", stamp=STAMP)
    places.replace_dir(other, {"index.html": b"other\n"}, what="--html", stamp=STAMP)

    done: list[bool] = []

    def link_it(args: tuple[object, ...]) -> None:
        if path_arg(args) == str(site) and not done:
            done.append(True)
            os.rename(site, tmp_path / "moved")
            site.symlink_to(other)

    at("os.rename", link_it)
    refused(lambda: places.replace_dir(site, {"index.html": b"new\n"}, what="--html",
                                       stamp=STAMP),
            f"--html {site}: changed while hydrate was writing; it is as it was: run the "
            "command again")
    assert site.is_symlink()
    assert tree(other) == {STAMP: STAMPED, "index.html": b"other\n"}


def test_an_old_directory_that_cannot_be_removed_stays_beside_and_goes_next_time(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    """The new directory is in place; the old one's removal failed half way (its stamp
    could not go): it waits beside, and the next write clears it."""
    site = tmp_path / "site"
    places.replace_dir(site, {"index.html": b"old\n"}, what="--html", stamp=STAMP)

    def keep_the_stamp(args: tuple[object, ...]) -> None:
        if path_arg(args) == STAMP and args[1] is not None:  # rmtree's unlink, by dir fd
            raise PermissionError(13, "Permission denied", STAMP)

    at("os.remove", keep_the_stamp)
    places.replace_dir(site, {"index.html": b"new\n"}, what="--html", stamp=STAMP)
    (left,) = (p for p in tmp_path.iterdir() if p.name != "site")
    assert re.fullmatch(r"\.site\.hydrate-old-[0-9a-f]{12}", left.name), left.name
    assert tree(left) == {STAMP: STAMPED}
    assert tree(site) == {STAMP: STAMPED, "index.html": b"new\n"}


def test_a_leftover_that_cannot_be_removed_whole_does_not_stop_the_others(
        tmp_path: Path, at: Callable[[str, Action], None]) -> None:
    """The first file removal fails: only that file stays, every other leftover goes."""
    site = tmp_path / "site"
    for name in (".site.hydrate-new-aaaa", ".site.hydrate-old-bbbb"):
        (tmp_path / name).mkdir()
        (tmp_path / name / STAMP).write_bytes(STAMPED)
        (tmp_path / name / "index.html").write_text("x\n")
    failed: list[str] = []

    def fail_once(args: tuple[object, ...]) -> None:
        if not failed and args[1] is not None:
            failed.append(path_arg(args))
            raise PermissionError(13, "Permission denied", path_arg(args))

    at("os.remove", fail_once)
    places.clear_leftovers(site, STAMP)
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in left] == failed
