"""What a commit of the working tree would hold: git-ignored files are not inputs.

A render of the working tree reads tracked files and untracked files that git does not
ignore, nothing else, so it renders what `diff`, `render --source HEAD` and `publish`
(which read commits) render. Upstream charts ship a `.gitignore` with `charts/*`: their
vendored subcharts stay out of git, and a working-tree render that saw them would pass
where every commit fails.

`GitIgnore` decides with libgit2 (pygit2: every ignore source git has, tracked files
kept). `rule` names the `.gitignore` line that ignores a path, for messages; it reads the
ignore files through a `Reader`, so the same words serve a working tree and a commit
(whose subcharts are missing because that line kept them out of it).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pygit2

Reader = Callable[[str], bytes | None]  # a file of the git repository by path, None if none


@dataclass(frozen=True)
class Rule:
    """One line of an ignore file that ignores a path."""

    file: str  # relative to the git repository (".git/info/exclude" for that one)
    line: int
    pattern: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} `{self.pattern}`"


def rule(read: Reader, path: str) -> Rule | None:
    """The ignore rule that keeps `path` (relative to the git repository; a folder ends in
    "/") out of a commit: the path's, or a parent folder's (git does not look inside an
    ignored folder). None when no `.gitignore` line (or .git/info/exclude line) ignores it."""
    folder = path.endswith("/")
    parts = path.rstrip("/").split("/")
    for end in range(1, len(parts) + 1):
        found = _decide(read, "/".join(parts[:end]), is_dir=end < len(parts) or folder)
        if found is not None:
            return found
    return None


def _decide(read: Reader, path: str, is_dir: bool) -> Rule | None:
    """The rule git applies to `path` itself: the deepest ignore file with a matching line
    decides, and in it the last matching line (a `!` line re-includes: None)."""
    import pathspec  # only for messages: most renders never need it
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    folder = posixpath.dirname(path)
    sources = []
    while True:
        sources.append(posixpath.join(folder, ".gitignore") if folder else ".gitignore")
        if not folder:
            break
        folder = posixpath.dirname(folder)
    sources.append(".git/info/exclude")
    for source in sources:
        text = read(source)
        if text is None:
            continue
        base = posixpath.dirname(source) if source != ".git/info/exclude" else ""
        rel = path[len(base) + 1:] if base else path
        lines = text.decode("utf-8", "replace").splitlines()
        patterns = [(n, line, GitIgnoreSpecPattern(line))
                    for n, line in enumerate(lines, start=1)]
        patterns = [p for p in patterns if p[2].include is not None]
        if not patterns:
            continue
        spec = pathspec.GitIgnoreSpec([p for _, _, p in patterns])
        checked = spec.check_file(rel + ("/" if is_dir else ""))
        if checked.include is None and is_dir:
            checked = spec.check_file(rel)
        if checked.include is not None and checked.index is not None:
            number, line, _ = patterns[checked.index]
            return Rule(source, number, line.strip()) if checked.include else None
    return None


class GitIgnore:
    """Which paths of a working tree a commit of it would leave out: untracked files that
    git ignores. Paths are relative to the configuration folder `root` of the repository."""

    def __init__(self, repo: pygit2.Repository, root: str) -> None:
        self._repo = repo
        self._prefix = f"{root}/" if root else ""
        self._tracked: set[str] | None = None  # files and their folders in the index

    @classmethod
    def of(cls, path: Path) -> GitIgnore | None:
        """The ignore rules of the repository `path` is in (None: not in a work tree)."""
        found = pygit2.discover_repository(str(path))
        if found is None:
            return None
        repo = pygit2.Repository(found)
        if repo.is_bare or not repo.workdir:
            return None
        try:  # where the configuration sits in the repository (a monorepo's subfolder)
            rel = Path(os.path.realpath(path)).relative_to(os.path.realpath(repo.workdir))
        except ValueError:
            return None
        return cls(repo, rel.as_posix() if rel.parts else "")

    def _in_index(self, full: str) -> bool:
        if self._tracked is None:
            tracked: set[str] = set()
            for entry in self._repo.index:
                parts = entry.path.split("/")
                tracked.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
            self._tracked = tracked
        return full in self._tracked

    def excludes(self, rel: str) -> bool:
        """Whether a commit of the working tree would leave `rel` (a file, or a folder with
        nothing tracked in it) out."""
        full = self._prefix + rel
        return self._repo.path_is_ignored(full) and not self._in_index(full)

    def rule(self, rel: str) -> Rule | None:
        """The line that ignores `rel` (relative to the configuration folder; a folder
        ends in "/")."""
        return rule(self.read, self._prefix + rel)

    def read(self, path: str) -> bytes | None:
        """A file of the work tree (ignore files), by its path in the repository."""
        try:
            return (Path(self._repo.workdir) / path).read_bytes()
        except OSError:
            if path == ".git/info/exclude":
                try:
                    return (Path(self._repo.path) / "info/exclude").read_bytes()
                except OSError:
                    return None
            return None

    def where(self, rel: str) -> str:
        """`rel` in words for a message: the rule that ignores it, or git's settings."""
        found = self.rule(rel)
        return str(found) if found is not None else "a global git excludes file (core.excludesFile)"
