"""Who hydrate is to a registry, how it reaches it, and never saying the secret.

Credentials, the first found wins:

1. `HYDRATE_OCI_TOKEN` (a password, a personal access token or a robot account's token),
   user `HYDRATE_OCI_USER` (default `hydrate`; registries that take a token as password
   ignore it);
2. Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
   the registry's credential helper (`credHelpers`), its entry in `auths` (`auth`,
   `username`/`password` or `identitytoken`), or the default store (`credsStore`). A
   helper is the `docker-credential-<name>` program the user installed and named there,
   asked as Docker asks it (`get`, the host on stdin);
3. none: anonymous.

TLS: the CA bundle in `HYDRATE_OCI_CA_FILE` (else `REQUESTS_CA_BUNDLE`, `SSL_CERT_FILE`,
else the bundled roots). Plain HTTP only to a registry on loopback or one whose
environment says `plainHTTP: true`, and only after HTTPS found no TLS there.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import PipelineError

HELPER_TIMEOUT = 60  # seconds a credential helper may take (it may ask a keychain)


class LoginError(PipelineError):
    """Credentials that cannot be read."""


@dataclass(frozen=True)
class Login:
    """What to log in with (`username`, `secret` both None: anonymous), and where it came
    from, for messages; the secret is never part of one."""

    username: str | None = None
    secret: str | None = None
    identity_token: bool = False  # `secret` is an OAuth2 refresh token (Docker's identitytoken)
    source: str = "no credentials (anonymous)"

    def __repr__(self) -> str:
        return f"Login({self.username!r}, from {self.source})"

    @property
    def anonymous(self) -> bool:
        return self.secret is None


Run = Callable[[list[str], str], subprocess.CompletedProcess[str]]


def _run(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                          timeout=HELPER_TIMEOUT, check=False)


def _docker_config(environ: Mapping[str, str]) -> Path | None:
    folder = environ.get("DOCKER_CONFIG")
    if folder:
        return Path(folder) / "config.json"
    home = environ.get("HOME")
    return Path(home) / ".docker" / "config.json" if home else None


def _bare(key: str) -> str:
    """An `auths` key as a host: Docker writes `https://index.docker.io/v1/` as well as
    `registry.example.com`."""
    key = key.split("://", 1)[-1]
    return key.split("/", 1)[0].lower()


def _helper(name: str, host: str, where: str, run: Run) -> Login | None:
    program = f"docker-credential-{name}"
    try:
        done = run([program, "get"], host)
    except FileNotFoundError:
        raise LoginError(f"{where} names the credential helper {name!r} for {host}, but "
                         f"{program} is not on PATH: install it, or log in another way") from None
    except subprocess.TimeoutExpired:
        raise LoginError(f"{program} (named in {where}) did not answer for {host} within "
                         f"{HELPER_TIMEOUT}s") from None
    if done.returncode != 0:
        said = done.stdout.strip() or done.stderr.strip()
        if "credentials not found" in said.lower():
            return None
        raise LoginError(f"{program} (named in {where}) failed for {host}: "
                         f"{said.splitlines()[0] if said else f'exit {done.returncode}'}")
    try:
        found = json.loads(done.stdout)
        user, secret = str(found["Username"]), str(found["Secret"])
    except (ValueError, KeyError, TypeError):
        raise LoginError(f"{program} (named in {where}) gave {host} an answer that is not "
                         "Docker's credential JSON") from None
    token = user == "<token>"
    return Login(None if token else user, secret, token, f"{program} ({where})")


def _from_config(host: str, path: Path, run: Run) -> Login | None:
    where = str(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LoginError(f"{where}: cannot read it as Docker's config.json ({e})") from None
    if not isinstance(doc, dict):
        raise LoginError(f"{where}: not a JSON object")
    helpers = doc.get("credHelpers") or {}
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if _bare(str(key)) == host:
                return _helper(str(name), host, f"{where} credHelpers", run)
    auths = doc.get("auths") or {}
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if _bare(str(key)) != host or not isinstance(entry, dict):
                continue
            found = _auth_entry(entry, f"{where} auths.{key}")
            if found is not None:
                return found
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        return _helper(store, host, f"{where} credsStore", run)
    return None


def _auth_entry(entry: Mapping[str, object], where: str) -> Login | None:
    if isinstance(entry.get("identitytoken"), str) and entry["identitytoken"]:
        return Login(None, str(entry["identitytoken"]), True, where)
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            user, sep, secret = base64.b64decode(encoded).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise LoginError(f"{where}.auth: not base64 of user:password")
        return Login(user, secret, False, where)
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Login(str(entry["username"]), str(entry["password"]), False, where)
    return None


def find(host: str, environ: Mapping[str, str], run: Run = _run) -> Login:
    """The credentials for `host` (host[:port], lower case)."""
    token = environ.get("HYDRATE_OCI_TOKEN")
    if token:
        return Login(environ.get("HYDRATE_OCI_USER") or "hydrate", token, False,
                     "HYDRATE_OCI_TOKEN")
    path = _docker_config(environ)
    found = _from_config(host, path, run) if path is not None else None
    return found if found is not None else Login()


def ca_bundle(environ: Mapping[str, str]) -> str | bool:
    """What TLS verifies the registry with: a CA bundle file, or True (the bundled roots)."""
    for name in ("HYDRATE_OCI_CA_FILE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = environ.get(name)
        if value:
            if not os.path.isfile(value):
                raise LoginError(f"{name}={value}: no such file (a PEM file of CA certificates)")
            return value
    return True


def loopback(host: str) -> bool:
    """Whether host[:port] is this machine."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
