"""Create or update the one pull-request comment that carries a marker.

Standard library only, so the comment workflow runs it without installing anything:

    python -m pipeline.review.github --repo OWNER/NAME --pr 42 --body-file comment.md \\
        [--marker '<!-- hydrate-diff -->'] [--expect-head-sha SHA]

The token comes from GITHUB_TOKEN, the API from GITHUB_API_URL (default
https://api.github.com). `GitHub` is the small interface the logic needs; `RestGitHub`
is the real client.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

MARKER = "<!-- hydrate-diff -->"
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GitHubError(Exception):
    pass


@dataclass(frozen=True)
class Comment:
    id: int
    body: str


class GitHub(Protocol):
    def comments(self, repo: str, pr: int) -> Iterator[Comment]: ...

    def create(self, repo: str, pr: int, body: str) -> Comment: ...

    def update(self, repo: str, comment_id: int, body: str) -> Comment: ...

    def head_sha(self, repo: str, pr: int) -> str: ...


class RestGitHub:
    """GitHub's REST API over urllib."""

    def __init__(self, api: str, token: str) -> None:
        self._api = api.rstrip("/")
        self._token = token

    def _call(self, method: str, path: str, body: Any = None) -> tuple[Any, dict[str, str]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self._api}{path}" if path.startswith("/") else path,
                                         data=data, method=method)
        request.add_header("Accept", "application/vnd.github+json")
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("X-GitHub-Api-Version", "2022-11-28")
        request.add_header("User-Agent", "hydrate-pr-comment")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null"), dict(response.headers)
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:300]
            raise GitHubError(f"{method} {path}: HTTP {e.code}: {detail}") from None
        except urllib.error.URLError as e:
            raise GitHubError(f"{method} {path}: cannot reach {self._api}: {e.reason}") from None

    def comments(self, repo: str, pr: int) -> Iterator[Comment]:
        url: str | None = f"/repos/{repo}/issues/{pr}/comments?per_page=100"
        while url:
            page, headers = self._call("GET", url)
            for item in page:
                yield Comment(int(item["id"]), str(item.get("body") or ""))
            match = re.search(r'<([^>]+)>;\s*rel="next"', headers.get("Link", ""))
            url = match.group(1) if match else None

    def create(self, repo: str, pr: int, body: str) -> Comment:
        item, _ = self._call("POST", f"/repos/{repo}/issues/{pr}/comments", {"body": body})
        return Comment(int(item["id"]), str(item["body"]))

    def update(self, repo: str, comment_id: int, body: str) -> Comment:
        item, _ = self._call("PATCH", f"/repos/{repo}/issues/comments/{comment_id}", {"body": body})
        return Comment(int(item["id"]), str(item["body"]))

    def head_sha(self, repo: str, pr: int) -> str:
        item, _ = self._call("GET", f"/repos/{repo}/pulls/{pr}")
        return str(item["head"]["sha"])


def upsert(gh: GitHub, repo: str, pr: int, body: str, marker: str = MARKER) -> tuple[str, Comment]:
    """Update the first comment carrying `marker`, or create it: ("updated"|"created", it)."""
    if marker not in body:
        body = f"{marker}\n{body}"
    for comment in gh.comments(repo, pr):
        if marker in comment.body:
            return "updated", gh.update(repo, comment.id, body)
    return "created", gh.create(repo, pr, body)


def main(argv: list[str] | None, environ: Mapping[str, str]) -> int:
    """The `pr-comment` command: `environ` holds GITHUB_TOKEN (and GITHUB_API_URL)."""
    parser = argparse.ArgumentParser(prog="pr-comment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="OWNER/NAME")
    parser.add_argument("--pr", required=True, help="pull request number")
    parser.add_argument("--body-file", type=Path, required=True)
    parser.add_argument("--marker", default=MARKER)
    parser.add_argument("--expect-head-sha", help="refuse unless the PR's head is this commit")
    args = parser.parse_args(argv)
    if not _REPO.match(args.repo):
        parser.error(f"--repo {args.repo!r}: expected OWNER/NAME")
    if not str(args.pr).strip().isdigit():
        parser.error(f"--pr {args.pr!r}: expected a pull request number")
    token = environ.get("GITHUB_TOKEN")
    if not token:
        print("pr-comment: error: GITHUB_TOKEN is not set", file=sys.stderr)
        return 1
    gh = RestGitHub(environ.get("GITHUB_API_URL", "https://api.github.com"), token)
    pr = int(str(args.pr).strip())
    try:
        body = args.body_file.read_text()
        if args.expect_head_sha and gh.head_sha(args.repo, pr) != args.expect_head_sha:
            print(f"pr-comment: error: pull request {pr} is not at {args.expect_head_sha}; "
                  "not commenting", file=sys.stderr)
            return 1
        action, comment = upsert(gh, args.repo, pr, body, args.marker)
    except (GitHubError, OSError) as e:
        print(f"pr-comment: error: {e}", file=sys.stderr)
        return 1
    print(f"{action} comment {comment.id} on {args.repo}#{pr}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
