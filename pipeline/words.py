"""How numbers, commits, ages and sizes read in what hydrate prints: the one home of the
small text formatters every report shares (the CLI's and the site's alike)."""

from __future__ import annotations

import datetime as dt


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`1 cluster`, `3 clusters`, `0 clusters`; `plural` for a noun without a plain `s`
    plural (`1 entry`, `2 entries`)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def short(sha: str | None) -> str:
    """A commit as people read it: its first seven hex digits (`-` for none)."""
    return sha[:7] if sha else "-"


def ago(when: dt.datetime, now: dt.datetime) -> str:
    """How long before `now` `when` was: `3d ago`, `5h ago`, `12m ago`, `40s ago`."""
    seconds = int((now - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


def size(n: float) -> str:
    """A number of bytes: `512 B`, `3.2 KiB`, `1.5 GiB`."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
