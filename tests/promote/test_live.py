"""What is live where, and since when: the timeline of an environment branch read from real
git commits and notes (committer times, live records, check records in the order they were
written), its runs, the checks that count for a run or a wave, and when waves landed."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from pipeline.promote import live, notes
from pipeline.sinks import hydrator, ledger
from tests.envbranch import at, bare, commit, make_ledger, sig

A, B, C = "a" * 40, "b" * 40, "c" * 40
REF = "refs/heads/env/dev"
WHO = sig("2026-11-30T00:00:00Z")


def check(source: str, when: str, state: str = "success", name: str = "smoke",
          env: str = "dev", wave: str = "") -> notes.Record:
    return notes.Record("check", env, source, when, wave=wave, check=name, state=state)


def alive(source: str, when: str, env: str = "dev") -> notes.Record:
    return notes.Record("live", env, source, when)


def record(repo: pygit2.Repository, on: pygit2.Commit, *records: notes.Record) -> None:
    notes.add(repo, on.id, records, WHO)


def timeline(repo: pygit2.Repository, env: str = "dev") -> live.Timeline:
    ref = repo.references.get(f"refs/heads/env/{env}")
    head = repo[ref.target].peel(pygit2.Commit) if ref is not None else None
    return live.Timeline(repo, head, env, notes.local(repo))


def both(source: str) -> dict[str, str]:
    return {"store-1": source, "store-2": source}


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return bare(tmp_path)


# --- runs ------------------------------------------------------------------------------

def test_a_source_is_live_from_the_committer_time_of_its_first_commit(
        repo: pygit2.Repository) -> None:
    """Authored the day before, committed at 08:00: live since 08:00. A later commit of the
    same source (a republish) continues the run; the run begins at the oldest."""
    first = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z",
                   author_time="2026-11-29T08:00:00Z")
    again = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T09:00:00Z", [first.id])
    run = timeline(repo).current()
    assert run == live.Run(A, at("2026-11-30T08:00:00Z"), None, (-1, -1), None, first)
    assert run is not None
    assert run.first.id == first.id != again.id
    assert timeline(repo).last_run(A) == run


def test_a_run_ends_where_another_source_takes_over(repo: pygit2.Repository) -> None:
    first = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    second = commit(repo, REF, make_ledger("dev", both(B)), "2026-11-30T08:10:00Z", [first.id])
    line = timeline(repo)
    now = line.current()
    assert now is not None
    assert (now.source, now.since, now.until, now.first.id) == (B, at("2026-11-30T08:10:00Z"),
                                                               None, second.id)
    old = line.last_run(A)
    assert old == live.Run(A, at("2026-11-30T08:00:00Z"), at("2026-11-30T08:10:00Z"), (-1, -1),
                           (0, -1), first)
    assert line.last_run(C) is None


def test_a_source_live_again_later_has_a_run_of_its_own(repo: pygit2.Repository) -> None:
    """A, then B, then A again (a rollback): A's newest run begins at the third commit."""
    first = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    second = commit(repo, REF, make_ledger("dev", both(B)), "2026-11-30T08:10:00Z", [first.id])
    third = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:20:00Z", [second.id])
    run = timeline(repo).last_run(A)
    assert run is not None
    assert (run.since, run.until, run.first.id, run.start) == (at("2026-11-30T08:20:00Z"), None,
                                                              third.id, (0, -1))
    b = timeline(repo).last_run(B)
    assert b is not None
    assert (b.since, b.until, b.start, b.end) == (at("2026-11-30T08:10:00Z"),
                                                  at("2026-11-30T08:20:00Z"), (-1, -1), (0, -1))


def test_a_mixed_branch_or_a_pending_rollout_has_nothing_live(repo: pygit2.Repository) -> None:
    mixed = commit(repo, REF, make_ledger("dev", {"store-1": A, "store-2": B}),
                   "2026-11-30T08:00:00Z")
    assert timeline(repo).current() is None
    assert timeline(repo).last_run(A) is None
    step = ledger.Step("canary", ("store-1", "store-2"), at("2026-11-30T08:10:00Z"))
    pending = ledger.Rollout(C, "staging", (step,), 2, True)
    commit(repo, REF, make_ledger("dev", both(C), rollout=pending), "2026-11-30T08:10:00Z",
           [mixed.id])
    assert timeline(repo).current() is None  # the first waves are all the branch has
    assert timeline(repo).last_run(C) is None
    done = ledger.Rollout(C, "staging", (step,), 1, False)
    head = repo.references[REF].target
    commit(repo, REF, make_ledger("dev", both(C), rollout=done), "2026-11-30T08:20:00Z", [head])
    run = timeline(repo).current()
    assert run is not None
    assert (run.source, run.since) == (C, at("2026-11-30T08:20:00Z"))


def test_nothing_published_has_no_run_and_no_sources(tmp_path: Path,
                                                     repo: pygit2.Repository) -> None:
    line = live.Timeline(repo, None, "dev", notes.local(repo))
    assert (line.current(), line.last_run(A), line.carried(), line.ledger) == (None, None, {},
                                                                               None)
    assert list(live.first_parents(None)) == []


def test_a_live_record_starts_a_run_at_its_time_and_every_cluster_carries_it(
        repo: pygit2.Repository) -> None:
    """A publish that changed nothing: B is live from the note's time, on the same head,
    and every cluster counts as carrying it; A's run ended there."""
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, alive(B, "2026-11-30T12:00:00Z"))
    line = timeline(repo)
    run = line.current()
    assert run == live.Run(B, at("2026-11-30T12:00:00Z"), None, (0, 0), None, head)
    assert line.carried() == both(B)
    a = line.last_run(A)
    assert a is not None
    assert (a.until, a.end) == (at("2026-11-30T12:00:00Z"), (0, 0))


def test_live_records_follow_the_order_they_were_written_not_their_clocks(
        repo: pygit2.Repository) -> None:
    """B then C recorded live on one head, C by a writer whose clock is behind: C is live
    (written last), from its own time."""
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, alive(B, "2026-11-30T12:00:00Z"), alive(C, "2026-11-30T11:00:00Z"))
    run = timeline(repo).current()
    assert run is not None
    assert (run.source, run.since, run.start) == (
        C, at("2026-11-30T11:00:00Z"), (0, 1))
    b = timeline(repo).last_run(B)
    assert b is not None
    assert (b.start, b.end) == ((0, 0), (0, 1))


def test_a_live_record_of_another_environment_changes_nothing(repo: pygit2.Repository) -> None:
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, alive(B, "2026-11-30T12:00:00Z", env="staging"))
    run = timeline(repo).current()
    assert run is not None
    assert run.source == A
    assert timeline(repo).carried() == both(A)


# --- which checks count ---------------------------------------------------------------------

def test_a_success_stamped_in_the_second_the_run_began_counts(repo: pygit2.Repository) -> None:
    """Published at 08:00:00 and checked in that same second: the check is inside the run
    (a comparison that needs the check to be strictly later drops it). One a second
    earlier by its clock opens nothing."""
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, check(A, "2026-11-30T08:00:00Z"),
           check(A, "2026-11-30T07:59:59Z", name="load"))
    line = timeline(repo)
    run = line.current()
    assert run is not None
    assert [(r.check, r.time) for r in line.checks(run)] == [("smoke", "2026-11-30T08:00:00Z")]


def test_a_success_stamped_in_the_second_the_run_ended_counts(repo: pygit2.Repository) -> None:
    first = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, first, check(A, "2026-11-30T08:10:00Z"),
           check(A, "2026-11-30T08:10:01Z", name="load"))
    commit(repo, REF, make_ledger("dev", both(B)), "2026-11-30T08:10:00Z", [first.id])
    line = timeline(repo)
    run = line.last_run(A)
    assert run is not None
    assert run.until == at("2026-11-30T08:10:00Z")
    assert [r.check for r in line.checks(run)] == ["smoke"]


def test_a_failure_counts_however_it_is_stamped_and_the_written_order_is_kept(
        repo: pygit2.Repository) -> None:
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, check(A, "2026-11-30T08:05:00Z"),
           check(A, "2026-11-30T07:00:00Z", "failure"),
           check(A, "2026-11-30T08:05:00Z", "pending", name="load"))
    run = timeline(repo).current()
    assert run is not None
    assert [(r.check, r.state) for r in timeline(repo).checks(run)] == [
        ("smoke", "success"), ("smoke", "failure"), ("load", "pending")]


def test_only_this_environments_records_of_this_source_count(repo: pygit2.Repository) -> None:
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, check(B, "2026-11-30T08:05:00Z"),
           check(A, "2026-11-30T08:05:00Z", env="staging"),
           alive(A, "2026-11-30T07:00:00Z", env="staging"),
           check(A, "2026-11-30T08:06:00Z", name="load"))
    line = timeline(repo)
    run = line.current()
    assert run is not None
    assert [(r.env, r.source, r.check) for r in line.checks(run)] == [("dev", A, "load")]


def test_a_check_recorded_before_the_run_or_after_it_ended_does_not_count(
        repo: pygit2.Repository) -> None:
    """On the commit before A's run (B's) and on the commit that ended it: neither counts
    for A, whatever their clocks say."""
    old = commit(repo, REF, make_ledger("dev", both(B)), "2026-11-30T07:00:00Z")
    record(repo, old, check(A, "2026-11-30T09:00:00Z", name="early"))
    first = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z", [old.id])
    record(repo, first, check(A, "2026-11-30T08:05:00Z", name="inside"))
    last = commit(repo, REF, make_ledger("dev", both(C)), "2026-11-30T08:10:00Z", [first.id])
    record(repo, last, check(A, "2026-11-30T08:09:00Z", name="late"))
    line = timeline(repo)
    run = line.last_run(A)
    assert run is not None
    assert [r.check for r in line.checks(run)] == ["inside"]


def test_a_check_written_on_the_note_before_the_live_record_does_not_count(
        repo: pygit2.Repository) -> None:
    """B made live by a note on A's head: a check for B written on that note before the
    live record is not inside B's run; one written after it is."""
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, check(B, "2026-11-30T12:00:00Z", name="before"),
           alive(B, "2026-11-30T12:00:00Z"), check(B, "2026-11-30T12:00:00Z", name="after"))
    line = timeline(repo)
    run = line.current()
    assert run is not None
    assert run.start == (0, 1)
    assert [r.check for r in line.checks(run)] == ["after"]


def test_a_check_for_another_wave_does_not_count_for_this_wave(repo: pygit2.Repository) -> None:
    """Checks of a wave are the wave's: one recorded for `early` never counts for `canary`
    (nor a check recorded for no wave)."""
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    record(repo, head, check(A, "2026-11-30T08:05:00Z", wave="early"),
           check(A, "2026-11-30T08:06:00Z"),
           check(A, "2026-11-30T08:07:00Z", wave="canary", name="load"))
    line = timeline(repo)
    run = line.current()
    assert run is not None
    assert [r.check for r in line.checks(run, "canary")] == ["load"]
    assert [(r.check, r.wave) for r in line.checks(run, "early")] == [("smoke", "early")]
    assert len(line.checks(run)) == 3  # no wave asked: all of them


# --- waves -------------------------------------------------------------------------------------

def _rollout(*steps: ledger.Step, pending: bool = True) -> ledger.Rollout:
    return ledger.Rollout(B, "staging", steps, 3, pending)


CANARY = ledger.Step("canary", ("store-1",), at("2026-12-01T09:00:00Z"))
EARLY = ledger.Step("early", ("store-2",), at("2026-12-01T11:00:00Z"))


def _waved(repo: pygit2.Repository) -> tuple[pygit2.Commit, pygit2.Commit, pygit2.Commit]:
    """A on both stores; B's canary lands at 09:30 (built 09:00), a commit that changes
    nothing of the rollout at 10:00, and B's early wave at 11:30."""
    base = commit(repo, REF, make_ledger("dev", both(A)), "2026-12-01T08:00:00Z")
    canary = commit(repo, REF, make_ledger("dev", {"store-1": B, "store-2": A},
                                           rollout=_rollout(CANARY)),
                    "2026-12-01T09:30:00Z", [base.id])
    same = commit(repo, REF, make_ledger("dev", {"store-1": B, "store-2": A},
                                         rollout=_rollout(CANARY)),
                  "2026-12-01T10:00:00Z", [canary.id])
    early = commit(repo, REF, make_ledger("dev", both(B), rollout=_rollout(CANARY, EARLY)),
                   "2026-12-01T11:30:00Z", [same.id])
    return canary, same, early


def test_a_wave_lands_with_the_oldest_commit_that_carries_its_step(
        repo: pygit2.Repository) -> None:
    canary, _, early = _waved(repo)
    line = timeline(repo)
    landed = line.landing(0)
    assert landed == live.Landing("canary", at("2026-12-01T09:30:00Z"), (-2, -1), canary)
    assert line.landing(1) == live.Landing("early", at("2026-12-01T11:30:00Z"), (0, -1), early)
    assert line.landing(2) is None
    assert line.latest_landing("early") == line.landing(1)
    assert line.latest_landing("rest") is None


def test_wave_checks_count_from_the_landing_for_that_wave_only(repo: pygit2.Repository) -> None:
    """Checks of canary recorded on the commit it landed with or later count (a success
    stamped in the landing's own second too); one of another wave, one stamped before the
    landing, or one on an older commit do not."""
    canary, same, _ = _waved(repo)
    base = canary.parents[0]
    record(repo, base, check(B, "2026-12-01T09:40:00Z", wave="canary", name="older-commit"))
    record(repo, canary, check(B, "2026-12-01T09:30:00Z", wave="canary", name="tie"),
           check(B, "2026-12-01T09:29:59Z", wave="canary", name="stamped-before"),
           check(B, "2026-12-01T09:29:00Z", "failure", wave="canary", name="failed"))
    record(repo, same, check(B, "2026-12-01T10:05:00Z", wave="early", name="other-wave"),
           check(B, "2026-12-01T10:06:00Z", wave="canary", name="later"),
           check(A, "2026-12-01T10:07:00Z", wave="canary", name="other-source"))
    line = timeline(repo)
    landed = line.latest_landing("canary")
    assert landed is not None
    assert [r.check for r in line.wave_checks(landed, B, "canary")] == ["tie", "failed", "later"]
    assert [r.check for r in line.wave_checks(landed, B, "early")] == ["other-wave"]


def test_a_rollout_whose_step_changed_has_its_landing_where_it_changed(
        repo: pygit2.Repository) -> None:
    """The same wave name, built again (other clusters): it landed with the rebuilt step."""
    canary, _, _ = _waved(repo)
    again = ledger.Step("canary", ("store-1", "store-2"), at("2026-12-01T12:00:00Z"))
    head = repo.references[REF].target
    rebuilt = commit(repo, REF, make_ledger("dev", both(B), rollout=_rollout(again)),
                     "2026-12-01T12:30:00Z", [head])
    landed = timeline(repo).landing(0)
    assert landed is not None
    assert (landed.commit.id, landed.since) == (
        rebuilt.id, at("2026-12-01T12:30:00Z"))
    assert canary.id != rebuilt.id


# --- making a source live, and small readers ---------------------------------------------

def test_make_live_records_a_new_source_once_and_marks_the_head(repo: pygit2.Repository) -> None:
    head = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    now = at("2026-11-30T12:00:00Z")
    assert live.make_live(repo, "dev", head, B, notes.local(repo), now, WHO)
    assert [(r.kind, r.source, r.time) for r in notes.local(repo).records(head.id)] == [
        ("live", B, "2026-11-30T12:00:00Z")]
    assert not live.make_live(repo, "dev", head, B, notes.local(repo), now, WHO)
    assert len(notes.local(repo).records(head.id)) == 1  # already live: nothing added
    note = repo.lookup_note(str(head.id), hydrator.NOTES_REF).message
    assert B in note  # GitOps Promoter reads the new source on the same head
    # The source the head carries is live already: no live record, but the mark is there.
    other = commit(repo, REF, make_ledger("dev", both(C)), "2026-11-30T13:00:00Z", [head.id])
    assert not live.make_live(repo, "dev", other, C, notes.local(repo), now, WHO)
    assert notes.local(repo).records(other.id) == []
    assert C in repo.lookup_note(str(other.id), hydrator.NOTES_REF).message


def test_first_parents_and_cluster_sources(repo: pygit2.Repository) -> None:
    first = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    side = commit(repo, None, make_ledger("dev", both(C)), "2026-11-30T08:30:00Z")
    merge = commit(repo, REF, make_ledger("dev", {"store-1": B}), "2026-11-30T09:00:00Z",
                   [first.id, side.id])
    assert [c.id for c in live.first_parents(merge)] == [merge.id, first.id]
    assert live.cluster_sources(repo, merge) == {"store-1": B}
    plain = commit(repo, None, None, "2026-11-30T09:00:00Z")
    assert live.cluster_sources(repo, plain) == {}


def test_the_walk_stops_at_the_history_limit(repo: pygit2.Repository,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Only HISTORY_LIMIT first-parent commits are read: a run older than that is not
    found, and the oldest commit read begins the run."""
    first = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T08:00:00Z")
    second = commit(repo, REF, make_ledger("dev", both(A)), "2026-11-30T09:00:00Z", [first.id])
    monkeypatch.setattr(live, "HISTORY_LIMIT", 1)
    run = timeline(repo).current()
    assert run is not None
    assert run.first.id == second.id
    assert [c.id for c in live.first_parents(second)] == [second.id]
    monkeypatch.setattr(live, "HISTORY_LIMIT", 2)
    run = timeline(repo).current()
    assert run is not None
    assert (run.first.id, run.since) == (first.id,
                                                             at("2026-11-30T08:00:00Z"))
