"""The OCI distribution API, the part hydrate uses, over `requests`: blobs (exists, mount
from another repository, monolithic upload), manifests (resolve a tag, get, put) and the
two ways registries ask for a login (Basic, and Bearer tokens from the realm they name,
one per repository scope, kept for the run).

Every failure is a `RegistryError`: one line naming the registry, the repository and
what was refused, in the registry's words, and what to do; never a credential.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pipeline.errors import PipelineError
from pipeline.sinks.oci import artifact
from pipeline.sinks.oci.login import Login, loopback

ACCEPT = ", ".join((artifact.MANIFEST, "application/vnd.docker.distribution.manifest.v2+json"))
TIMEOUT = 60  # seconds for one request
_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(PipelineError):
    """A registry that cannot be reached, refuses a login or refuses a request."""


class LoginRefused(RegistryError):
    pass


class Refused(RegistryError):
    """The registry answered, and said no (a read-only registry, a quota, a policy)."""


@dataclass(frozen=True)
class Challenge:
    scheme: str  # basic | bearer
    params: Mapping[str, str]


def _challenge(header: str) -> Challenge:
    scheme, _, rest = header.strip().partition(" ")
    return Challenge(scheme.lower(), dict(_PARAM.findall(rest)))


def _words(r: requests.Response) -> str:
    """What the registry said: its error codes and messages, else the status line."""
    try:
        errors = r.json().get("errors") or []
        said = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
                         for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        said = ""
    return f"{r.status_code} {said or r.reason or ''}".strip()


class Client:
    """One registry, for one run. Thread-safe: the tokens it fetched are shared."""

    def __init__(self, host: str, login: Login, verify: str | bool = True,
                 plain_http: bool = False, pool: int = 16) -> None:
        self.host = host
        self.login = login
        self._verify = verify
        self._plain_allowed = plain_http or loopback(host)
        self._scheme = "https"
        self._basic = False
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool, max_retries=Retry(
            total=2, connect=2, read=0, status=2, status_forcelist=(502, 503, 504),
            allowed_methods=frozenset({"HEAD", "GET"}), backoff_factor=0.2,
            raise_on_status=False))
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.headers["User-Agent"] = "hydrate"
        self._known: dict[str, str] = {}  # blob digest → a repository known to have it

    def where(self, digest: str) -> str | None:
        """A repository this run saw holding the blob `digest` (to mount it from)."""
        with self._lock:
            return self._known.get(digest)

    def _holds(self, name: str, digest: str) -> None:
        with self._lock:
            self._known.setdefault(digest, name)

    def close(self) -> None:
        self._session.close()

    @property
    def scheme(self) -> str:
        return self._scheme

    # --- transport and login -------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self._scheme}://{self.host}/v2/{path}"

    def _raw(self, method: str, url: str, headers: Mapping[str, str],
             **kw: Any) -> requests.Response:
        try:
            return self._session.request(method, url, headers=dict(headers), timeout=TIMEOUT,
                                         verify=self._verify, allow_redirects=True, **kw)
        except requests.exceptions.SSLError as e:
            if "CERTIFICATE_VERIFY_FAILED" in str(e):
                raise RegistryError(
                    f"registry {self.host}: its TLS certificate is not trusted; set "
                    "HYDRATE_OCI_CA_FILE to the PEM file of the CA that signed it") from None
            raise RegistryError(f"registry {self.host}: TLS failed ({_reason(e)})") from None
        except requests.exceptions.ConnectionError as e:
            raise RegistryError(f"registry {self.host}: cannot connect ({_reason(e)}); is it "
                                "running, and reachable from here?") from None
        except requests.exceptions.Timeout:
            raise RegistryError(f"registry {self.host}: no answer within {TIMEOUT}s") from None

    def connect(self, name: str, push: bool = True) -> None:
        """Reach the registry and log in, before any work: HTTPS (plain HTTP only where
        allowed and the registry speaks no TLS), then a login for `name`'s scope (to push,
        or only to pull)."""
        try:
            # Without the adapter's retries: a TLS handshake with a plain-HTTP registry
            # fails the same way every time.
            with requests.Session() as probe:
                first = probe.request("GET", self._url(""), timeout=TIMEOUT, verify=self._verify)
        except requests.exceptions.SSLError as e:
            if "CERTIFICATE_VERIFY_FAILED" in str(e) or not self._plain_allowed:
                self._raw("GET", self._url(""), {})  # raises the error that says what to do
            self._scheme = "http"
            first = self._raw("GET", self._url(""), {})
        except requests.exceptions.RequestException:
            first = self._raw("GET", self._url(""), {})
        if first.status_code == 401:
            found = _challenge(first.headers.get("WWW-Authenticate", ""))
            if found.scheme == "basic":
                self._needs_login()
                self._basic = True
                again = self._raw("GET", self._url(""), self._auth_header(found, ()))
                if again.status_code == 401:
                    raise self._refused_login()
            elif found.scheme == "bearer":
                self._token(found, (f"repository:{name}:{'pull,push' if push else 'pull'}",))
        elif first.status_code >= 400:
            raise RegistryError(f"registry {self.host}: {_words(first)} on /v2/: is this an "
                                "OCI registry (the distribution API)?")

    def _needs_login(self) -> None:
        if self.login.anonymous:
            raise LoginRefused(f"registry {self.host} asks for a login and hydrate has none: "
                               "set HYDRATE_OCI_TOKEN (and HYDRATE_OCI_USER), or log in with "
                               "a Docker-compatible client (config.json)")

    def _refused_login(self) -> LoginRefused:
        who = f"user {self.login.username!r}" if self.login.username else "the token"
        return LoginRefused(f"registry {self.host} refused the login of {who} from "
                            f"{self.login.source}: check the password or token (and that it "
                            "may push)")

    def _basic_value(self) -> str:
        pair = f"{self.login.username or ''}:{self.login.secret or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def _auth_header(self, found: Challenge | None, scopes: Sequence[str]) -> dict[str, str]:
        if self._basic:
            return {"Authorization": self._basic_value()}
        key = " ".join(scopes)
        with self._lock:
            token = self._tokens.get(key)
        if token is None and found is not None and found.scheme == "bearer":
            token = self._token(found, scopes)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _token(self, found: Challenge, scopes: Sequence[str]) -> str:
        realm = found.params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.host}: a Bearer challenge without a realm")
        params: list[tuple[str, str]] = [("service", found.params.get("service", ""))]
        params += [("scope", s) for s in scopes]
        if self.login.identity_token:
            r = self._raw("POST", realm, {"Content-Type": "application/x-www-form-urlencoded"},
                          data=urlencode([*params, ("grant_type", "refresh_token"),
                                          ("refresh_token", self.login.secret or ""),
                                          ("client_id", "hydrate")]))
        else:
            headers = {} if self.login.anonymous else {"Authorization": self._basic_value()}
            r = self._raw("GET", f"{realm}?{urlencode(params)}", headers)
        if r.status_code in (401, 403):
            if self.login.anonymous:
                self._needs_login()
            raise self._refused_login()
        if r.status_code >= 400:
            raise RegistryError(f"registry {self.host}: its token service {realm} said "
                                f"{_words(r)}")
        try:
            doc = r.json()
            token = str(doc.get("token") or doc.get("access_token") or "")
        except (ValueError, AttributeError):
            token = ""
        if not token:
            raise RegistryError(f"registry {self.host}: its token service {realm} gave no token")
        with self._lock:
            self._tokens[" ".join(scopes)] = token
        return token

    def _send(self, method: str, path: str, scopes: Sequence[str], what: str,
              headers: Mapping[str, str] | None = None, **kw: Any) -> requests.Response:
        """A request with the login its scope needs, asked for when the registry asks."""
        sent = {**(headers or {}), **self._auth_header(None, scopes)}
        r = self._raw(method, path if "://" in path else self._url(path), sent, **kw)
        if r.status_code == 401:
            found = _challenge(r.headers.get("WWW-Authenticate", ""))
            if found.scheme == "basic":
                self._needs_login()
                self._basic = True
            elif found.scheme == "bearer":
                self._token(found, scopes)
            sent = {**(headers or {}), **self._auth_header(found, scopes)}
            r = self._raw(method, path if "://" in path else self._url(path), sent, **kw)
            if r.status_code == 401:
                raise self._refused_login()
        if r.status_code == 403:
            raise Refused(f"registry {self.host} refused to {what}: {_words(r)} (does the login "
                          f"from {self.login.source} have that right?)")
        return r

    # --- blobs ---------------------------------------------------------------------------

    @staticmethod
    def _push(name: str) -> tuple[str]:
        return (f"repository:{name}:pull,push",)

    def has_blob(self, name: str, digest: str) -> bool:
        r = self._send("HEAD", f"{name}/blobs/{digest}", self._push(name), f"read {name}")
        if r.status_code in (200, 307):
            self._holds(name, digest)
            return True
        if r.status_code == 404:
            return False
        raise RegistryError(f"registry {self.host}: {_words(r)} looking for blob {digest} in "
                            f"{name}")

    def put_blob(self, name: str, digest: str, data: bytes, mount_from: str | None = None) -> bool:
        """Make the blob `digest` part of `name`: mounted from the repository `mount_from`
        when that has it (nothing uploaded), else uploaded. True if it was uploaded."""
        scopes: tuple[str, ...] = self._push(name)
        query = ""
        if mount_from is not None and mount_from != name:
            scopes = (*scopes, f"repository:{mount_from}:pull")
            query = "?" + urlencode({"mount": digest, "from": mount_from})
        what = f"push to {name}"
        r = self._send("POST", f"{name}/blobs/uploads/{query}", scopes, what,
                       {"Content-Length": "0"})
        if r.status_code == 201:
            self._holds(name, digest)
            return False
        if r.status_code != 202:
            raise self._refusal(r, what, f"a blob upload to {name}")
        location = r.headers.get("Location", "")
        if not location:
            raise RegistryError(f"registry {self.host}: an upload to {name} without a Location")
        if "://" not in location:
            location = f"{self._scheme}://{self.host}{location}"
        sep = "&" if "?" in location else "?"
        r = self._send("PUT", f"{location}{sep}{urlencode({'digest': digest})}", scopes, what,
                       {"Content-Type": "application/octet-stream"}, data=data)
        if r.status_code not in (201, 204):
            raise self._refusal(r, what, f"blob {digest[:19]} of {name}")
        self._holds(name, digest)
        return True

    def _refusal(self, r: requests.Response, what: str, thing: str) -> RegistryError:
        kind = Refused if r.status_code < 500 else RegistryError
        return kind(f"registry {self.host} refused to {what} ({thing}): {_words(r)}")

    # --- manifests and tags --------------------------------------------------------------

    def resolve(self, name: str, reference: str, push: bool = True) -> str | None:
        """The manifest digest `reference` (a tag) names in `name`; None: no such tag."""
        scopes = self._push(name) if push else (f"repository:{name}:pull",)
        r = self._send("HEAD", f"{name}/manifests/{reference}", scopes, f"read {name}",
                       {"Accept": ACCEPT})
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RegistryError(f"registry {self.host}: {_words(r)} reading {name}:{reference}")
        found = r.headers.get("Docker-Content-Digest")
        if found:
            return found
        body = self.manifest(name, reference, push)
        return artifact.digest(body) if body is not None else None

    def manifest(self, name: str, reference: str, push: bool = True) -> bytes | None:
        scopes = self._push(name) if push else (f"repository:{name}:pull",)
        r = self._send("GET", f"{name}/manifests/{reference}", scopes, f"read {name}",
                       {"Accept": ACCEPT})
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise RegistryError(f"registry {self.host}: {_words(r)} reading {name}@{reference}")
        return r.content

    def put_manifest(self, name: str, reference: str, body: bytes) -> str:
        """Store the manifest `body` as `reference` (its digest, or a tag); its digest."""
        what = f"push to {name}"
        r = self._send("PUT", f"{name}/manifests/{reference}", self._push(name), what,
                       {"Content-Type": artifact.MANIFEST}, data=body)
        if r.status_code not in (200, 201):
            raise self._refusal(r, what, f"manifest {reference[:19]}")
        expected = artifact.digest(body)
        said = r.headers.get("Docker-Content-Digest", expected)
        if said != expected:
            raise RegistryError(f"registry {self.host}: stored the manifest of {name} as {said}, "
                                f"not {expected}: it changed what it was given")
        return expected


def _reason(e: Exception) -> str:
    """The innermost cause of a requests error, without the URL's query."""
    text = str(e.args[0] if e.args else e)
    for cue in ("Connection refused", "Name or service not known", "timed out",
                "Connection reset", "Remote end closed", "WRONG_VERSION_NUMBER",
                "record layer failure", "No route to host"):
        if cue.lower() in text.lower():
            return cue.lower()
    return text.split("(Caused by ", 1)[-1].rstrip(")")[:200]
