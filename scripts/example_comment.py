"""Build the README's example PR comment: a realistic change to the example fleet,
diffed by the real CLI (see scripts/example-comment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pygit2
from benchlib import commit_all

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "example-pr-comment.md"
README = ROOT / "README.md"
START, END = "<!-- example-comment:start -->", "<!-- example-comment:end -->"
# Fixed identities and times make the commits, hence the comment, reproducible.
SIG = pygit2.Signature("Platform Team", "platform@example.com", 1_795_000_000, 60)




def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        sys.exit(f"example-comment: {path}: {old!r} not found; update scripts/example_comment.py")
    path.write_text(text.replace(old, new, 1))


def comment() -> str:
    with tempfile.TemporaryDirectory(prefix="hydrate-example-") as tmp:
        repo_dir = Path(tmp) / "fleet-config"
        for d in ("fleet", "bases", "overlays"):
            shutil.copytree(ROOT / d, repo_dir / d)
        repo = pygit2.init_repository(str(repo_dir), initial_head="main")
        commit_all(repo, "Fleet as of today", SIG)
        _edit(repo_dir / "bases/pos-app/chart/values.yaml", "tag: 2.14.3", "tag: 2.15.0")
        hamburg = repo_dir / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
        hamburg.write_text(hamburg.read_text() + "bridge:\n  logLevel: debug\n")
        commit_all(repo, "Roll out pos-app 2.15.0; debug the MQTT bridge in Hamburg", SIG)
        env = {**os.environ, "HYDRATE_DIFF_SALT": "example", "HYDRATE_CACHE_DIR": f"{tmp}/cache"}
        proc = subprocess.run(
            [str(ROOT / ".venv/bin/hydrate"), "--repo", str(repo_dir), "diff", "--base", "main~1",
             "--head", "main", "--format", "markdown", "--report-url",
             "the `hydrate-diff` artifact of the workflow run"],
            env=env, capture_output=True, text=True, check=True)
        return proc.stdout


def main() -> None:
    text = comment()
    readme = README.read_text()
    start, end = readme.index(START) + len(START), readme.index(END)
    new_readme = f"{readme[:start]}\n{text}{readme[end:]}"
    if "--check" in sys.argv[1:]:
        stale = [str(p.relative_to(ROOT)) for p, want in ((DOC, text), (README, new_readme))
                 if not p.exists() or p.read_text() != want]
        if stale:
            sys.exit(f"example-comment: out of date: {', '.join(stale)}; run scripts/example-comment")
        return
    DOC.write_text(text)
    README.write_text(new_readme)
    print(f"wrote {DOC.relative_to(ROOT)} and the README's example", file=sys.stderr)


if __name__ == "__main__":
    main()
