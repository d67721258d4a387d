"""Fetching and pushing env branches with pygit2: local paths, file://, HTTPS with a
token, SSH with the agent or a key file.

Credentials come from the environment: `HYDRATE_GIT_TOKEN` or `GITHUB_TOKEN` for HTTPS
(user `HYDRATE_GIT_USER`, default `x-access-token`), `HYDRATE_SSH_KEY` (and
`HYDRATE_SSH_PASSPHRASE`) or the SSH agent for SSH. `SSL_CERT_FILE` / `GIT_SSL_CAINFO`
name extra CA certificates. URLs are shown without any credentials in them.

SSH needs `HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS=1`: the libgit2 inside pygit2 does not
check `known_hosts`, and pygit2 does not hand the server's host key to hydrate, so a
man in the middle could not be detected. HTTPS with a token has no such gap.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import CredentialType

from pipeline.errors import GitError

_Credential = pygit2.credentials.Username | pygit2.UserPass | pygit2.Keypair
_RACE_WORDS = ("not present locally", "fetch first", "non-fast-forward", "stale", "failed to update",
               "failed to lock")
_USERINFO = re.compile(r"(?<=://)[^/@]*@")


def is_ssh(url: str) -> bool:
    """ssh:// URLs and scp-like `user@host:path`."""
    return url.startswith(("ssh://", "git+ssh://", "ssh+git://")) or (
        "://" not in url and re.match(r"^[\w.-]+@[\w.-]+:", url) is not None)


def redact(url: str) -> str:
    """`url` without user or token."""
    return _USERINFO.sub("", url)


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    user: str = "x-access-token"
    ssh_key: Path | None = None
    ssh_passphrase: str = ""
    ssh_unverified_hosts: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Credentials:
        key = environ.get("HYDRATE_SSH_KEY")
        return cls(token=environ.get("HYDRATE_GIT_TOKEN") or environ.get("GITHUB_TOKEN") or None,
                   user=environ.get("HYDRATE_GIT_USER", "x-access-token"),
                   ssh_key=Path(key) if key else None,
                   ssh_passphrase=environ.get("HYDRATE_SSH_PASSPHRASE", ""),
                   ssh_unverified_hosts=environ.get("HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS") == "1")


def configure_tls(environ: Mapping[str, str]) -> None:
    """Trust the CA bundle named by SSL_CERT_FILE / GIT_SSL_CAINFO (libgit2 is process-wide)."""
    cafile = environ.get("GIT_SSL_CAINFO") or environ.get("SSL_CERT_FILE")
    if cafile:
        pygit2.settings.set_ssl_cert_locations(cafile, None)


class _Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, url: str, creds: Credentials) -> None:
        super().__init__()
        self._url = url
        self._creds = creds
        self._asked = 0
        self.rejected: dict[str, str] = {}

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> _Credential:
        self._asked += 1
        if self._asked > 1:  # libgit2 asks again when the last answer was refused
            raise GitError(f"{self._url}: authentication failed; check {self._hint(allowed_types)}")
        if allowed_types & CredentialType.USERPASS_PLAINTEXT:
            if not self._creds.token:
                raise GitError(f"{self._url}: the remote asks for a login; set HYDRATE_GIT_TOKEN "
                               "(or GITHUB_TOKEN)")
            return pygit2.UserPass(username_from_url or self._creds.user, self._creds.token)
        if allowed_types & CredentialType.SSH_KEY:
            user = username_from_url or "git"
            key = self._creds.ssh_key
            if key is not None:
                pub = key.with_name(key.name + ".pub")
                return pygit2.Keypair(user, str(pub) if pub.exists() else None, str(key),
                                      self._creds.ssh_passphrase)
            return pygit2.KeypairFromAgent(user)
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(username_from_url or "git")
        raise GitError(f"{self._url}: the remote asks for credentials hydrate cannot give")

    @staticmethod
    def _hint(allowed: CredentialType) -> str:
        if allowed & CredentialType.USERPASS_PLAINTEXT:
            return "HYDRATE_GIT_TOKEN / GITHUB_TOKEN (is it valid, with write access?)"
        return "HYDRATE_SSH_KEY or the keys in your SSH agent"

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message


class Remote:
    """A remote (by name in the repository, or a URL or path) for one repository."""

    def __init__(self, repo: pygit2.Repository, spec: str, creds: Credentials) -> None:
        self._repo = repo
        self._creds = creds
        self.name = spec if spec in repo.remotes.names() else None
        if self.name is not None:
            url = repo.remotes[self.name].url or spec
        else:
            url = spec
            if "://" not in spec and not spec.startswith("git@") and Path(spec).exists():
                url = str(Path(spec).resolve())
        self._url = url
        self.url = redact(url)
        self._heads: dict[str, pygit2.Oid] | None = None
        if is_ssh(url) and not creds.ssh_unverified_hosts:
            raise GitError(
                f"{self.url}: SSH remotes need HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS=1: the "
                "git library hydrate uses cannot verify SSH host keys against known_hosts; "
                "prefer an https:// URL with HYDRATE_GIT_TOKEN")

    @property
    def _remote(self) -> pygit2.Remote:
        # A fresh handle per operation: libgit2 keeps a remote connected in one direction.
        if self.name is not None:
            return self._repo.remotes[self.name]
        return self._repo.remotes.create_anonymous(self._url)

    def _callbacks(self) -> _Callbacks:
        return _Callbacks(self.url, self._creds)

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
                           if h.name and h.name.startswith("refs/heads/") and h.oid is not None}
        return self._heads

    def fetch(self, branch: str) -> pygit2.Commit | None:
        """Fetch `branch` into its tracking ref; its head commit, or None if it does not exist."""
        ref = f"refs/heads/{branch}"
        tracking = self.tracking_ref(branch)
        if ref not in self.heads(refresh=True):
            if tracking in self._repo.references:
                self._repo.references.delete(tracking)
            return None
        try:
            self._remote.fetch([f"+{ref}:{tracking}"], callbacks=self._callbacks(),
                               message=f"hydrate: fetch {branch}")
        except (pygit2.GitError, OSError) as e:
            raise self._fail("fetch from", e) from None
        return self._repo[self._repo.references[tracking].target].peel(pygit2.Commit)

    def push(self, commit: pygit2.Oid, branch: str) -> bool:
        """Push `commit` to `branch` (never forced). False if the remote moved meanwhile."""
        staging = f"refs/hydrate/push/{branch}"
        self._repo.references.create(staging, commit, force=True)
        callbacks = self._callbacks()
        try:
            self._remote.push([f"{staging}:refs/heads/{branch}"], callbacks=callbacks)
        except pygit2.GitError as e:
            if any(word in str(e) for word in (*_RACE_WORDS, "fastforward", "fast-forward")):
                return False
            raise self._fail("push to", e) from None
        finally:
            self._repo.references.delete(staging)
        if callbacks.rejected:
            reason = next(iter(callbacks.rejected.values()))
            if any(word in reason for word in _RACE_WORDS):
                return False
            raise GitError(f"{self.url} refused the push of {branch}: {reason}")
        self._repo.references.create(self.tracking_ref(branch), commit, force=True)
        return True
