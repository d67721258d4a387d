"""The promotion rules at their exact edges, end to end: the real CLI, real git with a bare
repository as the remote, a fixed clock. Each test here fails on a small bug the rest of
the suite let through (issue 27): records written in the same second, a pending check, a
soak, window or freeze one instant off, a check for another wave, a second rollback, a
local race."""

from __future__ import annotations

import json
from pathlib import Path

import pygit2

from tests import clirun
from tests.commands.test_promote import T0, gate_lines, head, meta, ok, run
from tests.commands.test_promote_trust import note, pop_change, to_prod_canary
from tests.conftest import commit_all, hydrate, replace_in


def verify(repo: pygit2.Repository, remote: pygit2.Repository, now: str, state: str,
           *wave: str, env: str = "dev") -> None:
    ok(run(repo, remote, now, "verify", "--env", env, *wave, "--check", "smoke", "--state",
           state, "--push"))


def test_a_check_recorded_in_the_second_of_the_publish_counts_and_the_soak_ends_on_time(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """Published at 08:00:00 and checked in that same second, promoted at 08:30:00 with a
    30m soak: both gates pass at their exact edge; a second earlier the soak blocks."""
    source = str(example_repo.head.target)
    ok(run(example_repo, remote, T0, "publish", "--push"))
    verify(example_repo, remote, T0, "success")
    early = run(example_repo, remote, "2026-11-30T08:29:59Z", "promote", "--to", "staging")
    assert early.code == 4, early.out + early.err
    assert gate_lines(early.out) == {
        "soak": "BLOCKED live on dev since 2026-11-30T08:00Z, 29m of 30m; passes at "
                "2026-11-30T08:30Z",
        "checks": "pass smoke: success at 2026-11-30T08:00Z"}
    out = ok(run(example_repo, remote, "2026-11-30T08:30:00Z", "promote", "--to", "staging",
                 "--push"))
    assert gate_lines(out) == {"soak": "pass live on dev since 2026-11-30T08:00Z, 30m of 30m",
                               "checks": "pass smoke: success at 2026-11-30T08:00Z"}
    assert meta(remote, "staging")["source"]["commit"] == source


def test_the_last_written_state_of_a_check_counts_even_in_the_same_second_and_pending_blocks(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """A success and then a failure recorded in the same second: the failure blocks. A
    pending run blocks as a failure does. Only a success written last opens the gate."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    verify(example_repo, remote, "2026-11-30T08:40:00Z", "success")
    verify(example_repo, remote, "2026-11-30T08:40:00Z", "failure")
    failed = run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging",
                 "--push")
    assert failed.code == 4, failed.out + failed.err
    assert gate_lines(failed.out)["checks"] == "BLOCKED smoke: failure at 2026-11-30T08:40Z"
    verify(example_repo, remote, "2026-11-30T08:41:00Z", "pending")
    pending = run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging",
                  "--push")
    assert pending.code == 4, pending.out + pending.err
    assert gate_lines(pending.out)["checks"] == "BLOCKED smoke: pending at 2026-11-30T08:41Z"
    assert "refs/heads/env/staging" not in remote.references
    verify(example_repo, remote, "2026-11-30T08:41:00Z", "success")
    out = ok(run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging",
                 "--push"))
    assert gate_lines(out)["checks"] == "pass smoke: success at 2026-11-30T08:41Z"


FROZEN = """    windows:
    - {days: [mon], hours: "07:00-10:30", timezone: UTC}
    freezes:
    - {from: "2026-11-30T09:00:00Z", to: "2026-11-30T10:00:00Z", reason: stock take}
"""


def test_a_freeze_and_a_window_hold_from_their_first_instant_to_their_end(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """staging: Mondays 07:00-10:30 UTC, frozen 09:00-10:00. A second before the freeze the
    promotion could land; at 09:00:00 it is frozen; at 10:30:00 the window is shut; at
    10:00:00, when the freeze ends inside the window, it lands."""
    envs = Path(example_repo.workdir) / "fleet/environments.yaml"
    replace_in(envs, "  promotion: {from: dev, soak: 30m, requires: [smoke]}\n",
               "  promotion:\n    from: dev\n    soak: 30m\n    requires: [smoke]\n" + FROZEN)
    commit_all(example_repo, "Staging's window and freeze")
    ok(run(example_repo, remote, "2026-11-30T07:00:00Z", "publish", "--push"))
    verify(example_repo, remote, "2026-11-30T07:10:00Z", "success")
    before = gate_lines(ok(run(example_repo, remote, "2026-11-30T08:59:59Z", "promote",
                               "--to", "staging", "--dry-run")))
    assert before["freeze"] == "pass no freeze at 2026-11-30T08:59Z"
    assert before["window"].startswith("pass inside mon 07:00-10:30 UTC")
    frozen = run(example_repo, remote, "2026-11-30T09:00:00Z", "promote", "--to", "staging",
                 "--push")
    assert frozen.code == 4, frozen.out + frozen.err
    assert gate_lines(frozen.out)["freeze"] == (
        "BLOCKED frozen 2026-11-30T09:00Z to 2026-11-30T10:00Z (stock take); can land at "
        "2026-11-30T10:00Z")
    shut = run(example_repo, remote, "2026-11-30T10:30:00Z", "promote", "--to", "staging",
               "--dry-run")
    assert shut.code == 4, shut.out + shut.err
    assert gate_lines(shut.out)["window"] == (
        "BLOCKED outside mon 07:00-10:30 UTC (now 2026-11-30T10:30Z); next opens "
        "2026-12-07T07:00Z")
    assert gate_lines(shut.out)["freeze"] == "pass no freeze at 2026-11-30T10:30Z"
    assert "refs/heads/env/staging" not in remote.references
    landed = gate_lines(ok(run(example_repo, remote, "2026-11-30T10:00:00Z", "promote",
                               "--to", "staging", "--push")))
    assert landed["freeze"] == "pass no freeze at 2026-11-30T10:00Z"
    assert "Hydrate-Gate: freeze passed no freeze at 2026-11-30T10:00Z" in head(
        remote, "staging").message


def test_a_check_recorded_for_another_wave_does_not_open_this_waves_gate(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """Canary has soaked; smoke is recorded for prod, but for wave early (which has not
    run) and for no wave: the next step is still blocked on canary's check."""
    source = to_prod_canary(example_repo, remote)
    canary_head = head(remote, "prod").id
    # `verify --wave early` is refused before early lands; a record for it (written by an
    # older hydrate, or by hand) and one for no wave sit on the canary's commit.
    refused = run(example_repo, remote, "2026-12-01T11:05:00Z", "verify", "--env", "prod",
                  "--wave", "early", "--check", "smoke", "--state", "success", "--push")
    assert refused.code == 1, refused.out + refused.err
    recorded = {"kind": "check", "env": "prod", "source": source, "check": "smoke",
                "state": "success"}
    note(remote, canary_head,
         json.dumps({**recorded, "time": "2026-12-01T11:05:00Z", "wave": "early"}),
         json.dumps({**recorded, "time": "2026-12-01T11:06:00Z"}))
    blocked = run(example_repo, remote, "2026-12-01T11:10:00Z", "promote", "--to", "prod",
                  "--push")
    assert blocked.code == 4, blocked.out + blocked.err
    assert gate_lines(blocked.out)["checks"] == (
        f"BLOCKED smoke: not recorded for {source[:7]} on prod wave canary (hydrate verify "
        "--env prod --wave canary --check smoke --state success)")
    assert head(remote, "prod").id == canary_head
    verify(example_repo, remote, "2026-12-01T11:11:00Z", "success", "--wave", "canary",
           env="prod")
    ok(run(example_repo, remote, "2026-12-01T11:12:00Z", "promote", "--to", "prod", "--push"))
    assert "Hydrate-Wave: early (2 of 3)" in head(remote, "prod").message


def test_a_second_rollback_keeps_the_hold_of_the_first(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """dev: A, then B, then C. Rolling back C (to B) holds C; rolling back B (to A) holds B
    too, and C stays held: neither is published again without --force."""
    first = str(example_repo.head.target)
    ok(run(example_repo, remote, T0, "publish", "--push"))
    second = pop_change(example_repo, 3)
    ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "publish", "--push"))
    replace_in(Path(example_repo.workdir) / "fleet/classes/pop.yaml", "posReplicas: 3",
               "posReplicas: 4")
    third = str(commit_all(example_repo, "4 POS replicas"))
    ok(run(example_repo, remote, "2026-11-30T10:00:00Z", "publish", "--push"))
    published = head(remote, "dev").id
    out = ok(run(example_repo, remote, "2026-11-30T10:10:00Z", "rollback", "--env", "dev",
                 "--reason", "four tills crash", "--push"))
    assert out.splitlines()[0].startswith(f"rollback dev: {third[:7]} → {second[:7]}")
    after_first = head(remote, "dev").id
    out = ok(run(example_repo, remote, "2026-11-30T10:20:00Z", "rollback", "--env", "dev",
                 "--reason", "three tills crash too", "--push"))
    assert out.splitlines()[0].startswith(f"rollback dev: {second[:7]} → {first[:7]}")
    assert meta(remote, "dev")["holds"] == {
        third: {"reason": "rolled back: four tills crash", "of": str(published)},
        second: {"reason": "rolled back: three tills crash too", "of": str(after_first)}}
    for source in (third, second):
        again = run(example_repo, remote, "2026-11-30T10:30:00Z", "publish", "--source", source,
                    "--push")
        assert again.code == 4, again.out + again.err
        assert f"{source[:7]} is held (on dev: rolled back: " in again.err


def test_racing_local_publishers_lose_no_commit(example_repo: pygit2.Repository,
                                                tmp_path: Path) -> None:
    """Two publishes into one repository's local env/dev, no remote: the first reads the
    (absent) branch and is stopped while it renders; the second publishes another source
    meanwhile. The first's compare-and-swap on the local ref fails, it builds again on the
    second's commit and lands on top of it: both commits are on the branch."""
    first = str(example_repo.head.target)
    second = pop_change(example_repo)
    cold = tmp_path / "cold-cache"  # the first renders for real, so it runs helm
    env = {"HYDRATE_NOW": T0, "HYDRATE_CACHE_DIR": str(cold)}
    with clirun.paused("--repo", example_repo.workdir, "publish", "--env", "dev", "--source",
                       first, env=env, event="subprocess.Popen", needle=" template ") as slow:
        fast = hydrate("--repo", example_repo.workdir, "publish", "--env", "dev", "--source",
                       second, env={"HYDRATE_NOW": "2026-11-30T08:01:00Z"})
        assert fast.code == 0, fast.err
        overtaken = example_repo.references["refs/heads/env/dev"].target
        late = slow.resume()
    assert late.code == 0, late.err
    landed = example_repo.revparse_single("env/dev").peel(pygit2.Commit)
    assert [p.id for p in landed.parents] == [overtaken]
    assert f"Hydrate-Source-Commit: {first}" in landed.message
    assert f"Hydrate-Source-Commit: {second}" in example_repo[overtaken].message
