"""The gates' words and bounds, from mutation testing (scripts/mutate): each gate's name
(it goes into the commit's Hydrate-Gate trailer), its evidence in full, the facts each
gate reads, windows with minutes and more than one day, a window that never opens, the
year-long horizon, and the daylight-saving changes a window's opening is computed from."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from pipeline.config.model import Freeze, Window
from pipeline.promote import gates

BERLIN = ZoneInfo("Europe/Berlin")
A = "abcdef0123456789" * 2 + "abcdef01"  # a 40-character source


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def facts(now: str, *, since: str | None = "2026-12-04T07:00:00Z", until: str | None = None,
          required: tuple[str, ...] = ("smoke",), checks: tuple[gates.CheckRecord, ...] = (),
          windows: tuple[Window, ...] = (), freezes: tuple[Freeze, ...] = (),
          holds: tuple[tuple[str, str], ...] = ()) -> gates.Facts:
    return gates.Facts(A, "staging", 3600, at(since) if since else None,
                       at(until) if until else None, required, checks,
                       "hydrate verify --env staging", at(now), windows, freezes, holds)


# --- names and evidence ------------------------------------------------------------------

def test_every_blocked_soak_is_named_soak() -> None:
    since = at("2026-11-30T08:00:00Z")
    blocked = [gates.soak(1800, None, "dev", since),
               gates.soak(1800, since, "dev", at("2026-11-30T08:10:00Z")),
               gates.soak(1800, since, "dev", at("2026-11-30T09:00:00Z"),
                          until=at("2026-11-30T08:10:00Z"))]
    assert [(g.name, g.passed) for g in blocked] == [("soak", False)] * 3
    assert blocked[1].trailer == ("soak blocked live on dev since 2026-11-30T08:00Z, 10m of "
                                  "30m; passes at 2026-11-30T08:30Z")


def test_no_required_check_passes_the_checks_gate() -> None:
    gate = gates.checks([], [], "abc1234 on dev")
    assert gate == gates.Gate("checks", True, "none required")
    assert gate.trailer == "checks passed none required"


def test_the_checks_gate_lists_every_required_check_in_order() -> None:
    """A missing check does not stop the others from being listed (nor passing)."""
    t = at("2026-11-30T08:00:00Z")
    gate = gates.checks(["load", "smoke", "e2e"], [
        gates.CheckRecord("smoke", "success", t, "https://ci/1"),
        gates.CheckRecord("e2e", "failure", t)], "abc1234 on dev")
    assert gate.name == "checks"
    assert not gate.passed
    assert gate.evidence == (
        "load: not recorded for abc1234 on dev (hydrate verify --check load --state success); "
        "smoke: success at 2026-11-30T08:00Z https://ci/1; e2e: failure at 2026-11-30T08:00Z")


def test_window_and_freeze_gates_are_named_and_say_what_they_saw() -> None:
    window = Window(frozenset({0, 1}), 8 * 60 + 30, 16 * 60 + 45, "Europe/Berlin")
    night = Window(frozenset({4}), 22 * 60 + 5, 5 * 60 + 50, "UTC")
    freeze = Freeze(at("2026-12-24T00:00:00Z"), at("2026-12-27T00:00:00Z"), "holidays")
    inside, no_freeze = gates.timing([window, night], [freeze], at("2026-11-30T08:00:00Z"))
    assert (inside.name, inside.passed) == ("window", True)
    assert inside.evidence == ("inside mon,tue 08:30-16:45 Europe/Berlin "
                               "(now 2026-11-30T08:00Z)")
    assert (no_freeze.name, no_freeze.passed) == ("freeze", True)
    assert no_freeze.evidence == "no freeze at 2026-11-30T08:00Z"
    (outside,) = gates.timing([window, night], [], at("2026-12-02T12:00:00Z"))  # Wednesday
    assert outside == gates.Gate(
        "window", False, "outside mon,tue 08:30-16:45 Europe/Berlin; fri 22:05-05:50 UTC "
        "(now 2026-12-02T12:00Z); next opens 2026-12-04T22:05Z", at("2026-12-04T22:05:00Z"))


def test_a_window_that_starts_on_the_half_hour_opens_on_the_half_hour() -> None:
    window = Window(frozenset({0}), 8 * 60 + 30, 16 * 60, "Europe/Berlin")
    (gate,) = gates.timing([window], [], at("2026-12-04T12:00:00Z"))  # a Friday
    assert gate.opens == at("2026-12-07T07:30:00Z")  # Monday 08:30 in Berlin


def test_a_window_on_no_day_never_opens() -> None:
    never = Window(frozenset(), 8 * 60, 16 * 60, "UTC")
    (gate,) = gates.timing([never], [], at("2026-12-04T12:00:00Z"))
    assert gate == gates.Gate("window", False, "outside  08:00-16:00 UTC "
                              "(now 2026-12-04T12:00Z); next opens never", None)
    freeze = Freeze(at("2026-12-01T00:00:00Z"), at("2026-12-31T00:00:00Z"), "year end")
    _, frozen = gates.timing([never], [freeze], at("2026-12-04T12:00:00Z"))
    assert frozen == gates.Gate("freeze", False, "frozen 2026-12-01T00:00Z to "
                                "2026-12-31T00:00Z (year end); can land at no time within "
                                "a year", None)


def test_a_sunday_night_window_runs_into_monday_morning() -> None:
    """(day - 1) % 7: the morning after Sunday is Monday's, day 0."""
    sunday_night = Window(frozenset({6}), 22 * 60, 6 * 60, "UTC")
    assert gates.inside(sunday_night, at("2026-11-30T05:59:00Z"))  # Monday 05:59
    assert not gates.inside(sunday_night, at("2026-11-30T06:00:00Z"))


# --- the facts each gate reads ----------------------------------------------------------

def test_the_soak_gate_counts_only_until_the_source_stopped_being_live() -> None:
    found = gates.judge(facts("2026-12-04T12:00:00Z", until="2026-12-04T07:30:00Z",
                              checks=(gates.CheckRecord("smoke", "success",
                                                        at("2026-12-04T07:10:00Z")),)))
    assert [(g.name, g.passed) for g in found] == [("soak", False), ("checks", True)]
    assert found[0].evidence == ("live on staging from 2026-12-04T07:00Z until "
                                 "2026-12-04T07:30Z, 30m of 1h; it is no longer live there")


def test_the_checks_gate_names_the_source_and_where_and_how_to_record() -> None:
    (_, missing) = gates.judge(facts("2026-12-04T12:00:00Z"))
    assert missing == gates.Gate("checks", False, "smoke: not recorded for abcdef0 on staging "
                                 "(hydrate verify --env staging --check smoke --state success)")


def test_without_windows_or_freezes_those_gates_do_not_apply() -> None:
    found = gates.judge(facts("2026-12-04T12:00:00Z", required=()))
    assert [g.name for g in found] == ["soak", "checks"]
    assert gates.window_gate(facts("2026-12-04T12:00:00Z")) is None
    assert gates.freeze_gate(facts("2026-12-04T12:00:00Z")) is None


def test_a_freeze_is_its_own_gate_after_the_window() -> None:
    freeze = Freeze(at("2026-12-01T00:00:00Z"), at("2026-12-31T00:00:00Z"), "year end")
    window = Window(frozenset({4}), 0, 23 * 60, "UTC")
    found = gates.judge(facts("2026-12-04T12:00:00Z", required=(), windows=(window,),
                              freezes=(freeze,)))
    assert [(g.name, g.passed) for g in found] == [("soak", True), ("checks", True),
                                                    ("window", True), ("freeze", False)]
    assert found[-1].opens == at("2027-01-01T00:00:00Z")  # the first Friday after it
    alone = gates.freeze_gate(facts("2026-12-04T12:00:00Z", freezes=(freeze,)))
    assert alone == gates.Gate("freeze", False, "frozen 2026-12-01T00:00Z to 2026-12-31T00:00Z"
                               " (year end); can land at 2026-12-31T00:00Z",
                               at("2026-12-31T00:00:00Z"))


def test_a_hold_on_several_environments_names_each() -> None:
    gate = gates.hold_gate(facts("2026-12-04T12:00:00Z", holds=(
        ("dev", "broke the tills"), ("staging", "slow checkout"))))
    assert gate == gates.Gate(
        "hold", False, "abcdef0 is held (on dev: broke the tills; on staging: slow "
        "checkout); promote it by hand with --force --reason, or lift the hold: hydrate hold "
        f"--release {A[:12]} --env dev --reason TEXT")
    assert gates.hold_gate(facts("2026-12-04T12:00:00Z")) is None


def test_a_held_source_says_how_to_promote_it_anyway() -> None:
    gate = gates.hold({A: "rolled back: broke the tills"}, A)
    assert gate == gates.Gate("hold", False, "abcdef0 is held (rolled back: broke the tills); "
                              "promote it by hand with --force --reason")


# --- the horizon ----------------------------------------------------------------------------

@pytest.mark.parametrize(("days", "lands"), [(365, True), (366, False)])
def test_a_landing_time_is_looked_for_up_to_a_year_ahead(days: int, lands: bool) -> None:
    now = at("2026-12-04T12:00:00Z")
    freeze = Freeze(now, now + dt.timedelta(days=days), "a long one")
    assert gates.opening([], [freeze], now) == (now + dt.timedelta(days=days) if lands
                                                else None)
    almost = Freeze(now, now + dt.timedelta(days=366, seconds=-1), "a second shorter")
    assert gates.opening([], [almost], now) == almost.end


@pytest.mark.parametrize(("count", "lands"), [(999, True), (1000, False)])
def test_the_search_for_a_landing_time_gives_up_after_a_thousand_steps(count: int,
                                                                       lands: bool) -> None:
    """Each freeze passed is one step; the thousandth step is the last it takes."""
    now = at("2026-12-04T12:00:00Z")
    chain = [Freeze(now + dt.timedelta(minutes=i), now + dt.timedelta(minutes=i + 1), "step")
             for i in range(count)]
    assert gates.opening([], chain, now) == (chain[-1].end if lands else None)


# --- daylight saving -------------------------------------------------------------------------

def test_the_offset_change_is_found_on_its_local_day_only() -> None:
    """Berlin springs forward on Sunday 2026-03-29 at 01:00Z; Auckland, twelve hours ahead
    of UTC, on its Sunday 2026-09-27 at 02:00 local, which is the 26th in UTC."""
    assert gates._transition(dt.date(2026, 3, 29), BERLIN) == at("2026-03-29T01:00:00Z")
    assert gates._transition(dt.date(2026, 3, 28), BERLIN) is None
    assert gates._transition(dt.date(2026, 3, 30), BERLIN) is None
    auckland = ZoneInfo("Pacific/Auckland")
    assert gates._transition(dt.date(2026, 9, 27), auckland) == at("2026-09-26T14:00:00Z")
    assert gates._transition(dt.date(2026, 9, 26), auckland) is None


def test_a_window_that_starts_in_a_gap_near_midnight_opens_at_the_exact_second() -> None:
    """Nuuk springs from 23:00 (UTC-2) to 00:00 (UTC-1) on Saturday 2026-03-28, 23 hours
    into that local day: a Saturday window from 23:30 opens when the gap ends, on the
    second (the search for the change must end within a second of it)."""
    window = Window(frozenset({5}), 23 * 60 + 30, 2 * 60, "America/Nuuk")
    (gate,) = gates.timing([window], [], at("2026-03-28T12:00:00Z"))
    assert gate.opens == at("2026-03-29T01:00:00Z")


@pytest.mark.parametrize("now", ["2026-03-26T12:00:00Z", "2026-03-27T12:00:00Z",
                                 "2026-03-28T12:00:00Z", "2026-03-29T01:30:00Z"])
def test_a_window_wholly_inside_the_gap_opens_the_week_after(now: str) -> None:
    """Sunday 02:00-02:30 in Berlin does not exist on 2026-03-29 (02:00 becomes 03:00): asked
    any day that week, it next opens on Sunday 2026-04-05, not never (mutation testing found
    the days from which it looked only a week ahead)."""
    window = Window(frozenset({6}), 2 * 60, 2 * 60 + 30, "Europe/Berlin")
    (gate,) = gates.timing([window], [], at(now))
    assert gate.opens == at("2026-04-05T00:00:00Z")
    assert gate.evidence.endswith("next opens 2026-04-05T00:00Z")


@pytest.fixture
def machine_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's local time zone (TZ) is New York's for the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("machine_in_new_york")
@pytest.mark.parametrize(("window", "now", "opens"), [
    (Window(frozenset({0}), 8 * 60, 16 * 60, "Europe/Berlin"), "2026-12-04T12:00:00Z",
     "2026-12-07T07:00Z"),  # a regular start
    (Window(frozenset({6}), 2 * 60 + 30, 4 * 60, "Europe/Berlin"), "2026-03-29T00:30:00Z",
     "2026-03-29T01:00Z"),  # the end of a gap
])
def test_when_a_window_opens_is_utc_whatever_the_machines_zone(window: Window, now: str,
                                                               opens: str) -> None:
    """`hydrate promote` prints the earliest time a blocked promotion can land from
    `Gate.opens` as it is (…%H:%MZ): it must be UTC on a machine set to any zone."""
    (gate,) = gates.timing([window], [], at(now))
    assert gate.opens is not None
    assert gate.opens.utcoffset() == dt.timedelta(0)
    assert gate.opens.strftime("%Y-%m-%dT%H:%MZ") == opens
