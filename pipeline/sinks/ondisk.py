"""Safe updates of a directory that other processes and people also touch.

* `locked`: an exclusive `flock` on a lock file, so that two writers take turns; the
  kernel releases it when its holder dies, however it dies.
* `signals_deferred`: SIGINT and SIGTERM wait until a block of renames is done, so a
  Ctrl-C or a polite kill never leaves it half done.
* `scan`: a cheap fingerprint of what a directory holds (path, inode, size, mtime and
  ctime of every file: one `lstat` each, no reads). Writing, replacing, adding or deleting
  a file changes it, and so does swapping in another directory, whose files are other
  inodes with later ctimes: a fingerprint recorded after a write vouches for exactly the
  files that were written.
* `replace_file`: a file written whole or not at all (a temporary file beside it,
  renamed over it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pipeline.errors import PipelineError

Warn = Callable[[str], None]

_POLL = 0.1  # seconds between attempts to take a busy lock


def _holder(fd: int) -> str:
    """Who holds the lock, from the pid its holder wrote into the file."""
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return f"pid {text}"
    return "another process"


def _take(path: Path, deadline: float, timeout: float, what: str, warn: Warn | None) -> int:
    """An fd of the lock file `path`, locked; waits for a holder until `deadline`."""
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                holder = _holder(fd)
                if time.monotonic() >= deadline:
                    raise PipelineError(
                        f"{what}: {holder} is writing to it (lock {path}); gave up after "
                        f"{timeout:g}s: let it finish, raise --lock-timeout, or use another "
                        "--out")
                if not told and warn is not None:
                    warn(f"{what}: {holder} is writing to it; waiting up to {timeout:g}s for "
                         f"its lock ({path})")
                    told = True
                time.sleep(_POLL)
            # A holder removes the file as it lets go: if it did after we opened it, ours is
            # a lock nobody else will ask for. Open the current one.
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.stat(path)):
                    return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextlib.contextmanager
def locked(path: Path, *, timeout: float, what: str, warn: Warn | None = None) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` for the block (the file exists only
    while it is held, or after its holder was killed); wait up to `timeout` seconds for
    another holder, then PipelineError naming it (by the pid it wrote into the file)."""
    fd = _take(path, time.monotonic() + timeout, timeout, what, warn)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # still held: whoever opens the path from now on gets a new lock
        os.close(fd)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM held back; one that arrived meanwhile is
    delivered (to the handler that was there before) when the block is done."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may change handlers, and only it receives them
        return
    caught: list[int] = []

    def remember(signum: int, _frame: FrameType | None) -> None:
        caught.append(signum)

    previous = {s: signal.signal(s, remember) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])


@dataclass(frozen=True)
class Scan:
    stamp: str  # the fingerprint
    files: tuple[str, ...]  # every file, relative to the directory, with "/" separators


def scan(directory: Path) -> Scan | None:
    """The fingerprint and files of `directory`; None if it is missing or holds anything
    but directories and regular files (a link, a pipe: never ours, never trusted).

    Entries are taken in the order the directory gives them, which stays the same while
    it is not changed (a different order only makes the fingerprint differ, and the
    caller then reads the files): sorting 57,000 names per warm render is not needed.
    """
    files: list[str] = []
    seen: list[str] = []
    todo = [("", os.fspath(directory))]
    while todo:
        rel, path = todo.pop()
        try:
            it = os.scandir(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        with it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    todo.append((f"{rel}{entry.name}/", entry.path))
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    files.append(rel + entry.name)
                    seen.append(f"{rel}{entry.name}\0{st.st_ino}\0{st.st_size}\0"
                                f"{st.st_mtime_ns}\0{st.st_ctime_ns}")
                else:
                    return None
    stamp = hashlib.sha256("\n".join(seen).encode(errors="surrogateescape")).hexdigest()
    return Scan(stamp, tuple(files))


def read_files(directory: Path, files: tuple[str, ...]) -> dict[str, bytes] | None:
    """The contents of `files` (as `scan` listed them); None if one went away meanwhile."""
    try:
        return {rel: (directory / rel).read_bytes() for rel in files}
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def replace_file(path: Path, data: bytes, mode: int | None = None) -> None:
    """`path` holds `data`, whole: written beside it and renamed over it, so a reader
    never sees half of it and a failure leaves the old file (and no temporary one).
    `mode`: the new file's permissions (default: the old file's, or for a new file 0666
    less the umask, as `open` gives)."""
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            mode = os.stat(path).st_mode & 0o7777
    fd, tmp = new_file(path.parent, f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_file(directory: Path, prefix: str) -> tuple[int, str]:
    """A new file of a random name in `directory`, open for writing, with the umask's mode
    (mkstemp's is 0600: a reader under another user could not read it)."""
    while True:
        name = os.path.join(directory, f"{prefix}{secrets.token_hex(6)}")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), name
        except FileExistsError:
            continue


def describe(error: OSError) -> str:
    """An OS error in words, with the path it is about."""
    what = error.strerror or str(error)
    return f"{what}: {error.filename}" if error.filename else what
