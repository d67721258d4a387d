"""scripts/pr-comment against a local HTTP stub of the GitHub REST API."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline.review import github
from tests.conftest import ROOT

TOKEN = "ghs_stub"
REPO = "acme/fleet"
PAGE = 2  # the stub pages comments two at a time, to exercise Link pagination


class Stub(ThreadingHTTPServer):
    comments: dict[int, list[dict[str, Any]]]
    heads: dict[int, str]
    requests: list[tuple[str, str]]
    next_id: int


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self) -> None:
        url = urlsplit(self.path)
        self.server.requests.append((self.command, url.path))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._reply(401, {"message": "Bad credentials"})
            return
        parts = url.path.strip("/").split("/")
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
        if parts[:3] != ["repos", *REPO.split("/")]:
            self._reply(404, {"message": "Not Found"})
            return
        rest = parts[3:]
        if rest[:1] == ["pulls"] and self.command == "GET":
            self._reply(200, {"head": {"sha": self.server.heads[int(rest[1])]}})
        elif rest[:1] == ["issues"] and rest[2:] == ["comments"] and self.command == "GET":
            items = self.server.comments.setdefault(int(rest[1]), [])
            page = int(parse_qs(url.query).get("page", ["1"])[0])
            chunk = items[(page - 1) * PAGE: page * PAGE]
            headers = {}
            if page * PAGE < len(items):
                port = self.server.server_address[1]
                headers["Link"] = (f'<http://127.0.0.1:{port}{url.path}?per_page=100&page={page + 1}>; '
                                   'rel="next"')
            self._reply(200, chunk, headers)
        elif rest[:1] == ["issues"] and rest[2:] == ["comments"] and self.command == "POST":
            item = {"id": self.server.next_id, "body": body["body"]}
            self.server.next_id += 1
            self.server.comments.setdefault(int(rest[1]), []).append(item)
            self._reply(201, item)
        elif rest[:2] == ["issues", "comments"] and self.command == "PATCH":
            for items in self.server.comments.values():
                for item in items:
                    if item["id"] == int(rest[2]):
                        item["body"] = body["body"]
                        self._reply(200, item)
                        return
            self._reply(404, {"message": "Not Found"})
        else:
            self._reply(404, {"message": "Not Found"})

    do_GET = _route
    do_POST = _route
    do_PATCH = _route


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub(("127.0.0.1", 0), Handler)
    server.comments, server.heads, server.requests, server.next_id = {}, {7: "abc123"}, [], 100
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _run(stub: Stub, body: Path, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GITHUB_TOKEN": token,
           "GITHUB_API_URL": f"http://127.0.0.1:{stub.server_address[1]}"}
    return subprocess.run([str(ROOT / "scripts/pr-comment"), "--repo", REPO, "--pr", "7",
                           "--body-file", str(body), *args],
                          env=env, capture_output=True, text=True, check=False, timeout=60)


def test_creates_then_updates_the_one_comment(stub: Stub, tmp_path: Path) -> None:
    stub.comments[7] = [{"id": i, "body": f"human comment {i}"} for i in range(1, 4)]
    body = tmp_path / "comment.md"
    body.write_text("<!-- hydrate-diff -->\nfirst\n")
    first = _run(stub, body)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"created comment 100 on {REPO}#7"
    body.write_text("<!-- hydrate-diff -->\nsecond\n")
    second = _run(stub, body, "--expect-head-sha", "abc123")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == f"updated comment 100 on {REPO}#7"
    ours = [c for c in stub.comments[7] if "hydrate-diff" in c["body"]]
    assert ours == [{"id": 100, "body": "<!-- hydrate-diff -->\nsecond\n"}]
    assert len(stub.comments[7]) == 4  # humans' comments untouched, no second bot comment
    # The marker sits beyond the first page: pagination was followed.
    assert ("GET", f"/repos/{REPO}/issues/7/comments") in stub.requests
    assert sum(1 for m, p in stub.requests if m == "GET" and p.endswith("/comments")) >= 4


def test_refuses_a_pull_request_that_moved_on(stub: Stub, tmp_path: Path) -> None:
    body = tmp_path / "comment.md"
    body.write_text("<!-- hydrate-diff -->\nx\n")
    result = _run(stub, body, "--expect-head-sha", "deadbeef")
    assert result.returncode == 1
    assert "pull request 7 is not at deadbeef; not commenting" in result.stderr
    assert stub.comments.get(7, []) == []


def test_a_bad_token_is_a_clear_error(stub: Stub, tmp_path: Path) -> None:
    body = tmp_path / "comment.md"
    body.write_text("x")
    result = _run(stub, body, token="wrong")
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr
    assert "Bad credentials" in result.stderr
    assert "wrong" not in result.stderr + result.stdout


def test_the_marker_is_added_when_missing(stub: Stub, tmp_path: Path) -> None:
    body = tmp_path / "comment.md"
    body.write_text("no marker here\n")
    assert _run(stub, body).returncode == 0
    assert stub.comments[7][0]["body"].startswith("<!-- hydrate-diff -->\n")


@pytest.mark.parametrize("pr", ["7; rm -rf /", "", "x"])
def test_the_pull_request_number_is_checked(stub: Stub, tmp_path: Path, pr: str) -> None:
    body = tmp_path / "comment.md"
    body.write_text("x")
    env = {**os.environ, "GITHUB_TOKEN": TOKEN,
           "GITHUB_API_URL": f"http://127.0.0.1:{stub.server_address[1]}"}
    result = subprocess.run([str(ROOT / "scripts/pr-comment"), "--repo", REPO, "--pr", pr,
                             "--body-file", str(body)], env=env, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2
    assert "expected a pull request number" in result.stderr
    assert stub.requests == []


def test_the_token_and_api_come_from_the_environment_given(stub: Stub, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`main` reads the environment it is given (the script passes the process's), never
    os.environ itself."""
    monkeypatch.setenv("GITHUB_TOKEN", "from-the-process")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9")
    body = tmp_path / "comment.md"
    body.write_text("x\n")
    argv = ["--repo", REPO, "--pr", "7", "--body-file", str(body)]
    api = f"http://127.0.0.1:{stub.server_address[1]}"
    assert github.main(argv, {"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": api}) == 0
    assert capsys.readouterr().out == f"created comment 100 on {REPO}#7\n"
    assert github.main(argv, {"GITHUB_API_URL": api}) == 1
    assert "GITHUB_TOKEN is not set" in capsys.readouterr().err
