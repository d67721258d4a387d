"""Who hydrate is to a remote: the credentials it logs in with, where they come from,
and the callbacks libgit2 asks them through; URLs shown without them.

HTTPS: the user and token written in the URL, else `HYDRATE_GIT_TOKEN` or `GITHUB_TOKEN`
(user `HYDRATE_GIT_USER`, default `x-access-token`). SSH: `HYDRATE_SSH_KEY` (and
`HYDRATE_SSH_PASSPHRASE`) or the SSH agent, and only with
`HYDRATE_SSH_ACCEPT_UNVERIFIED_HOST_KEYS=1`: the libgit2 inside pygit2 does not check
`known_hosts`, and pygit2 does not hand the server's host key to hydrate, so a man in the
middle could not be detected. `SSL_CERT_FILE` / `GIT_SSL_CAINFO` name extra CA
certificates.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pygit2
from pygit2.enums import CredentialType

from pipeline.errors import GitError

_Credential = pygit2.credentials.Username | pygit2.UserPass | pygit2.Keypair
_USERINFO = re.compile(r"(?<=://)[^/@]*@")


def is_ssh(url: str) -> bool:
    """ssh:// URLs and scp-like `user@host:path`."""
    return url.startswith(("ssh://", "git+ssh://", "ssh+git://")) or (
        "://" not in url and re.match(r"^[\w.-]+@[\w.-]+:", url) is not None)


def redact(url: str) -> str:
    """`url` without user or token."""
    return _USERINFO.sub("", url)


def local_path(url: str) -> Path | None:
    """The directory a path or file:// URL names; None for a network URL (git's rule: a
    colon before the first slash makes `host:path`, SSH)."""
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if "://" in url or is_ssh(url):
        return None
    colon, slash = url.find(":"), url.find("/")
    if colon > 0 and (slash < 0 or colon < slash):
        return None
    return Path(url)


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    user: str = "x-access-token"
    ssh_key: Path | None = None
    ssh_passphrase: str = ""
    ssh_unverified_hosts: bool = False
    token_from: str = "HYDRATE_GIT_TOKEN / GITHUB_TOKEN"  # where the token came from, for errors

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


class Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, url: str, creds: Credentials) -> None:
        super().__init__()
        self._url = url
        self._creds = creds
        self._asked = 0
        self.rejected: dict[str, str] = {}
        self.sideband: list[str] = []

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

    def _hint(self, allowed: CredentialType) -> str:
        if allowed & CredentialType.USERPASS_PLAINTEXT:
            return f"{self._creds.token_from} (is it valid, with write access?)"
        return "HYDRATE_SSH_KEY or the keys in your SSH agent"

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message

    def sideband_progress(self, string: str) -> None:
        # The remote's hook output arrives here (as "remote: ..." lines in git); libgit2
        # drops it unless it is collected.
        self.sideband.append(string)


def with_url_login(creds: Credentials, url: str) -> Credentials:
    """A user and token written into the URL (`https://user:token@host/...`, as some CI
    systems configure origin) are what git would log in with: they win over the
    environment's, which may be meant for another host."""
    if "://" not in url or is_ssh(url):
        return creds
    parts = urlsplit(url)
    if not parts.password:
        return creds
    return replace(creds, token=unquote(parts.password),
                   user=unquote(parts.username or "") or creds.user,
                   token_from="the token in the remote's URL")
