"""The real CLI in a subprocess, under conditions the OS imposes: a file-size limit (a
full disk, as far as hydrate can tell), permissions that hold even for root, a lock held
by someone else, and a pause at a chosen rename so a test can send a real signal there.

Nothing here is known to hydrate: the pause is an audit hook (`sys.addaudithook`)
installed by the test's own entry script, and the limits are set on the child process.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tests.conftest import ROOT, Result

Preexec = Callable[[], None]

# Runs `hydrate` with an audit hook that, at the Nth rename whose source contains NEEDLE,
# writes a line to fd READY and waits for a byte on fd GO.
_PAUSING = """
import os, signal, sys
# A test runner's worker may ignore SIGINT, and a child inherits that: give the CLI the
# Ctrl-C a terminal would.
signal.signal(signal.SIGINT, signal.default_int_handler)
ready, go, needle, nth = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
seen = [0]
def hook(event, args):
    if event == "os.rename" and needle in os.fsdecode(args[0]):
        seen[0] += 1
        if seen[0] == nth:
            os.write(ready, b"paused\\n")
            os.read(go, 1)
sys.addaudithook(hook)
from pipeline.cli import main
main(sys.argv[5:])
"""

_CAPS_THAT_IGNORE_PERMISSIONS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
_PR_CAPBSET_DROP = 24


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `tests.conftest.hydrate` gives the CLI (pass HYDRATE_CACHE_DIR)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "HYDRATE_"))}
    full.update(env or {})
    return full


def file_size_limit(size: int) -> Preexec:
    """No file may grow past `size` bytes: writes beyond fail with EFBIG (Python ignores
    SIGXFSZ), as they would with ENOSPC on a full disk."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def umask(mask: int) -> Preexec:
    """The child's umask."""
    def apply() -> None:
        os.umask(mask)
    return apply


def honour_permissions() -> None:
    """Make file permissions apply to the child even when the tests run as root (here,
    and in containers): root without these capabilities is refused like anyone else."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _CAPS_THAT_IGNORE_PERMISSIONS:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run(*args: str | os.PathLike[str], env: dict[str, str] | None = None,
        preexec: Sequence[Preexec] = ()) -> Result:
    """`hydrate ARGS` with the limits of `preexec` applied to it."""
    def setup() -> None:
        for step in preexec:
            step()

    proc = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=ROOT,
                          env=environment(env), capture_output=True, text=True, timeout=600,
                          check=False, preexec_fn=setup)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def interrupted(*args: str | os.PathLike[str], env: dict[str, str], needle: str, nth: int,
                signum: int) -> Result:
    """`hydrate ARGS`, sent `signum` while it is stopped at its `nth` rename of a path
    containing `needle` (after the signal it goes on, unless it was killed)."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    with subprocess.Popen([sys.executable, "-c", _PAUSING, str(ready_w), str(go_r), needle,
                           str(nth), *map(str, args)], cwd=ROOT, env=environment(env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          pass_fds=(ready_w, go_r)) as proc:
        os.close(ready_w)
        os.close(go_r)
        with os.fdopen(ready_r, "rb") as ready, os.fdopen(go_w, "wb", buffering=0) as go:
            line = ready.readline()  # b"" if it ended without getting there
            assert line == b"paused\n", f"never reached rename {nth} of {needle}: " + \
                proc.communicate(timeout=600)[1]
            proc.send_signal(signum)
            if signum != signal.SIGKILL:
                go.write(b"g")
            out, err = proc.communicate(timeout=600)
    return Result(proc.returncode, out, err)


@contextlib.contextmanager
def holding_lock(path: Path) -> Iterator[None]:
    """Hold the lock another hydrate would hold on `path` (our pid written in it)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)
