"""Caches of tool outputs, keyed by the digest of the materialised input (a render key).

`MemoryCache` lives for one process (e.g. both sides of a diff). `DiskCache` is the
persistent, content-addressed cache shared by `render`, `publish` and `diff`:

    <dir>/v1/<key[:2]>/<key>      "hydrate-cache v1 <sha256 of payload>\\n" + payload

Entries are written to a temporary file and renamed into place (atomic, so concurrent
processes never see a torn entry) and checked on every read: a corrupt or truncated
entry is deleted and counted as a miss, so it is rendered again. The cache is best
effort: when its directory cannot be read or written (read-only, full, not a directory),
get and put are misses, the caller is warned once, and the render goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

import platformdirs

from pipeline.errors import PipelineError

_MAGIC = b"hydrate-cache v1 "
_KEY = re.compile(r"[0-9a-f]{8,}")


class Cache(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


class NoCache:
    def get(self, key: str) -> bytes | None:
        return None

    def put(self, key: str, data: bytes) -> None:
        return None


class MemoryCache:
    def __init__(self) -> None:
        self._entries: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    def put(self, key: str, data: bytes) -> None:
        self._entries[key] = data


class DiskCache:
    """Persistent cache in `root`; `corrupt` counts entries found broken and dropped.

    Best effort: a cache that cannot be read or written (read-only, full, not a
    directory) gives misses, and `warn` is told once, naming the directory and the error.
    """

    def __init__(self, root: Path, warn: Callable[[str], None] | None = None) -> None:
        self.root = root
        self._folder = os.fspath(root / "v1")
        self._warn = warn
        self.corrupt = 0
        self.problem: str | None = None  # the first OS error met, in words

    def _path(self, key: str) -> str:
        # A string, not a Path: a warm render reads thousands of entries.
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a render key: {key!r}")
        return f"{self._folder}/{key[:2]}/{key}"

    def _failed(self, error: OSError) -> None:
        if self.problem is not None:
            return
        what = error.strerror or str(error)
        self.problem = f"{what}: {error.filename}" if error.filename else what
        if self._warn is not None:
            self._warn(f"render cache {self.root}: {self.problem}; going on without it "
                       "(what it cannot give is rendered again)")

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            self._failed(e)
            return None
        header, sep, payload = raw.partition(b"\n")
        if (not sep or not header.startswith(_MAGIC)
                or header[len(_MAGIC):].decode(errors="replace") != hashlib.sha256(payload).hexdigest()):
            self.corrupt += 1
            with contextlib.suppress(OSError):  # a read-only cache keeps it; still a miss
                os.unlink(path)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruning evicts the least recently used first
        return payload

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            folder = Path(path).parent
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        except OSError as e:
            self._failed(e)
            return
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_MAGIC + hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(OSError):
                Path(tmp).unlink(missing_ok=True)
            if not isinstance(e, OSError):
                raise
            self._failed(e)


def default_dir(environ: Mapping[str, str]) -> Path:
    """HYDRATE_CACHE_DIR, else the user's cache directory (e.g. ~/.cache/hydrate)."""
    configured = environ.get("HYDRATE_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(platformdirs.user_cache_dir("hydrate", appauthor=False))


def open_cache(environ: Mapping[str, str], directory: Path | None, enabled: bool = True,
               warn: Callable[[str], None] | None = None) -> Cache:
    if not enabled:
        return NoCache()
    return DiskCache(directory if directory is not None else default_dir(environ), warn)


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5GiB', '1000' → bytes."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (cleaned[:-1], cleaned[-1]) if cleaned[-1:] in units else (cleaned, "")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (like 500M or 2G)") from None
    return int(value * units[unit])


def entries(root: Path) -> list[tuple[float, int, Path]]:
    """(last use, size, path) of every entry, oldest first."""
    found = []
    for path in (root / "v1").glob("*/*"):
        if path.name.startswith(".tmp-"):
            continue
        try:
            st = path.stat()
        except FileNotFoundError:
            continue
        found.append((st.st_mtime, st.st_size, path))
    return sorted(found)


def prune(root: Path, max_bytes: int, now: float, older_than: float | None = None) -> tuple[int, int, int]:
    """Delete the least recently used entries until the cache holds at most `max_bytes`
    (and entries unused for `older_than` seconds). Returns (removed, freed, kept bytes)."""
    items = entries(root)
    total = sum(size for _, size, _ in items)
    removed = freed = 0
    for used, size, path in items:
        stale = older_than is not None and now - used > older_than
        if total - freed <= max_bytes and not stale:
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            raise PipelineError(f"cache {root}: cannot remove {path.name}: "
                                f"{e.strerror or e}; check the directory's permissions") from e
        removed += 1
        freed += size
    for tmp in (root / "v1").glob("*/.tmp-*"):  # left by killed writers
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > 3600:
                tmp.unlink(missing_ok=True)
    return removed, freed, total - freed
