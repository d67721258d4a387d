"""An SSH git server on loopback for tests: paramiko accepts one public key and runs
`git upload-pack` / `git receive-pack` for the repositories below a root folder."""

from __future__ import annotations

import shlex
import socket
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import paramiko


def make_keys(folder: Path) -> tuple[Path, Path]:
    """(private key file, host key file): an RSA client key in PEM, and a host key."""
    client = folder / "id_rsa"
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f",
                    str(client)], check=True)
    host = folder / "host_rsa"
    paramiko.RSAKey.generate(2048).write_private_key_file(str(host))
    return client, host


class _Interface(paramiko.ServerInterface):
    def __init__(self, allowed: paramiko.PKey) -> None:
        self.allowed = allowed
        self.command: bytes | None = None
        self.ready = threading.Event()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        same = key.get_base64() == self.allowed.get_base64()
        return paramiko.AUTH_SUCCESSFUL if same else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        ok = kind == "session"
        return paramiko.OPEN_SUCCEEDED if ok else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: Any, command: bytes) -> bool:
        self.command = command
        self.ready.set()
        return True


class SSHServer:
    """`with SSHServer(root, client_public_key_file, host_key_file) as server:`"""

    def __init__(self, root: Path, client_key: Path, host_key: Path) -> None:
        self.root = root
        self._allowed = paramiko.RSAKey.from_private_key_file(str(client_key))
        self._host = paramiko.RSAKey.from_private_key_file(str(host_key))
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.sessions = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def host_key_line(self) -> str:
        """The known_hosts line of this server."""
        return f"[127.0.0.1]:{self.port} {self._host.get_name()} {self._host.get_base64()}"

    def url(self, name: str) -> str:
        return f"ssh://git@127.0.0.1:{self.port}/{name}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self._host)
        interface = _Interface(self._allowed)
        try:
            transport.start_server(server=interface)
            channel = transport.accept(20)
            if channel is None or not interface.ready.wait(20) or interface.command is None:
                return
            self.sessions += 1
            verb, path = shlex.split(interface.command.decode())
            repo = self.root / path.lstrip("/")
            proc = subprocess.Popen(["git", verb.removeprefix("git-"), str(repo)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert proc.stdin is not None
            assert proc.stdout is not None

            def pump_in() -> None:
                assert proc.stdin is not None
                while True:
                    data = channel.recv(65536)
                    if not data:
                        break
                    proc.stdin.write(data)
                    proc.stdin.flush()
                proc.stdin.close()

            threading.Thread(target=pump_in, daemon=True).start()
            while True:
                data = proc.stdout.read1(65536)
                if not data:
                    break
                channel.sendall(data)
            proc.stdout.close()
            channel.send_exit_status(proc.wait())
            channel.close()
        except (paramiko.SSHException, OSError, EOFError):
            pass
        finally:
            transport.close()

    def __enter__(self) -> SSHServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop = True
        self._socket.close()
