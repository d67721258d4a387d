"""The real CLI in a subprocess, under conditions the OS imposes: a file-size limit (a
full disk, as far as hydrate can tell), permissions that hold even for root, a lock held
by someone else, and a pause at a chosen rename or subprocess, so a test can send a real
signal there or let another process overtake it.

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
from typing import BinaryIO

from tests.conftest import ROOT, Result

Preexec = Callable[[], None]

# Runs `hydrate` with an audit hook that, at the Nth event EVENT (a rename, or a started
# subprocess) whose subject (the renamed path, or the command line) contains NEEDLE,
# writes a line to fd READY and waits for a byte on fd GO; or, if ACTION is `raise`,
# raises an exception hydrate does not expect there (a bug, as far as it can tell).
_PAUSING = """
import os, signal, sys
# A test runner's worker may ignore SIGINT, and a child inherits that: give the CLI the
# Ctrl-C a terminal would.
signal.signal(signal.SIGINT, signal.default_int_handler)
ready, go, wanted, needle, nth, action = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                          sys.argv[4], int(sys.argv[5]), sys.argv[6])
seen = [0]
def subject(event, args):
    if event == "os.rename":
        return os.fsdecode(args[0])
    return " ".join(map(os.fsdecode, args[1]))  # subprocess.Popen: executable, args, ...
def hook(event, args):
    if event == wanted and needle in subject(event, args):
        seen[0] += 1
        if seen[0] == nth and action == "raise":
            raise LookupError(f"injected by the test at {event} {nth}")
        if seen[0] == nth:
            os.write(ready, b"paused\\n")
            os.read(go, 1)
sys.addaudithook(hook)
from pipeline.cli import main
main(sys.argv[7:])
"""

_CAPS_THAT_IGNORE_PERMISSIONS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
_PR_CAPBSET_DROP = 24


def environment(env: dict[str, str] | None = None, measured: bool = True) -> dict[str, str]:
    """The environment `tests.conftest.hydrate` gives the CLI (pass HYDRATE_CACHE_DIR).
    Not `measured`: without the variables that start coverage in a child (under
    `scripts/test --coverage`), for a child that could not write its data anyway."""
    drop = ("GIT_", "HYDRATE_") if measured else ("GIT_", "HYDRATE_", "COVERAGE_")
    full = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
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
        preexec: Sequence[Preexec] = (), measured: bool = True) -> Result:
    """`hydrate ARGS` with the limits of `preexec` applied to it (`measured`: see
    `environment`)."""
    def setup() -> None:
        for step in preexec:
            step()

    proc = subprocess.run([sys.executable, "-m", "pipeline", *map(str, args)], cwd=ROOT,
                          env=environment(env, measured), capture_output=True, text=True,
                          timeout=600, check=False, preexec_fn=setup)
    return Result(proc.returncode, proc.stdout, proc.stderr)


class Paused:
    """A `hydrate` process stopped at a chosen point; `resume` lets it go on (after sending
    it `signum`, if given) and returns how it ended."""

    def __init__(self, proc: subprocess.Popen[str], go: BinaryIO) -> None:
        self._proc = proc
        self._go = go

    def resume(self, signum: int | None = None) -> Result:
        if signum is not None:
            self._proc.send_signal(signum)
        if signum != signal.SIGKILL:
            self._go.write(b"g")
        out, err = self._proc.communicate(timeout=600)
        return Result(self._proc.returncode, out, err)


@contextlib.contextmanager
def paused(*args: str | os.PathLike[str], env: dict[str, str], event: str, needle: str,
           nth: int = 1) -> Iterator[Paused]:
    """`hydrate ARGS`, stopped at its `nth` `event` (`os.rename`: a renamed path containing
    `needle`; `subprocess.Popen`: a command line containing it) while the block runs."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    with subprocess.Popen([sys.executable, "-c", _PAUSING, str(ready_w), str(go_r), event,
                           needle, str(nth), "pause", *map(str, args)], cwd=ROOT, env=environment(env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          pass_fds=(ready_w, go_r)) as proc:
        os.close(ready_w)
        os.close(go_r)
        with os.fdopen(ready_r, "rb") as ready, os.fdopen(go_w, "wb", buffering=0) as go:
            line = ready.readline()  # b"" if it ended without getting there
            assert line == b"paused\n", f"never reached {event} {nth} of {needle}: " + \
                proc.communicate(timeout=600)[1]
            try:
                yield Paused(proc, go)
            finally:
                if proc.returncode is None:
                    proc.kill()


def interrupted(*args: str | os.PathLike[str], env: dict[str, str], needle: str, nth: int,
                signum: int) -> Result:
    """`hydrate ARGS`, sent `signum` while it is stopped at its `nth` rename of a path
    containing `needle` (after the signal it goes on, unless it was killed)."""
    with paused(*args, env=env, event="os.rename", needle=needle, nth=nth) as stopped:
        return stopped.resume(signum)


def failing(*args: str | os.PathLike[str], env: dict[str, str], event: str, needle: str,
            nth: int = 1) -> Result:
    """`hydrate ARGS`, with an exception no code of hydrate expects (LookupError) raised
    at its `nth` `event` matching `needle` (see `paused`)."""
    proc = subprocess.run([sys.executable, "-c", _PAUSING, "-1", "-1", event, needle, str(nth),
                           "raise", *map(str, args)], cwd=ROOT, env=environment(env),
                          capture_output=True, text=True, timeout=600, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


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
