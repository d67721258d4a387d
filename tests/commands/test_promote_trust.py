"""The contract of promotion, tried as a hostile operator would: evidence judged on its
timeline, holds that hold everywhere, waves recomputed, rollbacks that empty nothing.
The real CLI, real git with a bare repository as the remote, a fixed clock."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pygit2
import pytest

from tests.commands.test_promote import T0, _waves, gate_lines, head, meta, ok, promoter_note, run, to_staging
from tests.conftest import commit_all, hydrate, replace_in

WHO = pygit2.Signature("someone", "someone@example.com")


def to_prod_canary(repo: pygit2.Repository, remote: pygit2.Repository) -> str:
    """HEAD published to dev, promoted to staging, checked there a day later and promoted
    to prod's canary (2026-12-01T09:00Z); its source."""
    source = to_staging(repo, remote)
    ok(run(repo, remote, "2026-12-01T09:00:00Z", "verify", "--env", "staging", "--check",
           "smoke", "--state", "success", "--push"))
    ok(run(repo, remote, "2026-12-01T09:00:00Z", "promote", "--to", "prod", "--push"))
    return source


def pop_change(repo: pygit2.Repository, replicas: int = 3) -> str:
    """A change every environment renders (the POS replicas of the pop class)."""
    replace_in(Path(repo.workdir) / "fleet/classes/pop.yaml", "posReplicas: 2",
               f"posReplicas: {replicas}")
    return str(commit_all(repo, f"{replicas} POS replicas"))


def prod_only_change(repo: pygit2.Repository, text: str, subject: str) -> str:
    """A change only prod renders (a prod site's overlay): a no-op on dev."""
    overlay = Path(repo.workdir) / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    overlay.write_text(overlay.read_text() + text)
    return str(commit_all(repo, subject))


def note(remote: pygit2.Repository, commit: pygit2.Oid, *lines: str) -> None:
    """Lines added to the remote's note on `commit`, as anyone with push access could."""
    try:
        old = remote.lookup_note(str(commit), "refs/notes/hydrate").message
    except KeyError:
        old = ""
    remote.create_note(old + "".join(line + "\n" for line in lines), WHO, WHO, str(commit),
                       "refs/notes/hydrate", True)


def check_line(source: str, time: str, check: str = "smoke", env: str = "dev") -> str:
    return json.dumps({"kind": "check", "env": env, "source": source, "time": time,
                       "check": check, "state": "success"})


def test_a_source_held_on_from_is_not_promoted_and_its_soak_ended_at_the_rollback(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(1) Rolled back on dev after 10 minutes: `--source` of it is blocked by the hold,
    and its soak on dev is the 10 minutes it was live there, however late it is now."""
    to_staging(example_repo, remote)
    second = pop_change(example_repo)
    ok(run(example_repo, remote, "2026-11-30T10:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T10:05:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    ok(run(example_repo, remote, "2026-11-30T10:10:00Z", "rollback", "--env", "dev",
           "--reason", "tills freeze", "--push"))
    before = head(remote, "staging").id
    blocked = run(example_repo, remote, "2026-11-30T12:00:00Z", "promote", "--to", "staging",
                  "--source", second, "--push")
    assert blocked.code == 4, blocked.out + blocked.err
    found = gate_lines(blocked.out)
    assert found["hold"].startswith(f"BLOCKED {second[:7]} is held (on dev: rolled back: tills "
                                    "freeze)")
    assert found["soak"] == ("BLOCKED live on dev from 2026-11-30T10:00Z until "
                             "2026-11-30T10:10Z, 10m of 30m; it is no longer live there")
    assert head(remote, "staging").id == before


def test_a_held_source_is_not_published_again_without_force(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(2) After `rollback --env dev`, publishing the held source (still main's HEAD)
    refuses with exit 4; with --force --reason it lands and lifts the hold, recorded."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    second = pop_change(example_repo)
    ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T09:10:00Z", "rollback", "--env", "dev",
           "--reason", "tills freeze", "--push"))
    rolled = head(remote, "dev").id
    again = run(example_repo, remote, "2026-11-30T09:20:00Z", "publish", "--push")
    assert again.code == 4, again.out + again.err
    assert again.err.strip() == (
        f"hydrate: error: {second[:7]} is held (on dev: rolled back: tills freeze): publishing "
        "it needs --force --reason TEXT (recorded; it lifts the hold), or lift the hold "
        f"first: hydrate hold --release {second[:12]} --env dev --reason TEXT")
    assert head(remote, "dev").id == rolled
    ok(run(example_repo, remote, "2026-11-30T09:30:00Z", "publish", "--push", "--force",
           "--reason", "vendor fixed the tills"))
    landed = head(remote, "dev")
    assert f"Hydrate-Hold-Released: {second} on dev: vendor fixed the tills" in landed.message
    assert "holds" not in meta(remote, "dev")
    assert "hold on" not in ok(run(example_repo, remote, "2026-11-30T09:31:00Z", "status"))


def test_in_pull_request_mode_a_wave_soaks_from_its_merge(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(3) The canary's commit is built at 09:00 on env/prod-next and merged at 12:00:
    the next wave's soak counts from the merge."""
    replace_in(Path(example_repo.workdir) / "fleet/environments.yaml", "    soak: 24h\n",
               "    soak: 24h\n    pullRequest: true\n")
    commit_all(example_repo, "Prod through pull requests")
    ok(run(example_repo, remote, T0, "publish", "--env", "prod", "--push", "--force",
           "--reason", "bootstrap"))
    pop_change(example_repo)
    source = to_prod_canary(example_repo, remote)
    nxt, base = head(remote, "prod-next"), head(remote, "prod")
    merged_at = pygit2.Signature("GitHub", "noreply@github.com", 1_796_126_400, 0)  # 12:00Z
    merge = remote.create_commit("refs/heads/env/prod", merged_at, merged_at,
                                 "Merge pull request #7 from env/prod-next", nxt.tree_id,
                                 [base.id, nxt.id])
    assert remote[merge].peel(pygit2.Commit).commit_time == 1_796_126_400
    ok(run(example_repo, remote, "2026-12-01T12:10:00Z", "verify", "--env", "prod", "--wave",
           "canary", "--check", "smoke", "--state", "success", "--push"))
    early = run(example_repo, remote, "2026-12-01T13:00:00Z", "promote", "--to", "prod", "--push")
    assert early.code == 4, early.out + early.err
    assert gate_lines(early.out)["soak"] == (
        "BLOCKED live on prod wave canary since 2026-12-01T12:00Z, 1h of 2h; passes at "
        "2026-12-01T14:00Z")
    assert gate_lines(early.out)["checks"] == "pass smoke: success at 2026-12-01T12:10Z"
    assert source in nxt.message


def test_a_check_counts_only_if_recorded_after_the_source_landed(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(4) `verify` refuses a source that is not live; a record for it written before it
    landed (by hand, or by an older hydrate) opens nothing."""
    first = str(example_repo.head.target)
    ok(run(example_repo, remote, T0, "publish", "--push"))
    second = pop_change(example_repo)
    early = run(example_repo, remote, "2026-11-30T08:05:00Z", "verify", "--env", "dev",
                "--source", second, "--check", "smoke", "--state", "success", "--push")
    assert early.code == 1, early.out + early.err
    assert early.err.strip() == (f"hydrate: error: --source {second[:7]} is not live on dev; "
                                 f"{first[:7]} is live there")
    note(remote, head(remote, "dev").id, check_line(second, "2026-11-30T08:05:00Z"))
    ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "publish", "--push"))
    blocked = run(example_repo, remote, "2026-11-30T09:40:00Z", "promote", "--to", "staging")
    assert blocked.code == 4, blocked.out + blocked.err
    assert gate_lines(blocked.out)["checks"].startswith(
        f"BLOCKED smoke: not recorded for {second[:7]} on dev")


def test_with_a_remote_only_the_remotes_evidence_counts(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(5) The remote refuses notes from this writer (a pre-receive hook): the refused
    record is nowhere, and a record kept only locally opens no gate of a promotion that
    reads the remote."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    hook = Path(remote.path) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n  case $ref in refs/notes/*)"
                    " echo 'checks are recorded by CI only' >&2; exit 1;; esac\ndone\n")
    hook.chmod(0o755)
    refused = run(example_repo, remote, "2026-11-30T08:40:00Z", "verify", "--env", "dev",
                  "--check", "smoke", "--state", "success", "--push")
    assert refused.code == 1, refused.out + refused.err
    assert refused.err.strip().endswith("refused the push to refs/notes/hydrate (pre-receive "
                                        "hook declined); the remote said: checks are "
                                        "recorded by CI only")
    assert "refs/notes/hydrate" not in example_repo.references
    kept = run(example_repo, remote, "2026-11-30T08:41:00Z", "verify", "--env", "dev",
               "--check", "smoke", "--state", "success")
    assert kept.code == 0, kept.err
    assert "the record is kept in this repository only" in kept.err
    blocked = run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging",
                  "--push")
    assert blocked.code == 4, blocked.out + blocked.err
    assert gate_lines(blocked.out)["checks"].startswith("BLOCKED smoke: not recorded")
    assert "refs/heads/env/staging" not in remote.references


def test_waves_are_recomputed_and_the_rollout_is_pending_while_a_cluster_lacks_it(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(6) Canary has run; a cluster of the last wave moves into canary: status names it
    as pending, and the next step (early) takes it along. `verify --wave` of a wave that
    has not landed is refused."""
    source = to_prod_canary(example_repo, remote)
    not_yet = run(example_repo, remote, "2026-12-01T09:05:00Z", "verify", "--env", "prod",
                  "--wave", "early", "--check", "smoke", "--state", "success")
    assert not_yet.code == 1
    assert not_yet.err.strip() == (
        f"hydrate: error: --wave early: {source[:7]}'s wave early has not landed on prod; a "
        f"rollout of {source[:7]} is there (waves landed: canary)")
    prod = sorted(p.stem for p in (Path(example_repo.workdir) / "fleet/clusters").glob("*.yaml")
                  if "environment: prod" in p.read_text())
    canary, early, rest = _waves(prod)
    moved = rest[0]
    replace_in(Path(example_repo.workdir) / "fleet/environments.yaml",
               "clusters: [store-0001]", f"clusters: [store-0001, {moved}]")
    commit_all(example_repo, f"{moved} joins the canary")
    status = ok(run(example_repo, remote, "2026-12-01T09:10:00Z", "status"))
    assert f"pending: {len(prod) - 1} clusters without {source[:7]} (" in status
    assert moved in status.split("pending: ")[1].splitlines()[0]
    ok(run(example_repo, remote, "2026-12-01T11:05:00Z", "verify", "--env", "prod", "--wave",
           "canary", "--check", "smoke", "--state", "success", "--push"))
    out = ok(run(example_repo, remote, "2026-12-01T11:10:00Z", "promote", "--to", "prod",
                 "--push"))
    assert out.splitlines()[0] == f"promote {source[:7]} staging → prod, wave early (2 of 3)"
    recorded = meta(remote, "prod")
    assert sorted(recorded["clusters"]) == sorted([*canary, *early, moved])
    assert recorded["clusters"][moved]["source"] == source
    assert recorded["rollout"]["waves"][-1]["clusters"] == sorted([*early, moved])
    assert recorded["rollout"]["pending"] is True


def test_a_forced_promotion_lifts_the_hold_and_later_steps_need_only_their_gates(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(7) Held on staging by a rollback; `--force --reason` promotes it there again and
    lifts the hold (in the commit, the ledger and history); promoting it on to prod then
    has no hold gate."""
    to_staging(example_repo, remote)
    second = pop_change(example_repo)
    ok(run(example_repo, remote, "2026-11-30T10:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T10:05:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    ok(run(example_repo, remote, "2026-11-30T11:00:00Z", "promote", "--to", "staging", "--push"))
    promoted = head(remote, "staging").id
    ok(run(example_repo, remote, "2026-11-30T11:30:00Z", "rollback", "--env", "staging",
           "--reason", "tills freeze", "--push"))
    forced = ok(run(example_repo, remote, "2026-11-30T12:00:00Z", "promote", "--to", "staging",
                    "--push", "--force", "--reason", "fixed by the till vendor"))
    assert f"lifted the hold on {second[:7]} on staging (--force --reason)" in forced
    landed = head(remote, "staging")
    assert (f"Hydrate-Hold-Released: {second} on staging: fixed by the till vendor"
            in landed.message)
    recorded = meta(remote, "staging")
    assert "holds" not in recorded
    assert recorded["released"] == [{"env": "staging", "source": second, "of": str(promoted),
                                     "reason": "fixed by the till vendor"}]
    history = json.loads(ok(run(example_repo, remote, "2026-11-30T12:05:00Z", "history",
                                "--env", "staging", "--format", "json")))
    assert history[0]["released"] == [f"{second} on staging: fixed by the till vendor"]
    assert history[0]["bypassReason"] == "fixed by the till vendor"
    assert (history[1]["kind"], history[1]["reason"]) == ("rollback", "tills freeze")
    text = ok(run(example_repo, remote, "2026-11-30T12:05:00Z", "history", "--env", "staging"))
    assert "reason: tills freeze" in text
    assert "bypassed: fixed by the till vendor" in text
    ok(run(example_repo, remote, "2026-12-01T12:00:00Z", "verify", "--env", "staging",
           "--check", "smoke", "--state", "success", "--push"))
    prod = ok(run(example_repo, remote, "2026-12-01T12:05:00Z", "promote", "--to", "prod",
                  "--push"))
    assert set(gate_lines(prod)) == {"soak", "checks", "window", "freeze"}
    assert all(verdict.startswith("pass") for verdict in gate_lines(prod).values())


def test_a_hold_is_lifted_without_promoting(example_repo: pygit2.Repository,
                                            remote: pygit2.Repository) -> None:
    """(7) `hydrate hold --release SOURCE --env E --reason`: a commit that changes only the
    ledger; the source may be published again."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    second = pop_change(example_repo)
    ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T09:10:00Z", "rollback", "--env", "dev",
           "--reason", "tills freeze", "--push"))
    rolled = head(remote, "dev")
    out = ok(run(example_repo, remote, "2026-11-30T09:20:00Z", "hold", second[:10], "--env",
                 "dev", "--release", "--reason", "false alarm", "--push"))
    assert out.strip().endswith(f"lifted the holds on {second[:7]} (on dev: rolled back: tills "
                                "freeze)")
    released = head(remote, "dev")
    assert released.parents[0].id == rolled.id
    assert released.tree["clusters"].id == rolled.tree["clusters"].id
    assert meta(remote, "dev")["kind"] == "release"
    assert "Hydrate-Reason: false alarm" in released.message
    ok(run(example_repo, remote, "2026-11-30T09:30:00Z", "publish", "--push"))
    assert {c["source"] for c in meta(remote, "dev")["clusters"].values()} == {second}


def test_a_malformed_note_is_ignored_with_a_warning_never_a_crash(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(8) A check whose time has no offset (a naive time, which cannot be compared with
    the clock) is ignored with a warning naming the note; the good line still counts."""
    source = str(example_repo.head.target)
    ok(run(example_repo, remote, T0, "publish", "--push"))
    dev = head(remote, "dev").id
    note(remote, dev, check_line(source, "2026-11-30T08:40:00"), "{not json",
         check_line(source, "2026-11-30T08:41:00Z"))
    out = run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging",
              "--push")
    assert out.code == 0, out.out + out.err
    assert gate_lines(out.out)["checks"] == "pass smoke: success at 2026-11-30T08:41Z"
    warnings = [line for line in out.err.splitlines() if line.startswith("hydrate: warning:")]
    assert len(warnings) == 2, out.err
    assert re.fullmatch(rf"hydrate: warning: refs/hydrate/notes/\w+/hydrate: the note on "
                        rf"{str(dev)[:7]}, line 1, is ignored \(time '2026-11-30T08:40:00' has "
                        r"no offset\): .*", warnings[0])
    assert "line 2, is ignored (not JSON): {not json" in warnings[1]


def test_what_a_no_op_publish_made_live_follows_the_order_records_were_written(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(9) Two publishes that change nothing on dev; the second's clock is an hour behind
    the first's. The second was written last: it is what is live, since its own time."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    second = prod_only_change(example_repo, "bridge:\n  logLevel: debug\n", "Debug the bridge")
    ok(run(example_repo, remote, "2026-11-30T12:00:00Z", "publish", "--push"))
    third = prod_only_change(example_repo, "upstreamTimeout: 30s\n", "Longer upstream timeout")
    assert "is live on it from now" in ok(run(example_repo, remote, "2026-11-30T11:00:00Z",
                                              "publish", "--push"))
    dry = run(example_repo, remote, "2026-11-30T12:30:00Z", "promote", "--to", "staging",
              "--dry-run")
    assert dry.code == 4, dry.out + dry.err
    assert dry.out.splitlines()[0] == f"promote {third[:7]} dev → staging"
    assert gate_lines(dry.out)["soak"].startswith("pass live on dev since 2026-11-30T11:00Z")
    assert second != third


def test_status_shows_the_source_a_no_op_publish_made_live(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(10) Not the head's source, and not "main is 1 commit ahead"."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    dev = head(remote, "dev").id
    second = prod_only_change(example_repo, "bridge:\n  logLevel: debug\n", "Debug the bridge")
    ok(run(example_repo, remote, "2026-11-30T12:00:00Z", "publish", "--push"))
    lines = ok(run(example_repo, remote, "2026-11-30T12:05:00Z", "status")).splitlines()
    assert lines[0].split()[:3] == ["dev", "env/dev", second[:7]]
    assert lines[0].endswith("Debug the bridge")
    assert lines[1].endswith("4 clusters (argocd); up to date")
    assert lines[2].strip() == (f"{second[:7]} is live since 2026-11-30T12:00:00Z: a publish "
                                f"that changed nothing made it live (a note on {str(dev)[:7]})")


def test_a_hold_commit_leaves_live_what_a_no_op_publish_made_live(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(10b) A hold (or its release) is a commit that copies the head's ledger: its
    clusters still name the source rendered there, not the one a later publish that
    changed nothing made live with a note. The hold changes no manifest, so it changes
    nothing about what is live, nor since when."""
    first = str(example_repo.head.target)
    ok(run(example_repo, remote, T0, "publish", "--push"))
    second = prod_only_change(example_repo, "bridge:\n  logLevel: debug\n", "Debug the bridge")
    ok(run(example_repo, remote, "2026-11-30T12:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T12:10:00Z", "hold", first[:10], "--env", "dev",
           "--reason", "bad canary", "--push"))
    assert meta(remote, "dev")["kind"] == "hold"
    assert promoter_note(remote.path, head(remote, "dev").id) == second
    lines = ok(run(example_repo, remote, "2026-11-30T12:20:00Z", "status")).splitlines()
    assert lines[0].split()[:3] == ["dev", "env/dev", second[:7]]
    assert f"{second[:7]} is live since 2026-11-30T12:00:00Z" in lines[2]
    dry = run(example_repo, remote, "2026-11-30T13:00:00Z", "promote", "--to", "staging",
              "--dry-run")
    assert dry.out.splitlines()[0] == f"promote {second[:7]} dev → staging", dry.out + dry.err
    assert gate_lines(dry.out)["soak"].startswith("pass live on dev since 2026-11-30T12:00Z")


@pytest.mark.parametrize("remove_added", [False, True])
def test_a_rollback_empties_no_cluster_that_is_still_in_the_inventory(
        example_repo: pygit2.Repository, remote: pygit2.Repository, remove_added: bool) -> None:
    """(12) store-lab-2 was added after the source rolled back to: it keeps its tree (unless
    --remove-added), and the report names what the rollback did."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    clusters = Path(example_repo.workdir) / "fleet/clusters"
    (clusters / "store-lab-2.yaml").write_text(
        (clusters / "store-lab.yaml").read_text().replace("name: store-lab", "name: store-lab-2"))
    second = str(commit_all(example_repo, "A second lab store"))
    ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "publish", "--push"))
    added = head(remote, "dev").tree["clusters/store-lab-2"].id
    extra = ("--remove-added",) if remove_added else ()
    out = ok(run(example_repo, remote, "2026-11-30T09:30:00Z", "rollback", "--env", "dev",
                 "--reason", "lab outage", *extra, "--push"))
    on_branch = {e.name: e.id for e in head(remote, "dev").tree["clusters"]}
    if remove_added:
        assert "store-lab-2" not in on_branch
        assert "  removed: store-lab-2" in out.splitlines()
    else:
        assert on_branch["store-lab-2"] == added
        assert meta(remote, "dev")["clusters"]["store-lab-2"]["source"] == second
        assert ("  kept (not in the restored commit; --remove-added removes them): store-lab-2"
                in out.splitlines())
        assert "kept (not in the restored commit): store-lab-2" in head(remote, "dev").message
    assert len(on_branch) == (4 if remove_added else 5)


def test_rollback_to_an_unknown_source_lists_each_earlier_one_once(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    first = str(example_repo.head.target)
    ok(run(example_repo, remote, T0, "publish", "--push"))
    second = pop_change(example_repo)
    ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T09:10:00Z", "rollback", "--env", "dev",
           "--reason", "tills freeze", "--push"))
    replace_in(Path(example_repo.workdir) / "fleet/classes/pop.yaml", "posReplicas: 3",
               "posReplicas: 4")
    commit_all(example_repo, "4 POS replicas")
    ok(run(example_repo, remote, "2026-11-30T09:20:00Z", "publish", "--push"))
    wrong = run(example_repo, remote, "2026-11-30T09:30:00Z", "rollback", "--env", "dev",
                "--to", "0000000", "--reason", "x")
    assert wrong.code == 1
    assert wrong.err.strip().endswith(f"(earlier sources there: {first[:7]}, {second[:7]})")


@pytest.mark.parametrize("args", [("promote", "--to", "staging", "--force"),
                                  ("publish", "--env", "staging", "--force")])
def test_force_without_a_reason_is_a_usage_error(example_repo: pygit2.Repository,
                                                 remote: pygit2.Repository,
                                                 args: tuple[str, ...]) -> None:
    result = run(example_repo, remote, T0, *args)
    assert result.code == 2, result.out + result.err
    assert "--force" in result.err
    assert "needs --reason TEXT" in result.err


@pytest.mark.parametrize("now", ["2026-11-30T08:00Z", "2026-11-30 08:00:00Z",
                                 "20261130T080000Z", "2026-11-30"])
def test_hydrate_now_is_rfc_3339_only(example_repo: pygit2.Repository,
                                      remote: pygit2.Repository, now: str) -> None:
    result = run(example_repo, remote, now, "publish", "--push")
    assert result.code == 1, result.out + result.err
    assert result.err.strip() == (f"hydrate: error: HYDRATE_NOW: {now!r} is not an RFC 3339 "
                                  "time (e.g. 2026-11-30T09:00:00Z or 2026-11-30T10:00:00+01:00)")
    assert list(remote.references) == []


def _footprint(repo: pygit2.Repository) -> tuple[list[str], dict[str, str]]:
    """Every object file and every ref of a repository."""
    objects = sorted(str(p.relative_to(repo.path)) for p in (Path(repo.path) / "objects").rglob("*")
                     if p.is_file())
    refs = {name: str(repo.references[name].target) for name in repo.references}
    return objects, refs


@pytest.mark.parametrize("with_remote", [False, True])
def test_a_dry_run_writes_nothing_anywhere(example_repo: pygit2.Repository,
                                           remote: pygit2.Repository, with_remote: bool) -> None:
    """No object, no ref, no note moved: in the local repository and on the remote."""
    where = ("--remote", remote.path) if with_remote else ()

    def cli(now: str, *args: str) -> str:
        return ok(hydrate("--repo", example_repo.workdir, *args, *where,
                          env={"HYDRATE_NOW": now}))

    cli(T0, "publish", *(("--push",) if with_remote else ()))
    cli("2026-11-30T08:40:00Z", "verify", "--env", "dev", "--check", "smoke", "--state",
        "success", *(("--push",) if with_remote else ()))
    if with_remote:
        cli("2026-11-30T08:41:00Z", "status")  # fetches what a dry run would fetch
    before, remote_before = _footprint(example_repo), _footprint(remote)
    out = cli("2026-11-30T08:45:00Z", "promote", "--to", "staging", "--dry-run")
    assert "dry run: " in out
    assert _footprint(example_repo) == before
    assert _footprint(remote) == remote_before


def test_a_waves_check_counts_only_after_that_wave_landed(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """(4) The canary landed, passed its check, and was rolled back; promoted again by
    force, it has landed anew: the old check opens nothing for the next wave."""
    ok(run(example_repo, remote, "2026-11-30T07:00:00Z", "publish", "--env", "prod", "--push",
           "--force", "--reason", "bootstrap"))
    pop_change(example_repo)
    source = to_prod_canary(example_repo, remote)
    ok(run(example_repo, remote, "2026-12-01T11:05:00Z", "verify", "--env", "prod", "--wave",
           "canary", "--check", "smoke", "--state", "success", "--push"))
    ok(run(example_repo, remote, "2026-12-01T11:10:00Z", "rollback", "--env", "prod",
           "--reason", "canary stores slow", "--push"))
    again = ok(run(example_repo, remote, "2026-12-01T11:20:00Z", "promote", "--to", "prod",
                   "--push", "--force", "--reason", "canary again"))
    assert again.splitlines()[0] == f"promote {source[:7]} staging → prod, wave canary (1 of 3)"
    later = run(example_repo, remote, "2026-12-01T14:00:00Z", "promote", "--to", "prod", "--push")
    assert later.code == 4, later.out + later.err
    assert gate_lines(later.out)["soak"].startswith("pass live on prod wave canary since "
                                                    "2026-12-01T11:20Z")
    assert gate_lines(later.out)["checks"].startswith(
        f"BLOCKED smoke: not recorded for {source[:7]} on prod wave canary")


@pytest.mark.parametrize(("ledger", "why"), [
    (b"{", "not JSON"),
    (b'{"schemaVersion": 9}', "schemaVersion 9 is newer than this hydrate reads (2); upgrade "
                              "hydrate"),
])
def test_a_ledger_hydrate_cannot_read_is_named_never_guessed_at(
        example_repo: pygit2.Repository, remote: pygit2.Repository, ledger: bytes,
        why: str) -> None:
    ok(run(example_repo, remote, T0, "publish", "--push"))
    ref = remote.references["refs/heads/env/dev"]
    tip = remote[ref.target].peel(pygit2.Commit)
    folder = remote.TreeBuilder(tip.tree[".hydrate"])
    folder.insert("metadata.json", remote.create_blob(ledger), pygit2.enums.FileMode.BLOB)
    top = remote.TreeBuilder(tip.tree)
    top.insert(".hydrate", folder.write(), pygit2.enums.FileMode.TREE)
    edited = remote.create_commit(None, WHO, WHO, "edited by hand", top.write(), [tip.id])
    ref.set_target(edited)
    promoted = run(example_repo, remote, "2026-11-30T09:00:00Z", "promote", "--to", "staging")
    assert promoted.code == 1, promoted.out + promoted.err
    assert promoted.err.startswith(
        f"hydrate: error: environment dev: branch env/dev is not a hydrate environment branch "
        f"(its head {str(edited)[:7]} has a .hydrate/metadata.json hydrate cannot read ")
    assert why in promoted.err
    assert promoted.err.rstrip().endswith("nothing can be promoted from it")
    status = ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "status"))
    assert why in status.splitlines()[0]
