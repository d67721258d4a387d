"""Read-only views of a configuration repository: a directory, or a git commit.

Every stage reads the dry configuration through a `Tree`, so rendering a commit straight
from the object database (no checkout) and rendering the working tree are one code path.
Paths are POSIX paths relative to the repository root; none may leave it. A file's
identity is its git blob id, which a commit already knows and a directory computes.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from typing import Protocol

import pygit2

from pipeline.errors import ConfigError, GitError

_SKIP = frozenset({".git"})


class Tree(Protocol):
    """What the pipeline needs from a configuration repository."""

    @property
    def label(self) -> str:
        """How to name this tree in messages ("working tree /x", "commit 1a2b3c4")."""
        ...

    def read(self, path: str) -> bytes:
        """The bytes of the file at `path`; ConfigError if it is not a file."""
        ...

    def blob_id(self, path: str) -> str:
        """The git blob id (hex) of the file at `path`."""
        ...

    def is_dir(self, path: str) -> bool: ...

    def is_file(self, path: str) -> bool: ...

    def listdir(self, path: str) -> list[str]:
        """Sorted names in the directory `path` ("" is the root); [] if there is none."""
        ...

    def files(self, path: str) -> list[str]:
        """Sorted paths (relative to `path`) of every file below the directory `path`."""
        ...


def normalize(path: str) -> str:
    """`path` made canonical; ConfigError if it is absolute or leaves the repository."""
    if path.startswith("/") or "\\" in path:
        raise ConfigError(f"{path}: path must be relative to the repository, with '/'")
    norm = posixpath.normpath(path) if path else ""
    if norm == ".":
        return ""
    if norm == ".." or norm.startswith("../"):
        raise ConfigError(f"{path}: path leaves the repository")
    return norm


class DirTree:
    """A configuration repository on disk (the working tree)."""

    def __init__(self, root: Path) -> None:
        self._root = root.resolve()

    @property
    def root(self) -> Path:
        return self._root

    @property
    def label(self) -> str:
        return f"working tree {self._root}"

    def _path(self, path: str) -> Path:
        full = self._root / normalize(path)
        # A symlink may point anywhere on disk: follow it only while it stays inside.
        real = Path(os.path.realpath(full))
        if real != self._root and self._root not in real.parents:
            raise ConfigError(f"{path}: symlink points outside the repository")
        return real

    def read(self, path: str) -> bytes:
        try:
            return self._path(path).read_bytes()
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, expected a file") from None
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None

    def blob_id(self, path: str) -> str:
        return str(pygit2.hash(self.read(path)))

    def is_dir(self, path: str) -> bool:
        return self._path(path).is_dir()

    def is_file(self, path: str) -> bool:
        return self._path(path).is_file()

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self._path(path)) if n not in _SKIP)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def files(self, path: str) -> list[str]:
        base = self._path(path)
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames[:] = [d for d in dirnames if d not in _SKIP]
            rel = os.path.relpath(dirpath, base)
            for name in filenames:
                relpath = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
                full = Path(dirpath) / name
                if full.is_symlink():
                    self._path(posixpath.join(path, relpath))  # refuses escaping links
                found.append(relpath)
            # Directory symlinks are not walked into by os.walk; list them as errors
            # rather than silently dropping their content.
            for d in dirnames:
                if (Path(dirpath) / d).is_symlink():
                    raise ConfigError(
                        f"{posixpath.join(path, rel, d)}: symlinked directories are not supported"
                    )
        return sorted(found)


class GitTree:
    """A configuration repository as one commit in a git object database."""

    def __init__(self, repo: pygit2.Repository, commit: pygit2.Commit) -> None:
        self._repo = repo
        self._commit = commit
        self._tree = commit.tree

    @property
    def commit(self) -> pygit2.Commit:
        return self._commit

    @property
    def label(self) -> str:
        return f"commit {str(self._commit.id)[:7]}"

    def _entry(self, path: str) -> pygit2.Object | None:
        norm = normalize(path)
        if not norm:
            return self._tree
        try:
            obj = self._tree[norm]
        except KeyError:
            return None
        if obj.filemode == pygit2.enums.FileMode.LINK:
            link = self._repo[obj.id]
            assert isinstance(link, pygit2.Blob)
            target = link.data.decode()
            resolved = normalize(posixpath.join(posixpath.dirname(norm), target))
            return self._entry(resolved)
        return self._repo[obj.id]

    def read(self, path: str) -> bytes:
        obj = self._entry(path)
        if not isinstance(obj, pygit2.Blob):
            raise ConfigError(f"{path}: no such file in {self.label}")
        return obj.data

    def blob_id(self, path: str) -> str:
        obj = self._entry(path)
        if not isinstance(obj, pygit2.Blob):
            raise ConfigError(f"{path}: no such file in {self.label}")
        return str(obj.id)

    def is_dir(self, path: str) -> bool:
        return isinstance(self._entry(path), pygit2.Tree)

    def is_file(self, path: str) -> bool:
        return isinstance(self._entry(path), pygit2.Blob)

    def listdir(self, path: str) -> list[str]:
        obj = self._entry(path)
        if not isinstance(obj, pygit2.Tree):
            return []
        return sorted(e.name for e in obj if e.name is not None)

    def files(self, path: str) -> list[str]:
        obj = self._entry(path)
        if not isinstance(obj, pygit2.Tree):
            return []
        found: list[str] = []
        self._walk(obj, "", found, path)
        return sorted(found)

    def _walk(self, tree: pygit2.Tree, prefix: str, found: list[str], root: str) -> None:
        for entry in tree:
            name = f"{prefix}{entry.name}"
            if entry.filemode == pygit2.enums.FileMode.TREE:
                self._walk(self._repo[entry.id], f"{name}/", found, root)  # type: ignore[arg-type]
            elif entry.filemode == pygit2.enums.FileMode.LINK:
                if self.is_dir(posixpath.join(root, name)):
                    raise ConfigError(
                        f"{posixpath.join(root, name)}: symlinked directories are not supported"
                    )
                self.read(posixpath.join(root, name))  # refuses dangling or escaping links
                found.append(name)
            elif entry.filemode != pygit2.enums.FileMode.COMMIT:  # submodules hold no files
                found.append(name)


def open_repository(path: Path) -> pygit2.Repository:
    """The git repository at (or above) `path`; GitError if there is none."""
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise GitError(f"{path}: not inside a git repository")
    return pygit2.Repository(found)


def tree_at(repo: pygit2.Repository, rev: str) -> GitTree:
    """The commit `rev` names (a sha, branch, tag or HEAD~2) as a Tree."""
    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as e:
        raise GitError(f"{rev}: no such revision in {repo.path.rstrip('/')} ({e})") from None
    return GitTree(repo, commit)



def inputs_digest(tree: GitTree) -> str:
    """Digest of the dry inputs of a commit (fleet/, bases/, overlays/), from tree ids."""
    import hashlib

    h = hashlib.sha256()
    for top in ("fleet", "bases", "overlays"):
        entry = tree.commit.tree[top] if top in tree.commit.tree else None
        h.update(f"{top}:{entry.id if entry is not None else '-'}\n".encode())
    return h.hexdigest()
