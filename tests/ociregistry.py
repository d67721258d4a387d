"""A real OCI registry for tests: the CNCF distribution registry (Debian's docker-registry,
installed by scripts/install-registry), started on 127.0.0.1 on a free port with its own
storage, optionally with htpasswd logins (bcrypt), TLS or read-only storage, and stopped
after. `stop()` and `start()` again keep the storage: the registry going down mid-publish
and coming back."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import bcrypt
import requests

BINARY = "/usr/bin/docker-registry"
USER = "fleet-bot"
PASSWORD = "s3cret-registry-pass"
INSTALL_HINT = ("the OCI tests need the distribution registry at /usr/bin/docker-registry: run "
                "scripts/install-registry as root (apt-get install docker-registry)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """One registry process. `host` is what goes into an `oci.repository`."""

    def __init__(self, folder: Path, login: bool = False,
                 tls: tuple[Path, Path] | None = None, readonly: bool = False,
                 tokens: TokenServer | None = None) -> None:
        if not os.access(BINARY, os.X_OK):
            raise RuntimeError(INSTALL_HINT)
        self.folder = folder
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.tls = tls
        self.login = login
        self.readonly = readonly
        self.tokens = tokens
        self.storage = folder / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = folder / "registry.log"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def _config(self) -> Path:
        lines = ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.storage}",
                 "  delete:", "    enabled: true"]
        if self.readonly:
            lines += ["  maintenance:", "    readonly:", "      enabled: true"]
        lines += ["http:", f"  addr: {self.host}", "  secret: tests-only-secret"]
        if self.tls:
            cert, key = self.tls
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if self.login:
            hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
            htpasswd = self.folder / "htpasswd"
            htpasswd.write_text(f"{USER}:{hashed}\n")
            lines += ["auth:", "  htpasswd:", "    realm: tests", f"    path: {htpasswd}"]
        if self.tokens:
            lines += ["auth:", "  token:", f"    realm: {self.tokens.realm}",
                      "    service: tests-registry", "    issuer: hydrate-tests",
                      f"    rootcertbundle: {self.tokens.cert}"]
        path = self.folder / "config.yml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> Registry:
        config = self._config()
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen([BINARY, "serve", str(config)], stdout=log,
                                          stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        verify = str(self.tls[0]) if self.tls else True
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"the registry exited: {self._log.read_text()[-2000:]}")
            try:
                requests.get(f"{self.url}/v2/", timeout=1, verify=verify)
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the registry did not answer on {self.host}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- reading back what was pushed, as an agent would (no hydrate code) -----------------

    def _auth(self) -> tuple[str, str] | None:
        return (USER, PASSWORD) if self.login else None

    def _verify(self) -> str | bool:
        return str(self.tls[0]) if self.tls else True

    def get(self, path: str, accept: str = "") -> requests.Response:
        headers = {"Accept": accept} if accept else {}
        return requests.get(f"{self.url}/v2/{path}", headers=headers, auth=self._auth(),
                            verify=self._verify(), timeout=30)

    def resolve(self, repository: str, tag: str) -> str | None:
        """The digest `tag` names in `repository`, None if there is no such tag."""
        r = requests.head(f"{self.url}/v2/{repository}/manifests/{tag}",
                          headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
                          auth=self._auth(), verify=self._verify(), timeout=30)
        return r.headers["Docker-Content-Digest"] if r.status_code == 200 else None

    def manifest(self, repository: str, reference: str) -> dict[str, object]:
        r = self.get(f"{repository}/manifests/{reference}",
                     "application/vnd.oci.image.manifest.v1+json")
        r.raise_for_status()
        found = r.json()
        assert isinstance(found, dict)
        return found

    def blob(self, repository: str, digest: str) -> bytes:
        r = self.get(f"{repository}/blobs/{digest}")
        r.raise_for_status()
        return r.content

    def tag(self, repository: str, tag: str, digest: str) -> None:
        """Point `tag` at the manifest `digest`, as someone with a registry client would."""
        media = "application/vnd.oci.image.manifest.v1+json"
        body = self.get(f"{repository}/manifests/{digest}", media).content
        r = requests.put(f"{self.url}/v2/{repository}/manifests/{tag}", data=body,
                         headers={"Content-Type": media}, auth=self._auth(),
                         verify=self._verify(), timeout=30)
        r.raise_for_status()

    def blobs_on_disk(self) -> int:
        """How many distinct blobs the registry stores (each uploaded once, whatever the
        repositories that link it)."""
        root = self.storage / "docker/registry/v2/blobs"
        return sum(1 for _ in root.glob("sha256/*/*/data")) if root.exists() else 0

    def wipe(self) -> None:
        shutil.rmtree(self.storage, ignore_errors=True)
        self.storage.mkdir(parents=True)


class TokenServer:
    """The token service a registry with `auth: token` sends clients to (Docker's token
    protocol, as GitHub's, Harbor's and Docker Hub's registries use): Basic login in, a
    JWT out (ES256, its certificate in `x5c`), granting the scopes asked for. The registry
    checks the token against `cert`, its root bundle. A stand-in for those services: the
    registry that verifies the tokens is the real one."""

    def __init__(self, folder: Path) -> None:
        import datetime as dt

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hydrate tests token signer")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.cert = folder / "token-signer.pem"
        self.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.issued: list[list[str]] = []  # the scopes of each token issued
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._server: object = None

    def _token(self, scopes: list[str]) -> str:
        import base64
        import json as json_mod
        import time as time_mod
        import uuid

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time_mod.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": "hydrate-tests", "sub": USER, "aud": "tests-registry", "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
        signing = (b64(json_mod.dumps(header).encode()) + "." +
                   b64(json_mod.dumps(claims).encode()))
        der = self.key.sign(signing.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return signing + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def start(self) -> TokenServer:
        import base64
        import json as json_mod
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs, urlsplit

        outer = self
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                scopes = parse_qs(urlsplit(self.path).query).get("scope", [])
                outer.issued.append(scopes)
                body = json_mod.dumps({"token": outer._token(scopes)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        from http.server import ThreadingHTTPServer

        if isinstance(self._server, ThreadingHTTPServer):
            self._server.shutdown()
            self._server.server_close()
