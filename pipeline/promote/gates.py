"""The gates of a promotion, each a pass or a block with its evidence.

Gates are pure functions of what git records (when a source went live, which checks
were recorded) and the clock; `promote` gathers the facts and prints the verdicts. A
blocked gate says what would unblock it and, where time alone does, when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pipeline.clock import spell, stamp
from pipeline.config.model import Freeze, Window
from pipeline.config.promotion import DAYS


@dataclass(frozen=True)
class Gate:
    name: str  # soak | checks | window | freeze | hold
    passed: bool
    evidence: str
    opens: dt.datetime | None = None  # when it will pass, if time alone decides

    @property
    def trailer(self) -> str:
        return f"{self.name} {'passed' if self.passed else 'blocked'} {self.evidence}"


@dataclass(frozen=True)
class CheckRecord:
    """One `hydrate verify` result, as read from the notes."""

    check: str
    state: str  # success | failure | pending
    time: dt.datetime
    url: str = ""
    description: str = ""


def soak(need_seconds: int, since: dt.datetime | None, where: str, now: dt.datetime) -> Gate:
    """Live on `where` for at least the soak time, counted from `since`."""
    need = spell(need_seconds)
    if since is None:
        return Gate("soak", False, f"not live on {where} yet (needs {need})")
    lived = (now - since).total_seconds()
    evidence = f"live on {where} since {stamp(since)}, {spell(lived)} of {need}"
    if lived >= need_seconds:
        return Gate("soak", True, evidence)
    opens = since + dt.timedelta(seconds=need_seconds)
    return Gate("soak", False, f"{evidence}; passes at {stamp(opens)}", opens)


def latest(records: Iterable[CheckRecord]) -> dict[str, CheckRecord]:
    """The latest record per check (by time; a later line wins a tie)."""
    found: dict[str, CheckRecord] = {}
    for record in records:
        held = found.get(record.check)
        if held is None or record.time >= held.time:
            found[record.check] = record
    return found


def checks(required: Sequence[str], records: Iterable[CheckRecord], what: str,
           record_with: str = "hydrate verify") -> Gate:
    """Every required check's latest state is success (`what`: source and environment;
    `record_with`: the command that records one, for the hint)."""
    if not required:
        return Gate("checks", True, "none required")
    states = latest(records)
    parts: list[str] = []
    ok = True
    for name in required:
        record = states.get(name)
        if record is None:
            ok = False
            parts.append(f"{name}: not recorded for {what} ({record_with} --check {name} "
                         "--state success)")
            continue
        ok = ok and record.state == "success"
        url = f" {record.url}" if record.url else ""
        parts.append(f"{name}: {record.state} at {stamp(record.time)}{url}")
    return Gate("checks", ok, "; ".join(parts))


def _local(window: Window, when: dt.datetime) -> dt.datetime:
    return when.astimezone(ZoneInfo(window.timezone))


def inside(window: Window, when: dt.datetime) -> bool:
    """Whether `when` falls in the window (a window past midnight belongs to the day it
    starts on)."""
    local = _local(window, when)
    minute = local.hour * 60 + local.minute
    day = local.weekday()
    if window.start < window.end:
        return day in window.days and window.start <= minute < window.end
    # Overnight, e.g. 22:00-06:00: the evening of a listed day, or the morning after it.
    return ((day in window.days and minute >= window.start)
            or ((day - 1) % 7 in window.days and minute < window.end))


def _next_start(window: Window, after: dt.datetime) -> dt.datetime:
    """The first start of `window` at or after `after`."""
    zone = ZoneInfo(window.timezone)
    local = after.astimezone(zone)
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        start = dt.datetime(day.year, day.month, day.day, window.start // 60, window.start % 60,
                            tzinfo=zone)
        if start >= after:
            return start.astimezone(dt.UTC)
    raise AssertionError("a window opens within a week")  # days is never empty


def _freeze_at(freezes: Sequence[Freeze], when: dt.datetime) -> Freeze | None:
    return next((f for f in freezes if f.start <= when < f.end), None)


def opening(windows: Sequence[Window], freezes: Sequence[Freeze],
            now: dt.datetime) -> dt.datetime | None:
    """The first time at or after `now` inside a window (any time if none) and outside
    every freeze; None if none within a year."""
    when = now
    for _ in range(1000):
        freeze = _freeze_at(freezes, when)
        if freeze is not None:
            when = freeze.end
            continue
        if windows and not any(inside(w, when) for w in windows):
            when = min(_next_start(w, when) for w in windows)
            continue
        return when if when - now < dt.timedelta(days=366) else None
    return None


def describe(window: Window) -> str:
    days = ",".join(DAYS[d] for d in sorted(window.days))
    return (f"{days} {window.start // 60:02d}:{window.start % 60:02d}-"
            f"{window.end // 60:02d}:{window.end % 60:02d} {window.timezone}")


def timing(windows: Sequence[Window], freezes: Sequence[Freeze], now: dt.datetime) -> list[Gate]:
    """The window gate (if there are windows) and the freeze gate (if there are
    freezes): a freeze wins over a window."""
    gates: list[Gate] = []
    opens = opening(windows, freezes, now)
    if windows:
        hit = next((w for w in windows if inside(w, now)), None)
        if hit is not None:
            gates.append(Gate("window", True, f"inside {describe(hit)} (now {stamp(now)})"))
        else:
            nxt = opening(windows, (), now)
            gates.append(Gate("window", False, f"outside {'; '.join(describe(w) for w in windows)}"
                              f" (now {stamp(now)}); next opens {stamp(nxt) if nxt else 'never'}",
                              nxt))
    if freezes:
        freeze = _freeze_at(freezes, now)
        if freeze is None:
            gates.append(Gate("freeze", True, f"no freeze at {stamp(now)}"))
        else:
            gates.append(Gate("freeze", False, f"frozen {stamp(freeze.start)} to "
                              f"{stamp(freeze.end)} ({freeze.reason}); "
                              f"can land at {stamp(opens) if opens else 'no time within a year'}",
                              opens))
    return gates


def hold(holds: Mapping[str, str], source: str) -> Gate | None:
    """A hold on `source` (put by a rollback) blocks it; None when there is none."""
    reason = holds.get(source)
    if reason is None:
        return None
    return Gate("hold", False, f"{source[:7]} is held ({reason}); promote it by hand with "
                "--force --reason")
