"""Fetching and pushing env branches with pygit2: local paths, file://, HTTPS with a
token, SSH with the agent or a key file.

Credentials and the URLs shown without them: `pipeline.sinks.credentials`.

Every push is compare-and-swap and honours the remote's hooks. Over HTTPS and SSH the
server's receive-pack does both. libgit2's local transport (a path or file://) does
neither: it writes the remote's ref without checking its old value and runs no hook, so
pushes to local remotes go through git's own `git push` (receive-pack on the same
machine) in a hermetic environment. What the remote says (its hooks' output) is kept,
cleaned of control characters, and shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from pipeline.errors import GitError
from pipeline.sinks.credentials import Callbacks, Credentials, is_ssh, local_path, redact, with_url_login

# The client saw that the remote's branch is not where the push expects it (git, libgit2).
_MOVED = ("fetch first", "non-fast-forward", "non-fastforwardable", "not present locally",
          "stale info")
# receive-pack could not update the ref under its lock: a lost compare-and-swap, a lock
# held by a concurrent push, or a real failure (permissions): `push` tells them apart.
_LOCK = ("failed to update ref", "failed to lock", "cannot lock ref")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")
_PROGRESS = re.compile(r"^(Resolving deltas|Unpacking objects|Counting objects|Compressing "
                       r"objects|Writing objects|Enumerating objects|Total \d+)")
PUSH_TIMEOUT = 600.0  # the remote's hooks may run checks of their own


def remote_lines(text: str) -> tuple[str, ...]:
    """What a remote said (its hooks' output, receive-pack's errors) as clean lines: no
    progress meters, no terminal control sequences (the text comes from the server)."""
    lines = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = _CONTROL.sub("", raw.split("\r")[-1]).strip()
        if line and not _PROGRESS.match(line):
            lines.append(line)
    return tuple(lines)


def one_line(lines: tuple[str, ...], limit: int = 400) -> str:
    """Several lines as one, for an error message."""
    text = " / ".join(lines)
    return text if len(text) <= limit else text[:limit] + " …"


class PushRefused(GitError):
    """The remote refused a push for another reason than a lost race: a hook, a protected
    branch, permissions. `said` holds the remote's own lines."""

    def __init__(self, url: str, branch: str, reason: str, said: tuple[str, ...]) -> None:
        self.reason = reason
        self.said = said
        told = f"; the remote said: {one_line(said)}" if said else ""
        super().__init__(f"{url} refused the push to {branch} ({reason}){told}")


@dataclass(frozen=True)
class _Outcome:
    refused: str | None  # why the ref was not updated; None: it was
    said: tuple[str, ...]  # the remote's lines


@contextlib.contextmanager
def _shallow_kept(git_dir: Path) -> Iterator[None]:
    """Keep a shallow clone shallow: libgit2 rewrites `.git/shallow` on a fetch with only
    the shallow roots of what it fetched, so fetching an env branch (whole history) into
    the clone actions/checkout makes (depth 1) drops the roots of the source's history,
    and git then finds commits missing. The roots that were there stay."""
    path = git_dir / "shallow"
    try:
        before = path.read_bytes()
    except FileNotFoundError:
        yield
        return
    try:
        yield
    finally:
        try:
            after = path.read_bytes()
        except FileNotFoundError:
            after = b""
        roots = sorted({*before.split(), *after.split()})
        if set(roots) != set(after.split()):
            path.write_bytes(b"".join(r + b"\n" for r in roots))


class Remote:
    """A remote (by name in the repository, or a URL or path) for one repository."""

    def __init__(self, repo: pygit2.Repository, spec: str, creds: Credentials,
                 environ: Mapping[str, str]) -> None:
        self._repo = repo
        self._environ = dict(environ)  # what `git push` runs in (local remotes)
        self.name = spec if spec in repo.remotes.names() else None
        if self.name is not None:
            url = repo.remotes[self.name].url or spec
            push_url = repo.remotes[self.name].push_url or url
            where = f"remote {self.name}: "
            # A relative path in the repository's config: from the top of its work tree.
            top: Path | None = Path(repo.workdir or repo.path)
        else:
            url = push_url = spec
            where = ""
            top = None  # a path given on the command line: from the current directory
        self._url = self._local(url, where, top)
        self._push_url = self._local(push_url, where, top)
        self._creds = with_url_login(creds, self._push_url)
        self.url = redact(self._url)
        self._heads: dict[str, pygit2.Oid] | None = None
        if (is_ssh(url) or is_ssh(push_url)) and not creds.ssh_unverified_hosts:
            raise GitError(
                f"{self.url}: SSH remotes need HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS=1: the "
                "git library hydrate uses cannot verify SSH host keys against known_hosts; "
                "prefer an https:// URL with HYDRATE_GIT_TOKEN")

    @staticmethod
    def _local(url: str, where: str, top: Path | None) -> str:
        """`url`, or for a local remote the absolute path of a git repository that exists
        (else libgit2 would only say "unsupported URL protocol")."""
        path = local_path(url)
        if path is None:
            return url
        path = ((top or Path.cwd()) / path).resolve()
        if not path.is_dir():
            raise GitError(f"{where}{url}: no such directory; --remote takes a remote name "
                           "(see `git remote -v`), an https:// or ssh:// URL, or the path of "
                           "a git repository")
        try:
            pygit2.Repository(str(path), pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except pygit2.GitError:
            raise GitError(f"{where}{url}: not a git repository; give the path of a "
                           "repository (e.g. one made with `git init --bare`)") from None
        return str(path)

    @property
    def is_local(self) -> bool:
        """A path or file:// remote: pushed to with git's own receive-pack."""
        return local_path(self._push_url) is not None

    @property
    def _remote(self) -> pygit2.Remote:
        # A fresh handle per operation: libgit2 keeps a remote connected in one direction.
        # A local remote by its absolute path: a relative URL would follow our cwd.
        if self.name is not None and local_path(self._url) is None:
            return self._repo.remotes[self.name]
        return self._repo.remotes.create_anonymous(self._url)

    def _callbacks(self) -> Callbacks:
        return Callbacks(self.url, self._creds)

    def _fail(self, action: str, error: Exception) -> GitError:
        text = str(error)
        if "certificate" in text:
            text += " (the server's TLS certificate is not trusted; SSL_CERT_FILE names extra CAs)"
        return GitError(f"cannot {action} {self.url}: {text}")

    def tracking_ref(self, branch: str) -> str:
        if self.name is not None:
            return f"refs/remotes/{self.name}/{branch}"
        key = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return f"refs/hydrate/remotes/{key}/{branch}"

    def heads(self, refresh: bool = False) -> dict[str, pygit2.Oid]:
        """The remote's branches (contacts the remote; fails early if it is unreachable)."""
        if self._heads is None or refresh:
            try:
                listed = self._remote.list_heads(callbacks=self._callbacks())
            except (pygit2.GitError, OSError, ValueError) as e:
                raise self._fail("reach", e) from None
            self._heads = {h.name: h.oid for h in listed
                           if h.name and h.name.startswith(("refs/heads/", "refs/notes/"))
                           and h.oid is not None}
        return self._heads

    def notes_tracking_ref(self, notes: str) -> str:
        """Where a notes ref of the remote is fetched to (`refs/notes/hydrate` of origin:
        `refs/hydrate/notes/origin/hydrate`)."""
        key = self.name or hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return f"refs/hydrate/notes/{key}/{notes.removeprefix('refs/notes/')}"

    def fetch(self, branch: str) -> pygit2.Commit | None:
        """Fetch `branch` into its tracking ref; its head commit, or None if it does not exist."""
        return self.fetch_ref(f"refs/heads/{branch}", self.tracking_ref(branch))

    def fetch_ref(self, ref: str, tracking: str) -> pygit2.Commit | None:
        """Fetch the remote's `ref` into the local `tracking`; its commit, or None (and no
        tracking ref) if the remote has no such ref."""
        if ref not in self.heads(refresh=True):
            if tracking in self._repo.references:
                self._repo.references.delete(tracking)
            return None
        with _shallow_kept(Path(self._repo.path)):
            try:
                self._remote.fetch([f"+{ref}:{tracking}"], callbacks=self._callbacks(),
                                   message=f"hydrate: fetch {ref.removeprefix('refs/heads/')}")
            except (pygit2.GitError, OSError) as e:
                raise self._fail("fetch from", e) from None
        return self._repo[self._repo.references[tracking].target].peel(pygit2.Commit)

    def push(self, commit: pygit2.Oid, branch: str,
             said: Callable[[str], None] | None = None) -> bool:
        """Push `commit` to `branch` (never forced), compare-and-swap on the branch being at
        `commit`'s parent (absent for a root commit). False if the remote moved meanwhile
        (a lost race); PushRefused if it refused for another reason. Each line the remote
        said goes to `said`."""
        if not self.push_ref(commit, f"refs/heads/{branch}", said):
            return False
        with contextlib.suppress(pygit2.GitError):
            # A concurrent fetch may hold the lock; the tracking ref is only a cache.
            self._repo.references.create(self.tracking_ref(branch), commit, force=True)
        return True

    def push_ref(self, commit: pygit2.Oid, ref: str,
                 said: Callable[[str], None] | None = None, force: bool = False) -> bool:
        """`push` for any ref (a notes ref): the same compare-and-swap on the first parent.
        `force` only for a branch hydrate rebuilds from scratch each time and that nothing
        builds on (a promotion's `<branch>-next`); never for an environment branch."""
        branch = ref.removeprefix("refs/heads/")
        outcome = (self._push_git(commit, ref, force) if self.is_local
                   else self._push_libgit2(commit, ref, force))
        if said is not None:
            for line in outcome.said:
                said(line)
        if outcome.refused is not None:
            if self._lost_race(commit, ref, outcome):
                return False
            raise PushRefused(self.url, branch, outcome.refused, outcome.said)
        return True

    def _lost_race(self, commit: pygit2.Oid, ref: str, outcome: _Outcome) -> bool:
        reason = outcome.refused or ""
        if any(word in reason for word in _MOVED):
            return True
        if not any(word in reason for word in _LOCK):
            return False
        if any("File exists" in line for line in outcome.said):
            return True  # a concurrent push holds the ref's lock
        parents = self._repo[commit].peel(pygit2.Commit).parent_ids
        return self.heads(refresh=True).get(ref) != (parents[0] if parents else None)

    def _push_libgit2(self, commit: pygit2.Oid, ref: str, force: bool = False) -> _Outcome:
        # libgit2 pushes refs, not commits; a staging ref of our own, so concurrent
        # hydrate processes in one repository do not share it.
        staging = f"refs/hydrate/push/{uuid.uuid4().hex[:12]}"
        self._repo.references.create(staging, commit, force=True)
        callbacks = self._callbacks()
        try:
            self._remote.push([f"{'+' if force else ''}{staging}:{ref}"], callbacks=callbacks)
        except pygit2.GitError as e:
            if not any(word in str(e) for word in _MOVED):
                raise self._fail("push to", e) from None
            callbacks.rejected.setdefault(ref, str(e))
        finally:
            self._repo.references.delete(staging)
        said = remote_lines("".join(callbacks.sideband))
        return _Outcome(callbacks.rejected.get(ref), said)

    def _push_git(self, commit: pygit2.Oid, ref: str, force: bool = False) -> _Outcome:
        """Push with `git push`: receive-pack checks the ref's old value under its lock and
        runs the remote's hooks. Not forced; the local repository's pre-push hook is not
        run (hydrate runs none of the caller's hooks on any transport); no system or
        global git config, no GIT_* variables of the caller."""
        git = shutil.which("git", path=self._environ.get("PATH", os.defpath))
        if git is None:
            raise GitError(f"cannot push to {self.url}: git not found on PATH (pushes to a "
                           "local repository go through git's receive-pack); install git")
        # The repository's own config still applies: neutralise what would change a push.
        argv = [git, "--git-dir", self._repo.path, "-c", "push.gpgSign=false",
                "-c", "push.recurseSubmodules=no", "-c", "push.followTags=false",
                "push", "--porcelain", "--no-verify", self._push_url,
                f"{'+' if force else ''}{commit}:{ref}"]
        try:
            proc = subprocess.run(argv, cwd=self._repo.workdir or self._repo.path,
                                  env=_git_env(self._environ),
                                  capture_output=True, text=True, errors="replace",
                                  stdin=subprocess.DEVNULL, timeout=PUSH_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise GitError(f"cannot push to {self.url}: git push did not finish within "
                           f"{PUSH_TIMEOUT:.0f}s (a hook on the remote that hangs?)") from None
        said = remote_lines("\n".join(line.removeprefix("remote:") for line in
                                      proc.stderr.splitlines() if line.startswith("remote:")))
        status = _porcelain_status(proc.stdout, ref)
        if status is None:
            errors = [line for line in proc.stderr.splitlines()
                      if line.startswith(("fatal:", "error:"))] or proc.stderr.splitlines()
            text = errors[0].split(":", 1)[-1].strip() if errors else f"exit {proc.returncode}"
            raise GitError(f"cannot push to {self.url}: git push failed: {text}")
        flag, summary = status
        if flag != "!":
            return _Outcome(None, said)
        reason = summary[summary.rfind("(") + 1:].rstrip(")") if "(" in summary else summary
        return _Outcome(reason, said)


def _git_env(environ: Mapping[str, str]) -> dict[str, str]:
    """What `git push` (and the remote's hooks it runs) get: no GIT_* variables of the
    caller, no system or global config, no prompt, messages in English to parse."""
    env = {k: environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in environ}
    env.update(LC_ALL="C", LANG="C", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_TERMINAL_PROMPT="0")
    return env


def _porcelain_status(out: str, ref: str) -> tuple[str, str] | None:
    """The flag and summary `git push --porcelain` gives for `ref` (`!`: rejected)."""
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1].endswith(f":{ref}") and len(fields[0]) == 1:
            return fields[0], fields[2]
    return None
