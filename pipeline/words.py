"""How numbers read in what hydrate prints."""

from __future__ import annotations


def counted(n: int, noun: str) -> str:
    """`1 cluster`, `3 clusters`, `0 clusters` (English nouns with a plain `s` plural)."""
    return f"{n} {noun}{'s' * (n != 1)}"
