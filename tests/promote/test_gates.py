"""The gates as pure functions of the clock and the evidence (no git needed)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline import clock
from pipeline.config.model import Freeze, Window
from pipeline.promote import gates

UTC = dt.UTC
BERLIN_BUSINESS = Window(frozenset({0, 1, 2, 3}), 8 * 60, 16 * 60, "Europe/Berlin")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_soak_passes_at_the_exact_time_and_says_when_before() -> None:
    since = at("2026-11-30T08:00:00Z")
    early = gates.soak(1800, since, "dev", at("2026-11-30T08:20:00Z"))
    assert not early.passed
    assert early.evidence == ("live on dev since 2026-11-30T08:00Z, 20m of 30m; passes at "
                              "2026-11-30T08:30Z")
    assert early.opens == at("2026-11-30T08:30:00Z")
    assert gates.soak(1800, since, "dev", at("2026-11-30T08:30:00Z")).passed
    never = gates.soak(1800, None, "dev", at("2026-11-30T08:30:00Z"))
    assert (never.passed, never.evidence) == (False, "not live on dev yet (needs 30m)")


def test_the_latest_state_of_a_check_wins_and_a_failure_blocks() -> None:
    t = at("2026-11-30T08:00:00Z")
    records = [gates.CheckRecord("smoke", "success", t),
               gates.CheckRecord("smoke", "failure", t + dt.timedelta(minutes=5), "https://ci/2")]
    gate = gates.checks(["smoke"], records, "abc1234 on dev")
    assert not gate.passed
    assert gate.evidence == "smoke: failure at 2026-11-30T08:05Z https://ci/2"
    records.append(gates.CheckRecord("smoke", "success", t + dt.timedelta(minutes=9)))
    assert gates.checks(["smoke"], records, "abc1234 on dev").passed
    missing = gates.checks(["smoke", "load"], records, "abc1234 on dev", "hydrate verify --env dev")
    assert not missing.passed
    assert missing.evidence.endswith("load: not recorded for abc1234 on dev (hydrate verify "
                                     "--env dev --check load --state success)")
    assert gates.checks([], [], "x").evidence == "none required"


@pytest.mark.parametrize(("now", "inside"), [
    ("2026-11-30T07:00:00Z", True),    # Monday 08:00 in Berlin (UTC+1): opens
    ("2026-11-30T06:59:00Z", False),   # 07:59 local
    ("2026-11-30T14:59:00Z", True),    # 15:59 local
    ("2026-11-30T15:00:00Z", False),   # 16:00 local: closed
    ("2026-12-04T09:00:00Z", False),   # Friday
    ("2026-07-06T06:30:00Z", True),    # a Monday in summer time (UTC+2): 08:30 local
])
def test_windows_are_local_time_in_their_zone(now: str, inside: bool) -> None:
    assert gates.inside(BERLIN_BUSINESS, at(now)) is inside


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    night = Window(frozenset({4}), 22 * 60, 6 * 60, "UTC")  # Friday 22:00 to Saturday 06:00
    assert gates.inside(night, at("2026-12-04T23:00:00Z"))
    assert gates.inside(night, at("2026-12-05T05:59:00Z"))
    assert not gates.inside(night, at("2026-12-05T23:00:00Z"))


def test_outside_a_window_the_gate_says_when_it_opens() -> None:
    (gate,) = gates.timing([BERLIN_BUSINESS], [], at("2026-12-04T09:00:00Z"))  # Friday
    assert not gate.passed
    assert gate.opens == at("2026-12-07T07:00:00Z")  # Monday 08:00 Berlin
    assert "next opens 2026-12-07T07:00Z" in gate.evidence


def test_a_freeze_wins_over_a_window_and_says_when_it_can_land() -> None:
    freeze = Freeze(at("2026-12-18T00:00:00Z"), at("2027-01-04T00:00:00Z"), "peak trading")
    window, frozen = gates.timing([BERLIN_BUSINESS], [freeze], at("2026-12-21T09:00:00Z"))
    assert window.passed  # a Monday, in business hours
    assert not frozen.passed
    assert frozen.opens == at("2027-01-04T07:00:00Z")  # first window after the freeze
    assert "peak trading" in frozen.evidence


def test_a_held_source_is_blocked() -> None:
    gate = gates.hold({"a" * 40: "rolled back: broke the tills"}, "a" * 40)
    assert gate is not None
    assert not gate.passed
    assert "broke the tills" in gate.evidence
    assert gates.hold({}, "a" * 40) is None


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"kind": "check", "env": "dev"}',
                                  '{"kind": "check", "env": "dev", "source": "a", '
                                  '"time": "yesterday"}', '{"unknown": "field"}'])
def test_a_note_line_this_version_cannot_read_is_ignored(line: str) -> None:
    """Notes come from the remote (anyone with push access): an unreadable line is kept
    but never judged, rather than crashing every promotion."""
    from pipeline.promote.notes import Record

    assert not isinstance(Record.parse(line), Record)
    good = Record.parse('{"kind": "check", "env": "dev", "source": "a", '
                        '"time": "2026-11-30T08:00:00Z", "check": "smoke", "state": "success"}')
    assert isinstance(good, Record)
    assert (good.check, good.state, good.when) == ("smoke", "success",
                                                   at("2026-11-30T08:00:00Z"))


SUNDAY_NIGHT_BERLIN = Window(frozenset({6}), 2 * 60, 3 * 60, "Europe/Berlin")


@pytest.mark.parametrize(("now", "opens"), [
    # 2026-03-29 is the spring-forward Sunday: 02:00-03:00 does not exist in Berlin that
    # day, so the window opens next on the following Sunday (02:00 CEST = 00:00 UTC).
    ("2026-03-29T00:30:00Z", "2026-04-05T00:00:00Z"),
    ("2026-03-28T12:00:00Z", "2026-04-05T00:00:00Z"),
    # 2026-10-25 falls back: 02:00-03:00 happens twice; it opens at the first.
    ("2026-10-24T23:30:00Z", "2026-10-25T00:00:00Z"),
])
def test_a_window_in_a_daylight_saving_change_opens_in_the_zones_real_time(
        now: str, opens: str) -> None:
    (gate,) = gates.timing([SUNDAY_NIGHT_BERLIN], [], at(now))
    assert not gate.passed
    assert gate.opens == at(opens)
    assert gate.evidence.endswith(f"next opens {clock.stamp(at(opens))}")


def test_a_window_partly_in_the_gap_opens_when_the_gap_ends() -> None:
    half = Window(frozenset({6}), 2 * 60 + 30, 4 * 60, "Europe/Berlin")  # 02:30-04:00
    (gate,) = gates.timing([half], [], at("2026-03-29T00:30:00Z"))
    assert gate.opens == at("2026-03-29T01:00:00Z")  # 03:00 CEST, the first real minute
    assert gates.inside(SUNDAY_NIGHT_BERLIN, at("2026-10-25T01:30:00Z"))  # the second 02:30


def test_the_gates_are_functions_of_the_facts() -> None:
    """A held source that soaked, with its check, inside no window: soak and checks pass,
    window and hold block; a gate that does not apply is not shown."""
    now = at("2026-12-04T09:00:00Z")  # a Friday
    facts = gates.Facts("a" * 40, "staging", 3600, at("2026-12-04T07:00:00Z"), None,
                        ("smoke",), (gates.CheckRecord("smoke", "success", now),),
                        "hydrate verify --env staging", now, (BERLIN_BUSINESS,), (),
                        (("dev", "rolled back: broke the tills"),))
    found = gates.judge(facts)
    assert [(g.name, g.passed) for g in found] == [("soak", True), ("checks", True),
                                                    ("window", False), ("hold", False)]
    assert "held (on dev: rolled back: broke the tills)" in found[-1].evidence
    assert "hydrate hold --release aaaaaaaaaaaa --env dev" in found[-1].evidence


def test_a_soak_that_ended_counts_only_until_it_ended() -> None:
    """Rolled back (or replaced) after 10 minutes: 10 minutes of soak, however late it is
    now, and no time at which it would pass."""
    gate = gates.soak(1800, at("2026-11-30T08:00:00Z"), "dev", at("2026-11-30T12:00:00Z"),
                      until=at("2026-11-30T08:10:00Z"))
    assert not gate.passed
    assert gate.opens is None
    assert gate.evidence == ("live on dev from 2026-11-30T08:00Z until 2026-11-30T08:10Z, "
                             "10m of 30m; it is no longer live there")


def test_the_last_written_record_of_a_check_wins_whatever_its_clock() -> None:
    """A success at 08:09, then a failure written after it by a writer whose clock is
    behind (08:05): the failure is the latest state, and it blocks."""
    t = at("2026-11-30T08:00:00Z")
    records = [gates.CheckRecord("smoke", "success", t + dt.timedelta(minutes=9)),
               gates.CheckRecord("smoke", "failure", t + dt.timedelta(minutes=5))]
    gate = gates.checks(["smoke"], records, "abc1234 on dev")
    assert not gate.passed
    assert gate.evidence == "smoke: failure at 2026-11-30T08:05Z"


# --- the exact edges of every time rule (issue 27) --------------------------------------

def test_two_records_of_a_check_in_the_same_second_the_later_written_wins() -> None:
    """A success and a failure stamped with the same second: whichever was written last is
    the check's state, in either order (a comparison of times that lets the first of two
    equal stamps stand would keep the success)."""
    t = at("2026-11-30T08:00:00Z")
    success, failure = (gates.CheckRecord("smoke", "success", t),
                        gates.CheckRecord("smoke", "failure", t))
    assert gates.latest([success, failure]) == {"smoke": failure}
    assert gates.latest([failure, success]) == {"smoke": success}
    blocked = gates.checks(["smoke"], [success, failure], "abc1234 on dev")
    assert (blocked.passed, blocked.evidence) == (False, "smoke: failure at 2026-11-30T08:00Z")
    assert gates.checks(["smoke"], [failure, success], "abc1234 on dev").passed


@pytest.mark.parametrize("state", ["pending", "failure", "skipped"])
def test_only_success_passes_the_checks_gate(state: str) -> None:
    """A pending check (or any state but success) blocks: "passed" is "success", never
    "not a failure"."""
    t = at("2026-11-30T08:00:00Z")
    records = [gates.CheckRecord("smoke", "success", t),
               gates.CheckRecord("smoke", state, t + dt.timedelta(minutes=1))]
    gate = gates.checks(["smoke"], records, "abc1234 on dev")
    assert not gate.passed
    assert gate.evidence == f"smoke: {state} at 2026-11-30T08:01Z"
    # Two checks: one passed does not carry the other.
    both = gates.checks(["load", "smoke"], [gates.CheckRecord("load", "success", t), *records],
                        "abc1234 on dev")
    assert not both.passed
    assert gates.checks(["load"], [gates.CheckRecord("load", "success", t), *records],
                        "abc1234 on dev").passed


def test_soak_is_one_second_short_just_before_the_exact_time() -> None:
    since = at("2026-11-30T08:00:00Z")
    short = gates.soak(1800, since, "dev", at("2026-11-30T08:29:59Z"))
    assert not short.passed
    assert short.opens == at("2026-11-30T08:30:00Z")
    exact = gates.soak(1800, since, "dev", at("2026-11-30T08:30:00Z"))
    assert (exact.passed, exact.opens) == (True, None)
    assert exact.evidence == "live on dev since 2026-11-30T08:00Z, 30m of 30m"
    # It stopped being live exactly when the soak was done: that soak counts.
    ended = gates.soak(1800, since, "dev", at("2026-11-30T12:00:00Z"),
                       until=at("2026-11-30T08:30:00Z"))
    assert ended.passed
    assert not gates.soak(1800, since, "dev", at("2026-11-30T12:00:00Z"),
                          until=at("2026-11-30T08:29:59Z")).passed
    # No soak asked for: live is enough, from its first second.
    assert gates.soak(0, since, "dev", since).passed


FREEZE = Freeze(at("2026-12-18T00:00:00Z"), at("2027-01-04T00:00:00Z"), "peak trading")


@pytest.mark.parametrize(("now", "frozen"), [
    ("2026-12-17T23:59:59Z", False),  # the last second before it
    ("2026-12-18T00:00:00Z", True),   # its first instant
    ("2027-01-03T23:59:59Z", True),   # its last second
    ("2027-01-04T00:00:00Z", False),  # its end: open again
])
def test_a_freeze_holds_from_its_first_instant_up_to_its_end(now: str, frozen: bool) -> None:
    (gate,) = gates.timing([], [FREEZE], at(now))
    assert gate.name == "freeze"
    assert gate.passed is not frozen
    if frozen:
        assert gate.opens == at("2027-01-04T00:00:00Z")  # no window: the freeze's end
        assert gate.evidence == ("frozen 2026-12-18T00:00Z to 2027-01-04T00:00Z (peak "
                                 "trading); can land at 2027-01-04T00:00Z")
    else:
        assert gate.evidence == f"no freeze at {clock.stamp(at(now))}"
    assert gates.opening([], [FREEZE], at(now)) == (at("2027-01-04T00:00:00Z") if frozen
                                                    else at(now))


def test_a_window_is_open_from_its_first_minute_and_closed_at_its_last() -> None:
    """08:00-16:00 Berlin (UTC+1 in December): 07:00:00Z opens, 14:59:59Z is still inside,
    15:00:00Z is closed; the gate says so and when it opens next."""
    monday = [(at("2026-11-30T06:59:59Z"), False), (at("2026-11-30T07:00:00Z"), True),
              (at("2026-11-30T14:59:59Z"), True), (at("2026-11-30T15:00:00Z"), False)]
    for when, open_ in monday:
        (gate,) = gates.timing([BERLIN_BUSINESS], [], when)
        assert gate.passed is open_, when
        assert gate.opens == (None if open_ else
                              at("2026-11-30T07:00:00Z") if when.hour < 7 else
                              at("2026-12-01T07:00:00Z"))


def test_back_to_back_freezes_land_after_the_last() -> None:
    """A freeze that starts where another ends: the first instant both leave open."""
    second = Freeze(FREEZE.end, at("2027-01-10T00:00:00Z"), "stock take")
    assert gates.opening([], [FREEZE, second], at("2026-12-20T00:00:00Z")) == \
        at("2027-01-10T00:00:00Z")
    (gate,) = gates.timing([], [FREEZE, second], at("2027-01-04T00:00:00Z"))
    assert not gate.passed
    assert "(stock take)" in gate.evidence


@pytest.mark.parametrize(("now", "inside"), [
    ("2026-12-04T21:59:59Z", False),  # Friday, a second before 22:00
    ("2026-12-04T22:00:00Z", True),   # its first minute
    ("2026-12-05T05:59:59Z", True),   # Saturday morning, its last second
    ("2026-12-05T06:00:00Z", False),  # its end
    ("2026-12-04T05:59:00Z", False),  # Friday morning: Thursday is not listed
])
def test_a_window_past_midnight_has_exact_edges(now: str, inside: bool) -> None:
    night = Window(frozenset({4}), 22 * 60, 6 * 60, "UTC")  # Friday 22:00 to Saturday 06:00
    assert gates.inside(night, at(now)) is inside
