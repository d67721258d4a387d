"""The text formatters every report shares (pipeline/words.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.words import ago, counted, short, size

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def test_counted_and_short() -> None:
    assert [counted(n, "cluster") for n in (0, 1, 2)] == ["0 clusters", "1 cluster", "2 clusters"]
    assert (short("0123456789abcdef"), short(None), short("")) == ("0123456", "-", "-")


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0s ago"), (59, "59s ago"), (60, "1m ago"), (3599, "59m ago"), (3600, "1h ago"),
    (86399, "23h ago"), (86400, "1d ago"), (10 * 86400 + 5, "10d ago"),
    (-30, "0s ago"),  # a clock that runs behind the commit's: never a negative age
])
def test_ago(seconds: int, shown: str) -> None:
    assert ago(NOW - dt.timedelta(seconds=seconds), NOW) == shown


@pytest.mark.parametrize(("n", "shown"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
    (5 * 1024 ** 2, "5.0 MiB"), (3 * 1024 ** 3, "3.0 GiB"), (4096 * 1024 ** 3, "4096.0 GiB"),
])
def test_size(n: int, shown: str) -> None:
    assert size(n) == shown
