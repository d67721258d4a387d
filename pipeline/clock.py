"""Time for promotion: the clock (HYDRATE_NOW replaces it everywhere) and durations.

`HYDRATE_NOW` (an RFC 3339 time) is the clock for the gates and for the times of the
commits and notes hydrate writes, so a test or a what-if ("could prod be promoted on
Monday at 9?") sees exactly what the real run would.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygit2

from pipeline.errors import ConfigError, PipelineError

NOW = "HYDRATE_NOW"
_DURATION = re.compile(r"([0-9]+)([smhd])")
# RFC 3339's date-time: full date, `T`, full time with seconds, and an offset.
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str, where: str) -> dt.datetime:
    """An RFC 3339 time with an offset (`Z` or `+01:00`), as an aware datetime."""
    try:
        when = dt.datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ConfigError(f"{where}: {text!r} is not an RFC 3339 time (e.g. "
                          "2026-11-30T09:00:00Z)") from None
    if when.tzinfo is None:
        raise ConfigError(f"{where}: {text!r} has no offset (add Z for UTC, or +01:00)")
    return when


def now(environ: Mapping[str, str]) -> dt.datetime:
    """The current time, or HYDRATE_NOW's (an RFC 3339 date-time, nothing looser)."""
    configured = environ.get(NOW)
    if configured:
        if not _RFC3339.fullmatch(configured.strip()):
            raise PipelineError(f"{NOW}: {configured!r} is not an RFC 3339 time (e.g. "
                                "2026-11-30T09:00:00Z or 2026-11-30T10:00:00+01:00)")
        try:
            return parse_time(configured, NOW)
        except ConfigError as e:
            raise PipelineError(str(e)) from None
    return dt.datetime.now(dt.UTC)


def at_now(base: pygit2.Signature, environ: Mapping[str, str]) -> pygit2.Signature:
    """`base` (name and email) at the clock's time: commits and notes hydrate writes carry
    HYDRATE_NOW when it is set, so a what-if run sees what the real one would."""
    import pygit2

    when = now(environ)
    offset = int((when.utcoffset() or dt.timedelta()).total_seconds() // 60)
    return pygit2.Signature(base.name, base.email, int(when.timestamp()), offset)


def commit_time(commit: pygit2.Commit) -> dt.datetime:
    """When hydrate committed `commit` (the committer time, never the author time)."""
    zone = dt.timezone(dt.timedelta(minutes=commit.committer.offset))
    return dt.datetime.fromtimestamp(commit.committer.time, zone)


def seconds(duration: str) -> int:
    """'30m' → 1800, '1d12h' → 129600 (the schema has checked the form)."""
    return sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(duration))


def spell(total: float) -> str:
    """1800 → '30m', 72720 → '20h12m', 90061 → '1d1h1m' (seconds only under a minute)."""
    left = max(int(total), 0)
    if left < 60:
        return f"{left}s"
    parts = []
    for unit in ("d", "h", "m"):
        n, left = divmod(left, _UNITS[unit])
        if n:
            parts.append(f"{n}{unit}")
    return "".join(parts)


def rfc3339(when: dt.datetime) -> str:
    """A time as hydrate writes it in notes and ledgers: UTC, to the second."""
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def stamp(when: dt.datetime) -> str:
    """A time as written in evidence: UTC, to the minute (2026-11-29T14:00Z)."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
