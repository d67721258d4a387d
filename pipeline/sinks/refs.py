"""Who writes and how refs move: the signature of the commits hydrate makes (at the
clock's time, HYDRATE_NOW included), and compare-and-swap updates of local refs under a
lock, so hydrate processes sharing a repository lose no update."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

import pygit2

from pipeline import clock
from pipeline.errors import GitError

_IDENTITY = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<email>[^<>]*)>\s*$")


def signature(repo: pygit2.Repository, environ: Mapping[str, str], who: str,
              override: str | None = None) -> pygit2.Signature:
    """Author or committer (`who`): `override` ("Name <email>"), else GIT_<WHO>_NAME/EMAIL,
    else the repository's user.name/user.email, else "hydrate <hydrate@localhost>"."""
    if override:
        match = _IDENTITY.match(override)
        if not match:
            raise GitError(f"--{who} {override!r}: expected \"Name <email>\"")
        return clock.at_now(pygit2.Signature(match["name"], match["email"]), environ)
    name = environ.get(f"GIT_{who.upper()}_NAME")
    email = environ.get(f"GIT_{who.upper()}_EMAIL")
    config = repo.config
    if not name:
        name = config["user.name"] if "user.name" in config else "hydrate"
    if not email:
        email = config["user.email"] if "user.email" in config else "hydrate@localhost"
    return clock.at_now(pygit2.Signature(str(name), str(email)), environ)


def branch_name_problem(name: str) -> str | None:
    """Why git would refuse `name` as a branch (`git check-ref-format --branch`), or
    None. `HEAD` and a leading `-` are refused too: git would read them as the current
    commit and as an option."""
    if name.startswith("-"):
        return "a branch name may not start with '-' (git would read it as an option)"
    if name in ("HEAD", "@") or name.startswith("refs/"):
        return f"{name} is not a branch name git can tell from its other refs"
    if not pygit2.reference_is_valid_name(f"refs/heads/{name}"):
        return ("not a valid branch name (no spaces, '..', '~', '^', ':', '?', '*', '[', '\\', "
                "'@{', no '/' at either end or twice, no '.lock' or '.' at the end of a part)")
    return None


class RefLock:
    """A lock beside the repository's refs, so that hydrate processes sharing a
    repository update env branch refs compare-and-swap. Stale after a minute."""

    def __init__(self, repo: pygit2.Repository, name: str, timeout: float = 30.0) -> None:
        self._path = Path(repo.path) / f"hydrate-{name.replace('/', '-')}.lock"
        self._timeout = timeout

    def __enter__(self) -> RefLock:
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                os.close(os.open(self._path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return self
            except FileExistsError:
                try:
                    if time.time() - self._path.stat().st_mtime > 60:
                        self._path.unlink(missing_ok=True)
                        continue
                except FileNotFoundError:
                    continue
                if time.monotonic() > deadline:
                    raise GitError(f"{self._path}: locked by another hydrate process; if none "
                                   "is running, delete the file") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._path.unlink(missing_ok=True)


def update_ref(repo: pygit2.Repository, name: str, new: pygit2.Oid, expected: pygit2.Oid | None,
               log: str) -> bool:
    """Set ref `name` to `new` if it still points at `expected` (None: does not exist)."""
    with RefLock(repo, name):
        current = repo.references.get(name)
        if (current.target if current is not None else None) != expected:
            return False
        repo.create_reference_direct(name, new, True, message=log)
        return True
