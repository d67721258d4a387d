"""Where hydrate may write: the one check every output path passes before hydrate writes
or replaces it, and a directory replaced whole.

hydrate replaces only what it made (a directory carrying its stamp file) or an empty
place. Everything else is refused with one line and left untouched: a directory of
someone else's files, the repository or a folder holding it, a file, FIFO, device or
socket where a directory goes, and a symbolic link (hydrate never writes through one).
Kinds are told by `lstat`, so a FIFO is never opened (opening one waits for a writer).
A report file (`validate --output`) replaces a regular file, but never one of the
configuration's own files, nor anything but a regular file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.sinks import ondisk

CONFIG_DIRS = ("fleet", "bases", "overlays")  # the configuration's own files live here
_NEW, _OLD = ".hydrate-new-", ".hydrate-old-"  # beside a directory being replaced

_KINDS = {stat.S_IFREG: "a file", stat.S_IFIFO: "a FIFO (named pipe)",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFLNK: "a symbolic link", stat.S_IFDIR: "a directory"}


def kind(mode: int) -> str:
    """What an `lstat` mode is, in words."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def absolute(path: Path) -> Path:
    """`path` made absolute without following links (a link stays a link, to be refused)."""
    return Path(os.path.abspath(path))


def _lstat(path: Path) -> os.stat_result | None:
    """What is at `path` (None: nothing hydrate can see: missing, or below a file, a link
    loop or a folder it may not search; the write then fails naming the path and why)."""
    try:
        return os.lstat(path)
    except OSError:
        return None


def _holds(outer: Path, inner: Path) -> bool:
    """Whether directory `outer` is `inner` or one of its parents (links resolved; a link
    loop holds nothing, and the write below it fails)."""
    with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: a loop, in Python 3.11
        return inner.resolve().is_relative_to(outer.resolve())
    return False


def _stamped(directory: Path, stamp: str) -> bool:
    found = _lstat(directory / stamp)
    return found is not None and stat.S_ISREG(found.st_mode)


def claim_dir(path: Path, *, what: str, stamp: str | None, protect: Sequence[Path] = (),
              ignore: frozenset[str] = frozenset(), filled_ok: bool = False) -> bool:
    """Check that hydrate may write the directory `path`: missing, empty (but for the
    names in `ignore`), marked as hydrate's by the regular file `stamp` in it, or, with
    `filled_ok` (`init --force`: files are only added), any directory. Never a symbolic
    link, a non-directory, nor one of `protect` (the repository) or a folder holding one.
    Returns whether it exists; PipelineError (one line: `what`, the path, why, what to
    do) for anything else, with nothing touched."""
    found = _lstat(path)
    if found is None:
        return False
    if stat.S_ISLNK(found.st_mode):
        raise PipelineError(f"{what} {path}: is a symbolic link; hydrate never writes through "
                            "one: give the directory itself, or a new path")
    if not stat.S_ISDIR(found.st_mode):
        raise PipelineError(f"{what} {path}: exists and is {kind(found.st_mode)}, not a "
                            "directory; give another path")
    for repo in protect:
        if _holds(path, repo):
            which = "is the repository" if _holds(repo, path) else f"holds the repository {repo}"
            raise PipelineError(f"{what} {path}: {which}; hydrate would replace it: give a "
                                "new directory for its output")
    if filled_ok or (stamp is not None and _stamped(path, stamp)):
        return True
    try:
        entries = [name for name in os.listdir(path) if name not in ignore]
    except OSError as e:
        raise PipelineError(f"{what} {path}: cannot read it: {ondisk.describe(e)}") from None
    if entries:
        shown = ", ".join(sorted(entries)[:3]) + (", …" if len(entries) > 3 else "")
        made = f"was not written by hydrate (no {stamp})" if stamp else "is not empty"
        raise PipelineError(f"{what} {path}: holds files ({shown}) and {made}; choose a new "
                            "or empty directory (hydrate replaces only what it wrote)")
    return True


def claim_file(path: Path, *, what: str, repo: Path | None = None) -> None:
    """Check that hydrate may write the report file `path`: missing, or a regular file that
    is not one of the configuration's own (under fleet/, bases/, overlays/ of `repo`, or
    in a .git directory). PipelineError for anything else, nothing touched."""
    found = _lstat(path)
    if found is not None and not stat.S_ISREG(found.st_mode):
        raise PipelineError(f"{what} {path}: exists and is {kind(found.st_mode)}; hydrate "
                            "replaces only a regular file: give a file path (or leave out "
                            f"{what} for stdout)")
    full = absolute(path)
    inside = ".git" in full.parts
    if repo is not None:
        inside = inside or any(_holds(absolute(repo) / top, full.parent / full.name)
                               for top in CONFIG_DIRS)
    if inside:
        raise PipelineError(f"{what} {path}: is part of the configuration (or of git); "
                            "write the report somewhere else")


def write_file(path: Path, data: bytes, *, what: str, repo: Path | None = None) -> None:
    """`claim_file`, then `path` replaced whole (new: with the umask's mode)."""
    claim_file(path, what=what, repo=repo)
    try:
        ondisk.replace_file(path, data)
    except OSError as e:  # (its file name is the temporary one's: name the report's)
        raise PipelineError(f"{what} {path}: cannot write: {e.strerror or e}") from None


def new_dir(parent: Path, prefix: str) -> Path:
    """A new directory in `parent`, with the umask's mode (what a web server under another
    user may read), not mkdtemp's 0700."""
    while True:
        path = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue


def clear_leftovers(out: Path, stamp: str) -> None:
    """What a killed `replace_dir` left beside `out`: its own staging folders only."""
    with contextlib.suppress(OSError):
        for entry in out.parent.iterdir():
            if entry.name.startswith((f".{out.name}{_NEW}", f".{out.name}{_OLD}")) and \
                    entry.is_dir() and not entry.is_symlink() and _stamped(entry, stamp):
                shutil.rmtree(entry, ignore_errors=True)


def replace_dir(out: Path, files: Mapping[str, bytes], *, what: str, stamp: str,
                protect: Sequence[Path] = ()) -> None:
    """`out` holding exactly `files` and the stamp, whole or not at all: built beside it,
    then swapped in with SIGINT/SIGTERM held back. `out` must pass `claim_dir` (checked
    again just before the old directory is moved away and once more after, so a
    directory swapped in meanwhile is put back and refused). Files get the umask's modes."""
    out = absolute(out)
    claim_dir(out, what=what, stamp=stamp, protect=protect)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clear_leftovers(out, stamp)
        stage = new_dir(out.parent, f".{out.name}{_NEW}")
    except OSError as e:
        raise PipelineError(f"{what} {out}: cannot write: {ondisk.describe(e)}") from None
    try:
        for rel, data in {**files, stamp: b"written by hydrate: replaced whole on each run\n"}.items():
            target = stage / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as f:  # 0666 less the umask
                f.write(data)
        with ondisk.signals_deferred():
            _swap(out, stage, what, stamp, protect)
    except OSError as e:
        raise PipelineError(f"{what} {out}: cannot write: {ondisk.describe(e)}; it is as it "
                            "was") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _swap(out: Path, stage: Path, what: str, stamp: str, protect: Sequence[Path]) -> None:
    if not claim_dir(out, what=what, stamp=stamp, protect=protect):
        try:
            os.rename(stage, out)
        except OSError:  # something appeared there meanwhile: say what, if it is not ours
            claim_dir(out, what=what, stamp=stamp, protect=protect)
            raise
        return
    old = out.with_name(f".{out.name}{_OLD}{secrets.token_hex(6)}")
    os.rename(out, old)
    try:
        # What was moved is what was checked: a directory swapped in after the check is not.
        if _lstat(old) is None or stat.S_ISLNK(os.lstat(old).st_mode) or not (
                _stamped(old, stamp) or not os.listdir(old)):
            raise PipelineError(f"{what} {out}: changed while hydrate was writing; it is as "
                                "it was: run the command again")
        os.rename(stage, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(old, out)
        raise
    if _stamped(old, stamp):
        shutil.rmtree(old, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.rmdir(old)

