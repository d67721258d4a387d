"""What identifies the code that renders: part of cache keys and provenance."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline import __version__

_PACKAGE = Path(__file__).parent


def engine_digest() -> str:
    """Digest of hydrate's own code and schemas: a post-processing result cached by one
    version of hydrate is never reused by another."""
    h = hashlib.sha256(__version__.encode())
    for path in sorted([*_PACKAGE.rglob("*.py"), *_PACKAGE.rglob("*.json")]):
        h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()
