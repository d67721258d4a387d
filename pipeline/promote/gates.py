"""The gates of a promotion, each a pass or a block with its evidence.

A gate is a function from the facts of one promotion step (`Facts`: when the source
became live where it is promoted from and until when, the checks recorded inside that
stretch, the windows, freezes and holds, the clock) to a verdict, or None when it does not
apply; `GATES` lists them in the order they are shown, so a new kind of gate is one
function added there. They are pure: `promote.attempt` gathers the facts from git. A
blocked gate says what would unblock it and, where time alone does, when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
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


@dataclass(frozen=True)
class Facts:
    """What the gates of one promotion step judge."""

    source: str
    where: str  # where it soaks: "dev", or "prod wave canary"
    soak: int  # seconds it must have been live there
    since: dt.datetime | None  # since when it is (or was) live there; None: never
    until: dt.datetime | None  # when it stopped being live there (None: it still is)
    required: tuple[str, ...]
    checks: tuple[CheckRecord, ...]  # recorded there while it was live
    record_with: str  # the command that records a missing check
    now: dt.datetime
    windows: tuple[Window, ...] = ()
    freezes: tuple[Freeze, ...] = ()
    holds: tuple[tuple[str, str], ...] = ()  # (environment, reason) of each hold on it


def soak(need_seconds: int, since: dt.datetime | None, where: str, now: dt.datetime,
         until: dt.datetime | None = None) -> Gate:
    """Live on `where` for at least the soak time, without interruption: from `since` to
    now, or to `until` if it stopped being live there."""
    need = spell(need_seconds)
    if since is None:
        return Gate("soak", False, f"not live on {where} yet (needs {need})")
    end = now if until is None else min(now, until)
    lived = (end - since).total_seconds()
    stretch = f"since {stamp(since)}" if until is None else (
        f"from {stamp(since)} until {stamp(until)}")
    evidence = f"live on {where} {stretch}, {spell(lived)} of {need}"
    if lived >= need_seconds:
        return Gate("soak", True, evidence)
    if until is not None:
        return Gate("soak", False, f"{evidence}; it is no longer live there")
    opens = since + dt.timedelta(seconds=need_seconds)
    return Gate("soak", False, f"{evidence}; passes at {stamp(opens)}", opens)


def latest(records: Iterable[CheckRecord]) -> dict[str, CheckRecord]:
    """The latest record per check: `records` come in the order they were written, and
    the last written wins (a writer's clock may be behind another's)."""
    return {record.check: record for record in records}


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


def _transition(day: dt.date, zone: ZoneInfo) -> dt.datetime | None:
    """The instant on local day `day` at which the zone's offset changes, if it does."""
    low = dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)
    high = low + dt.timedelta(hours=25)
    before = low.astimezone(zone).utcoffset()
    if high.astimezone(zone).utcoffset() == before:
        return None
    while high - low > dt.timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0)


def _next_start(window: Window, after: dt.datetime) -> dt.datetime | None:
    """The first instant at or after `after` inside `window`, in the zone's real time: a
    start that falls in a daylight-saving gap opens when the gap ends (if the window is
    still open then), a start in an overlap at its first occurrence. None if the window
    opens on no day of the coming two weeks (two: a window wholly inside a gap, e.g.
    Sunday 02:00-02:30 in Berlin, skips the week of the change)."""
    zone = ZoneInfo(window.timezone)
    local = after.astimezone(zone)
    found: list[dt.datetime] = []
    for offset in range(-1, 16):
        day = local.date() + dt.timedelta(days=offset)
        wall = dt.datetime(day.year, day.month, day.day, window.start // 60, window.start % 60)
        start = wall.replace(tzinfo=zone).astimezone(dt.UTC)
        if start.astimezone(zone).replace(tzinfo=None) == wall:  # the wall time exists
            found.append(start)
        change = _transition(day, zone)
        if change is not None:
            found.append(change)
    opens = [t for t in found if t >= after and inside(window, t)]
    return min(opens) if opens else None


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
            starts = [t for w in windows if (t := _next_start(w, when)) is not None]
            if not starts:
                return None
            when = min(starts)
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


def soak_gate(f: Facts) -> Gate:
    return soak(f.soak, f.since, f.where, f.now, f.until)


def checks_gate(f: Facts) -> Gate:
    return checks(f.required, f.checks, f"{f.source[:7]} on {f.where}", f.record_with)


def window_gate(f: Facts) -> Gate | None:
    found = [g for g in timing(f.windows, f.freezes, f.now) if g.name == "window"]
    return found[0] if found else None


def freeze_gate(f: Facts) -> Gate | None:
    found = [g for g in timing(f.windows, f.freezes, f.now) if g.name == "freeze"]
    return found[0] if found else None


def hold_gate(f: Facts) -> Gate | None:
    """A hold on the source, on any environment (a rollback put it there)."""
    if not f.holds:
        return None
    where = "; ".join(f"on {env}: {reason}" for env, reason in f.holds)
    first = f.holds[0][0]
    return Gate("hold", False, f"{f.source[:7]} is held ({where}); promote it by hand with "
                "--force --reason, or lift the hold: hydrate hold --release "
                f"{f.source[:12]} --env {first} --reason TEXT")


Judge = Callable[[Facts], "Gate | None"]
GATES: tuple[Judge, ...] = (soak_gate, checks_gate, window_gate, freeze_gate, hold_gate)


def judge(facts: Facts, gates: Sequence[Judge] = GATES) -> tuple[Gate, ...]:
    """Every gate that applies to `facts`, in order."""
    return tuple(g for gate in gates if (g := gate(facts)) is not None)


def hold(holds: Mapping[str, str], source: str) -> Gate | None:
    """A hold on `source` (put by a rollback) blocks it; None when there is none."""
    reason = holds.get(source)
    if reason is None:
        return None
    return Gate("hold", False, f"{source[:7]} is held ({reason}); promote it by hand with "
                "--force --reason")
