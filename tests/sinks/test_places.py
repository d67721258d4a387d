"""hydrate replaces only what it made: every output path of `report --html`, `render --out`
and `validate --output` goes through pipeline.sinks.places, through the real CLI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from tests import clirun
from tests.conftest import hydrate

# (command, option) pairs that replace a directory, with the stamp that marks it as hydrate's.
DIRS = [pytest.param(("report", "--html"), ".hydrate-site", id="report"),
        pytest.param(("render", "--out"), ".hydrate-render", id="render")]


def _tree(root: Path) -> dict[str, bytes | str]:
    """Everything below `root`, without following links: files by content, others by kind."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        rel = path.relative_to(root).as_posix()
        found[rel] = path.read_bytes() if stat.S_ISREG(mode) else stat.filemode(mode)[0]
    return found


def _run(repo: Path, *args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI with a timeout of its own: a FIFO opened for reading would hang it."""
    env = clirun.environment()
    return subprocess.run([sys.executable, "-m", "pipeline", "--repo", str(repo), *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _refused(proc: subprocess.CompletedProcess[str], where: Path, why: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f" {where}: {why}" in proc.stderr, proc.stderr


@pytest.mark.parametrize(("command", "stamp"), DIRS)
def test_the_repository_and_its_parents_are_refused_even_when_stamped(
        example: Path, command: tuple[str, str], stamp: str) -> None:
    """`report --html .` removed fleet/, bases/, overlays/ and .git/ of the repository."""
    (example / ".git").mkdir()
    (example / stamp).write_text("planted\n")  # a stamp does not make the repository hydrate's
    before = _tree(example.parent)
    _refused(_run(example, *command, "."), example, "is the repository; hydrate would replace it")
    _refused(_run(example, *command, example.parent), example.parent,
             f"holds the repository {example}; hydrate would replace it")
    assert _tree(example.parent) == before


@pytest.mark.parametrize(("command", "stamp"), DIRS)
def test_a_folder_of_the_users_own_files_is_refused_and_kept(
        example: Path, tmp_path: Path, command: tuple[str, str], stamp: str) -> None:
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes/todo.txt").write_text("buy milk\n")
    (mine / f"{stamp}.txt").write_text("a name like the stamp is not the stamp\n")
    before = _tree(mine)
    _refused(_run(example, *command, mine), mine, f"holds files ({stamp}.txt, notes) and was not "
             f"written by hydrate (no {stamp}); choose a new or empty directory")
    assert _tree(mine) == before
    # The stamp must be a file: a directory, link or FIFO of that name does not count.
    os.mkfifo(mine / stamp)
    _refused(_run(example, *command, mine, timeout=60), mine, "holds files")
    assert stat.S_ISFIFO((mine / stamp).lstat().st_mode)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # what /dev/null is


def _file(path: Path) -> None:
    path.write_text("someone's file\n")


def _socket(path: Path) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))


KINDS: list[tuple[str, Callable[[Path], None], str]] = [
    ("fifo", _fifo, "a FIFO (named pipe)"), ("file", _file, "a file"), ("socket", _socket, "a socket"),
    *([("device", _device, "a character device")] if os.geteuid() == 0 else []),
]


@pytest.mark.parametrize(("command", "stamp"), DIRS)
@pytest.mark.parametrize(("name", "make", "words"), KINDS, ids=[k[0] for k in KINDS])
def test_what_is_not_a_directory_is_refused_without_being_opened(
        example: Path, tmp_path: Path, command: tuple[str, str], stamp: str, name: str,
        make: Callable[[Path], None], words: str) -> None:
    """A FIFO made `report` hang forever; run as root on a device path it replaced the
    device with a directory."""
    path = tmp_path / name
    make(path)
    mode = path.lstat().st_mode
    _refused(_run(example, *command, path, timeout=60), path,
             f"exists and is {words}, not a directory; give another path")
    assert path.lstat().st_mode == mode


@pytest.mark.parametrize(("command", "stamp"), DIRS)
def test_a_symlink_is_refused_even_to_a_directory_hydrate_wrote(
        example: Path, tmp_path: Path, command: tuple[str, str], stamp: str) -> None:
    target = tmp_path / "real"
    target.mkdir()
    (target / stamp).write_text("")
    link = tmp_path / "link"
    link.symlink_to(target)
    _refused(_run(example, *command, link), link, "is a symbolic link; hydrate never writes through one")
    assert link.is_symlink()
    assert [p.name for p in target.iterdir()] == [stamp]


def test_the_site_replaces_only_a_site_and_is_readable_by_others(example: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()  # empty: fine
    made = clirun.run("--repo", example, "report", "--html", site, preexec=[clirun.umask(0o022)])
    assert made.code == 0, made.err
    assert (site / ".hydrate-site").is_file()
    modes = {p.relative_to(site).as_posix(): p.stat().st_mode & 0o777 for p in [site, *site.rglob("*")]}
    assert set(modes.values()) == {0o644, 0o755}, modes  # a web server under another user reads it
    assert modes["."] == modes["clusters"] == 0o755
    (site / "stale.html").write_text("from an older run\n")
    again = hydrate("--repo", example, "report", "--html", site)
    assert again.code == 0, again.err
    assert not (site / "stale.html").exists()
    assert (site / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "site"]  # nothing left beside it


def test_a_site_swapped_for_someone_elses_folder_mid_write_is_put_back(
        example: Path, tmp_path: Path) -> None:
    """Checked before the work and again at the swap: a folder that appeared meanwhile
    at the path is not removed."""
    site = tmp_path / "site"
    with clirun.paused("--repo", example, "report", "--html", site, env={}, event="os.rename",
                       needle=".site.hydrate-new-") as pause:
        site.mkdir()
        (site / "theirs.txt").write_text("mine\n")
        result = pause.resume()
    assert result.code == 1, result.err
    assert f"--html {site}: holds files (theirs.txt)" in result.err
    assert _tree(site) == {"theirs.txt": b"mine\n"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "site"]


def test_a_report_file_replaces_only_a_regular_file_outside_the_configuration(
        example: Path, tmp_path: Path) -> None:
    env_file = example / "fleet/environments.yaml"
    before = env_file.read_bytes()
    for given in (env_file, Path("fleet/environments.yaml")):
        proc = subprocess.run([sys.executable, "-m", "pipeline", "--repo", str(example), "validate",
                               "--output", str(given)], cwd=example, env=clirun.environment(),
                              capture_output=True, text=True, timeout=120, check=False)
        _refused(proc, given, "is part of the configuration (or of git); write the report somewhere else")
    assert env_file.read_bytes() == before
    for name, make, words in KINDS:
        if name != "file":  # a report file replaces a file: that is what --output is for
            path = tmp_path / name
            make(path)
            mode = path.lstat().st_mode
            _refused(_run(example, "validate", "--output", path, timeout=60), path,
                     f"exists and is {words}; hydrate replaces only a regular file")
            assert path.lstat().st_mode == mode
    (tmp_path / "old.sarif").write_text("an older report\n")
    link = tmp_path / "link.sarif"
    link.symlink_to(tmp_path / "old.sarif")
    _refused(_run(example, "validate", "--output", link), link, "exists and is a symbolic link")
    assert link.is_symlink()
    assert (tmp_path / "old.sarif").read_text() == "an older report\n"
    report = tmp_path / "report.json"
    written = clirun.run("--repo", example, "validate", "--format", "json", "--output", report,
                         preexec=[clirun.umask(0o022)])
    assert written.code == 0, written.err
    assert report.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
    assert report.read_text().startswith("{")


def test_diff_report_files_follow_the_same_rule(example_repo: pygit2.Repository, tmp_path: Path) -> None:
    root = Path(example_repo.workdir)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "elsewhere.md")
    for option, path, why in [
            ("--output", fifo, "exists and is a FIFO (named pipe); hydrate replaces only a regular file"),
            ("--json", link, "exists and is a symbolic link; hydrate replaces only a regular file"),
            ("--full-markdown", root / "fleet/environments.yaml",
             "is part of the configuration (or of git); write the report somewhere else")]:
        proc = _run(root, "diff", "--base", "HEAD", option, path, timeout=60)
        _refused(proc, path, why)
        assert proc.stderr.startswith(f"hydrate: error: {option} {path}: ")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert not (tmp_path / "elsewhere.md").exists()
    assert example_repo.status() == {}
    written = _run(root, "diff", "--base", "HEAD", "--format", "json", "--output", tmp_path / "d.json")
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "d.json").read_text().startswith("{")
