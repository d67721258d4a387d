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
from typing import TYPE_CHECKING, Protocol

import pygit2

from pipeline.errors import ConfigError, GitError

if TYPE_CHECKING:
    from pipeline.config.ignored import GitIgnore

_SKIP = frozenset({".git"})
# The top-level folders a render reads. A symlink must resolve inside one of them, so
# that nothing else in the checkout (.git/ with the token actions/checkout persists in
# its config, CI files, scripts) can reach a tool run or the rendered output.
CONFIG_DIRS = ("fleet", "bases", "overlays")
_OUTSIDE = ("symlink points outside the configuration folders (fleet/, bases/, overlays/), "
            "which are all a render may read; replace the link with a copy of what it points to")


def readable(rel: str) -> bool:
    """Whether a normalized path (relative to the repository, maybe starting with ../)
    lies inside CONFIG_DIRS and outside any .git folder."""
    parts = rel.split("/")
    return parts[0] in CONFIG_DIRS and not _SKIP.intersection(parts)


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

    def ignored_by(self, path: str) -> str | None:
        """The git ignore rule (file, line, pattern) that keeps `path` out of a commit of
        this tree, in words; None when none does. For messages about missing files."""
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
    """A configuration repository on disk (the working tree). With `ignore` (the git
    repository's rules), it holds what a commit of it would hold: files git ignores and
    does not track are not there (see `pipeline.config.ignored`); `left_out` lists those
    met, for the render to say so."""

    def __init__(self, root: Path, ignore: GitIgnore | None = None) -> None:
        self._root = root.resolve()
        self._real_dirs: dict[Path, Path] = {}  # folder → its real path (one render's reads)
        self._ignore = ignore
        self._excluded: dict[str, bool] = {}  # path → left out of a commit (one render's)
        self.left_out: dict[str, None] = {}  # ignored paths met, in order (a folder: "x/")

    def _leaves_out(self, norm: str, folder: bool = False) -> bool:
        """Whether a commit of the working tree would not hold `norm`; noted in `left_out`."""
        if self._ignore is None or not norm:
            return False
        found = self._excluded.get(norm)
        if found is None:
            found = self._excluded[norm] = self._ignore.excludes(norm)
            if found:
                self.left_out[f"{norm}/" if folder else norm] = None
        return found

    def ignored_by(self, path: str) -> str | None:
        """The git ignore rule that keeps `path` out of a commit, in words (None: none)."""
        if self._ignore is None:
            return None
        found = self._ignore.rule(normalize(path) + ("/" if path.endswith("/") else ""))
        return None if found is None else str(found)

    def _inside_ignored(self, norm: str, folder: bool = False) -> bool:
        """Whether `norm` (a folder if `folder`) or a folder above it is left out of a
        commit."""
        parts = norm.split("/")
        return any(self._leaves_out("/".join(parts[:i]), folder=folder or i < len(parts))
                   for i in range(1, len(parts) + 1))

    @property
    def root(self) -> Path:
        return self._root

    @property
    def label(self) -> str:
        return f"working tree {self._root}"

    def _path(self, path: str) -> Path:
        norm = normalize(path)
        if _SKIP.intersection(norm.split("/")):
            raise ConfigError(f"{path}: inside a .git folder, which hydrate never reads")
        full = self._root / norm
        # A symlink may point anywhere on disk: follow it only while it stays inside.
        real = self._real(full)
        if real != full and not self._inside(real):
            raise ConfigError(f"{self._escaping_link(norm)}: {_OUTSIDE}")
        return real

    def _real(self, full: Path) -> Path:
        """`os.path.realpath(full)`, with each folder's resolved once: thousands of files in
        a few hundred folders cost one lstat each instead of one per path component."""
        folder = self._real_dirs.get(full.parent)
        if folder is None:
            folder = self._real_dirs[full.parent] = Path(os.path.realpath(full.parent))
        leaf = folder / full.name
        return Path(os.path.realpath(leaf)) if leaf.is_symlink() else leaf

    def _inside(self, real: Path) -> bool:
        return self._root in real.parents and readable(real.relative_to(self._root).as_posix())

    def _escaping_link(self, norm: str) -> str:
        """The first symlink on the way to `norm` that leads out of CONFIG_DIRS."""
        parts = norm.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            full = self._root / prefix
            if full.is_symlink() and not self._inside(Path(os.path.realpath(full))):
                return prefix
        return norm

    def read(self, path: str) -> bytes:
        full = self._path(path)
        norm = normalize(path)
        if self._ignore is not None and self._inside_ignored(norm):
            raise ConfigError(f"{path}: ignored by git ({self._ignore.where(norm)}), so a commit "
                              "does not hold it, and hydrate renders what a commit holds; commit "
                              f"it (git add -f {norm}) or drop the rule")
        try:
            return full.read_bytes()
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, expected a file") from None
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None

    def blob_id(self, path: str) -> str:
        return str(pygit2.hash(self.read(path)))

    def is_dir(self, path: str) -> bool:
        return self._path(path).is_dir() and not self._inside_ignored(normalize(path), True)

    def is_file(self, path: str) -> bool:
        return self._path(path).is_file() and not self._inside_ignored(normalize(path))

    def listdir(self, path: str) -> list[str]:
        folder = self._path(path)
        try:
            names = sorted(n for n in os.listdir(folder) if n not in _SKIP)
        except (FileNotFoundError, NotADirectoryError):
            return []
        if self._ignore is None:
            return names
        norm = normalize(path)
        if norm and self._inside_ignored(norm, folder=True):
            return []
        return [n for n in names if not self._leaves_out(posixpath.join(norm, n),
                                                         folder=(folder / n).is_dir())]

    def files(self, path: str) -> list[str]:
        base = self._path(path)
        found: list[str] = []
        norm = normalize(path)
        if self._ignore is not None and norm and self._inside_ignored(norm, folder=True):
            return found
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            rel = os.path.relpath(dirpath, base)
            here = norm if rel == "." else posixpath.join(norm, rel.replace(os.sep, "/"))
            dirnames[:] = [d for d in dirnames if d not in _SKIP
                           and not self._leaves_out(posixpath.join(here, d), folder=True)]
            for name in filenames:
                relpath = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
                if self._leaves_out(posixpath.join(here, name)):
                    continue
                full = Path(dirpath) / name
                if full.is_symlink():
                    self._path(posixpath.join(path, relpath))  # refuses escaping links
                found.append(relpath)
            # Directory symlinks are not walked into by os.walk; list them as errors
            # rather than silently dropping their content.
            for d in dirnames:
                if (Path(dirpath) / d).is_symlink():
                    raise ConfigError(
                        f"{posixpath.normpath(posixpath.join(path, rel, d))}: symlinked "
                        "directories are not supported"
                    )
        return sorted(found)


_TREE = pygit2.enums.FileMode.TREE
_LINK = pygit2.enums.FileMode.LINK
_COMMIT = pygit2.enums.FileMode.COMMIT


class GitTree:
    """A configuration repository as one commit in a git object database.

    Directory listings are read once and kept, so that loading thousands of cluster
    files costs one object read each, not a path walk each."""

    def __init__(self, repo: pygit2.Repository, commit: pygit2.Commit, root: str = "") -> None:
        self._repo = repo
        self._commit = commit
        # The configuration's folder in the commit ("" at the top): a monorepo keeps it in
        # a subfolder, and every path here is relative to it, as in a DirTree of that folder.
        self._root = normalize(root)
        self._top = commit.tree
        if self._root:
            try:
                self._top = repo[commit.tree[self._root].id].peel(pygit2.Tree)
            except (KeyError, ValueError, pygit2.GitError):
                raise GitError(f"{self._root}/: no such folder in commit {str(commit.id)[:7]}; "
                               "is the configuration committed?") from None
        self._dirs: dict[str, dict[str, tuple[pygit2.Oid, int]]] = {}

    @property
    def commit(self) -> pygit2.Commit:
        return self._commit

    @property
    def top(self) -> pygit2.Tree:
        """The git tree of the configuration folder (the commit's tree, or its subfolder's)."""
        return self._top

    @property
    def label(self) -> str:
        where = f" ({self._root}/)" if self._root else ""
        return f"commit {str(self._commit.id)[:7]}{where}"

    def _listing(self, folder: str) -> dict[str, tuple[pygit2.Oid, int]] | None:
        found = self._dirs.get(folder)
        if found is not None:
            return found
        if not folder:
            tree: pygit2.Object = self._top
        else:
            entry = self._lookup(folder)
            if entry is None or entry[1] != _TREE:
                return None
            tree = self._repo[entry[0]]
        assert isinstance(tree, pygit2.Tree)
        found = self._dirs[folder] = {e.name: (e.id, int(e.filemode)) for e in tree if e.name}
        return found

    def _lookup(self, path: str, depth: int = 0) -> tuple[pygit2.Oid, int] | None:
        """(object id, file mode) at `path`, following symlinks that stay inside."""
        norm = normalize(path)
        if not norm:
            return (self._top.id, int(_TREE))
        folder, name = posixpath.split(norm)
        listing = self._listing(folder)
        entry = listing.get(name) if listing is not None else None
        if entry is not None and entry[1] == _LINK:
            if depth > 8:
                raise ConfigError(f"{path}: too many levels of symbolic links")
            target = self._repo.odb.read(entry[0])[1].decode(errors="replace")
            resolved = posixpath.normpath(posixpath.join(folder, target))
            # Name the link, never its target: the target may be anything (/etc/passwd).
            if target.startswith("/") or "\\" in target or not readable(resolved):
                raise ConfigError(f"{norm}: {_OUTSIDE}")
            return self._lookup(resolved, depth + 1)
        return entry

    def read(self, path: str) -> bytes:
        entry = self._lookup(path)
        if entry is None or entry[1] in (_TREE, _COMMIT):
            raise ConfigError(f"{path}: no such file in {self.label}")
        data: bytes = self._repo.odb.read(entry[0])[1]
        return data

    def blob_id(self, path: str) -> str:
        entry = self._lookup(path)
        if entry is None or entry[1] in (_TREE, _COMMIT):
            raise ConfigError(f"{path}: no such file in {self.label}")
        return str(entry[0])

    def ignored_by(self, path: str) -> str | None:
        from pipeline.config import ignored

        prefix = f"{self._root}/" if self._root else ""
        found = ignored.rule(self._repository_file, prefix + normalize(path))
        return None if found is None else str(found)

    def _repository_file(self, path: str) -> bytes | None:
        """A file of the commit by its path in the repository (not the configuration
        folder): the ignore files above it count too."""
        try:
            entry = self._commit.tree[path]
        except (KeyError, ValueError):
            return None
        if entry.filemode not in (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE):
            return None
        data: bytes = self._repo.odb.read(entry.id)[1]
        return data

    def tree_id(self, path: str) -> str | None:
        """The git tree id of a directory (None if there is none): a digest of all in it."""
        entry = self._lookup(path)
        return str(entry[0]) if entry is not None and entry[1] == _TREE else None

    def is_dir(self, path: str) -> bool:
        entry = self._lookup(path)
        return entry is not None and entry[1] == _TREE

    def is_file(self, path: str) -> bool:
        entry = self._lookup(path)
        return entry is not None and entry[1] not in (_TREE, _COMMIT)

    def listdir(self, path: str) -> list[str]:
        listing = self._listing(normalize(path)) if self.is_dir(path) else None
        return sorted(listing) if listing is not None else []

    def files(self, path: str) -> list[str]:
        if not self.is_dir(path):
            return []
        found: list[str] = []
        self._walk(normalize(path), "", found)
        return sorted(found)

    def _walk(self, root: str, prefix: str, found: list[str]) -> None:
        listing = self._listing(posixpath.join(root, prefix).rstrip("/"))
        for name, (_, mode) in sorted((listing or {}).items()):
            rel = f"{prefix}{name}"
            full = posixpath.join(root, rel)
            if mode == _TREE:
                self._walk(root, f"{rel}/", found)
            elif mode == _LINK:
                if self.is_dir(full):
                    raise ConfigError(f"{full}: symlinked directories are not supported")
                self.read(full)  # refuses dangling or escaping links
                found.append(rel)
            elif mode != _COMMIT:  # submodules hold no files
                found.append(rel)


def open_repository(path: Path) -> pygit2.Repository:
    """The git repository at (or above) `path`; GitError if there is none."""
    found = pygit2.discover_repository(str(path))
    if found is None:
        raise GitError(f"{path}: not inside a git repository")
    return pygit2.Repository(found)


def config_root(repo: pygit2.Repository, path: Path) -> str:
    """Where the configuration repository `path` sits in `repo`'s commits: "" at the top,
    "sub/dir" when it is a folder of a bigger repository (a monorepo)."""
    if not repo.workdir:  # a bare repository
        return ""
    try:
        rel = Path(os.path.realpath(path)).relative_to(os.path.realpath(repo.workdir))
    except ValueError:
        return ""
    return rel.as_posix() if rel.parts else ""


def _unknown(repo: pygit2.Repository, rev: str, error: Exception) -> str:
    """Why `rev` names no commit, and what to do about it."""
    where = (repo.workdir or repo.path).rstrip("/")
    if repo.head_is_unborn and rev in ("HEAD", "@", _unborn_branch(repo)):
        return (f"{rev}: the repository {where} has no commits yet; commit the configuration "
                "(fleet/, bases/, overlays/) first")
    if repo.is_shallow:
        return (f"{rev}: not found in {where}, a shallow clone (its history is cut, so older "
                "commits are missing); fetch the whole history with `git fetch --unshallow` "
                "(GitHub Actions: `fetch-depth: 0` in actions/checkout)")
    return f"{rev}: no such revision in {where} ({error})"


def _unborn_branch(repo: pygit2.Repository) -> str:
    target = repo.references["HEAD"].target
    return target.removeprefix("refs/heads/") if isinstance(target, str) else ""


def tree_at(repo: pygit2.Repository, rev: str, root: str = "") -> GitTree:
    """The commit `rev` names (a sha, branch, tag or HEAD~2) as a Tree of its folder `root`
    (see `config_root`)."""
    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError) as e:
        raise GitError(_unknown(repo, rev, e)) from None
    return GitTree(repo, commit, root)


def inputs_digest(tree: GitTree) -> str:
    """Digest of the dry inputs of a commit (fleet/, bases/, overlays/), from tree ids."""
    import hashlib

    h = hashlib.sha256()
    for top in ("fleet", "bases", "overlays"):
        h.update(f"{top}:{tree.tree_id(top) or '-'}\n".encode())
    return h.hexdigest()
