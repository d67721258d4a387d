"""How numbers read in what hydrate prints: every count with a noun goes through
`counted`, so no message says "1 clusters" or "2 warning"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`1 cluster`, `3 clusters`, `0 clusters`; `plural` for a noun without a plain `s`
    plural (`1 entry`, `2 entries`)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
