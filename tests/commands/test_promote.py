"""`hydrate promote`, `verify` and `rollback` end to end: the real CLI, real git with a
bare repository as the remote, and a fixed clock (HYDRATE_NOW)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import subprocess
from pathlib import Path
from typing import Any

import pygit2
import pytest

from tests import clirun
from tests.conftest import Result, branch_files, commit_all, hydrate, replace_in

T0 = "2026-11-30T08:00:00Z"  # a Monday


def run(repo: pygit2.Repository, remote: pygit2.Repository, now: str, *args: str) -> Result:
    """`hydrate ARGS --remote REMOTE` at the time `now`."""
    return hydrate("--repo", repo.workdir, *args, "--remote", remote.path,
                   env={"HYDRATE_NOW": now})


def ok(result: Result) -> str:
    assert result.code == 0, result.out + result.err
    return result.out


def gate_lines(out: str) -> dict[str, str]:
    """`gate → verdict evidence` from promote's report."""
    found = {}
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0] in {"soak", "checks", "window", "freeze", "hold"}:
            found[parts[0]] = f"{parts[1]} {parts[2]}"
    return found


def head(remote: pygit2.Repository, env: str) -> pygit2.Commit:
    return remote.revparse_single(f"env/{env}").peel(pygit2.Commit)


def meta(remote: pygit2.Repository, env: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(branch_files(remote, f"env/{env}")[".hydrate/metadata.json"])
    return data


def to_staging(repo: pygit2.Repository, remote: pygit2.Repository) -> str:
    """Publish HEAD to dev at T0, record smoke, promote to staging at T0+45m."""
    ok(run(repo, remote, T0, "publish", "--push"))
    ok(run(repo, remote, "2026-11-30T08:40:00Z", "verify", "--env", "dev", "--check", "smoke",
           "--state", "success", "--push"))
    ok(run(repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging", "--push"))
    return str(repo.head.target)


def test_a_promotion_waits_for_its_gates_then_lands(example_repo: pygit2.Repository,
                                                   remote: pygit2.Repository) -> None:
    source = str(example_repo.head.target)
    ok(run(example_repo, remote, T0, "publish", "--push"))
    early = run(example_repo, remote, "2026-11-30T08:10:00Z", "promote", "--to", "staging",
                "--push")
    assert early.code == 4, early.err
    assert gate_lines(early.out) == {
        "soak": "BLOCKED live on dev since 2026-11-30T08:00Z, 10m of 30m; passes at "
                "2026-11-30T08:30Z",
        "checks": f"BLOCKED smoke: not recorded for {source[:7]} on dev (hydrate verify --env "
                  "dev --check smoke --state success)"}
    assert early.out.splitlines()[-1] == "blocked: soak, checks"
    assert "refs/heads/env/staging" not in remote.references
    said = ok(run(example_repo, remote, "2026-11-30T08:40:00Z", "verify", "--env", "dev",
                  "--check", "smoke", "--state", "success", "--url", "https://ci/1", "--push"))
    assert said.startswith(f"dev: smoke success for {source[:7]} at 2026-11-30T08:40:00Z")
    out = ok(run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging",
                 "--push"))
    assert gate_lines(out) == {
        "soak": "pass live on dev since 2026-11-30T08:00Z, 45m of 30m",
        "checks": "pass smoke: success at 2026-11-30T08:40Z https://ci/1"}
    commit = head(remote, "staging")
    trailers = [line for line in commit.message.splitlines() if line.startswith("Hydrate-")]
    assert trailers == [
        f"Hydrate-Source-Commit: {source}", "Hydrate-Environment: staging",
        f"Hydrate-Promoted-From: dev {head(remote, 'dev').id}",
        "Hydrate-Gate: soak passed live on dev since 2026-11-30T08:00Z, 45m of 30m",
        "Hydrate-Gate: checks passed smoke: success at 2026-11-30T08:40Z https://ci/1"]
    assert commit.committer.time == int(dt.datetime.fromisoformat("2026-11-30T08:45:00+00:00")
                                        .timestamp())  # HYDRATE_NOW, not the wall clock
    recorded = meta(remote, "staging")
    assert {e["source"] for e in recorded["clusters"].values()} == {source}
    assert recorded["kind"] == "promote"
    hydrator = json.loads(branch_files(remote, "env/staging")["hydrator.metadata"])
    assert hydrator["drySha"] == source
    again = ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "promote", "--to", "staging",
                   "--push"))
    assert again.splitlines()[-1].strip() == (f"nothing to promote: {source[:12]} is already live "
                                              "on staging")


def test_dry_run_and_a_source_never_live(example_repo: pygit2.Repository,
                                         remote: pygit2.Repository) -> None:
    to_staging(example_repo, remote)
    before = head(remote, "staging").id
    replace_in(Path(example_repo.workdir) / "fleet/classes/pop.yaml", "posReplicas: 2",
               "posReplicas: 3")
    newer = str(commit_all(example_repo, "Three POS replicas"))
    never = run(example_repo, remote, "2026-11-30T10:00:00Z", "promote", "--to", "staging",
                "--source", newer)
    assert never.code == 1
    assert never.err.strip() == (f"hydrate: error: --source {newer[:12]} was never live on dev "
                                 "(env/dev): only a source live on every cluster of dev can be "
                                 "promoted to staging")
    ok(run(example_repo, remote, "2026-11-30T10:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T10:05:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    dry = ok(run(example_repo, remote, "2026-11-30T11:00:00Z", "promote", "--to", "staging",
                 "--dry-run"))
    assert dry.splitlines()[-1].strip().startswith(
        "dry run: 1 cluster changed in 1 group, 2 unchanged; objects ")  # store-0006's POS
    assert head(remote, "staging").id == before
    with pytest.raises(KeyError):  # a dry run records nothing (no live note either)
        remote.lookup_note(str(before), "refs/notes/hydrate")


def test_publish_leaves_promoted_environments_to_promote(example_repo: pygit2.Repository,
                                                        remote: pygit2.Repository) -> None:
    out = ok(run(example_repo, remote, T0, "publish", "--all", "--push"))
    assert ("staging    env/staging: fed by promotion from dev (hydrate promote --to staging); "
            "not published") in out
    assert sorted(remote.references) == ["refs/heads/env/dev", "refs/notes/hydrator.metadata"]
    refused = run(example_repo, remote, T0, "publish", "--env", "prod", "--push")
    assert refused.code == 1
    assert refused.err.strip() == (
        "hydrate: error: environment prod is fed by promotion from staging: run `hydrate "
        "promote --to prod` (its gates apply), or publish --force --reason TEXT to bypass "
        "them (recorded)")
    forced = run(example_repo, remote, T0, "publish", "--env", "prod", "--push", "--force",
                 "--reason", "bootstrap of a new fleet")
    assert forced.code == 0, forced.err
    commit = head(remote, "prod")
    assert "Hydrate-Bypass-Reason: bootstrap of a new fleet" in commit.message
    assert meta(remote, "prod")["kind"] == "forced"


def _waves(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """The example's prod waves, computed here: store-0001; ceil(20 % of 11) of the rest by
    the SHA-256 of the name; the rest."""
    rest = sorted(n for n in names if n != "store-0001")
    early = sorted(sorted(rest, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
                   [:math.ceil(len(names) * 20 / 100)])
    return ["store-0001"], early, [n for n in rest if n not in early]


def test_prod_rolls_out_wave_by_wave_then_rolls_back(example_repo: pygit2.Repository,
                                                     remote: pygit2.Repository) -> None:
    source = to_staging(example_repo, remote)
    ok(run(example_repo, remote, "2026-12-01T09:00:00Z", "verify", "--env", "staging",
           "--check", "smoke", "--state", "success", "--push"))
    prod = sorted(p.stem for p in (Path(example_repo.workdir) / "fleet/clusters").glob("*.yaml")
                  if "environment: prod" in p.read_text())
    canary, early, rest = _waves(prod)
    first = ok(run(example_repo, remote, "2026-12-01T09:00:00Z", "promote", "--to", "prod",
                   "--push"))
    assert first.splitlines()[0] == f"promote {source[:7]} staging → prod, wave canary (1 of 3)"
    assert gate_lines(first)["window"].startswith("pass inside mon,tue,wed,thu 08:00-16:00 "
                                                  "Europe/Berlin")
    on_branch = sorted(e.name for e in head(remote, "prod").tree["clusters"])
    assert on_branch == canary
    status = ok(run(example_repo, remote, "2026-12-01T09:10:00Z", "status"))
    assert (f"rollout of {source[:7]}: wave 1 of 3 (canary, 1 cluster) since "
            "2026-12-01T09:00:00Z; next: hydrate promote --to prod") in status
    assert ("wave early waits for 2h after 2026-12-01T09:00:00Z, smoke recorded for wave "
            "canary") in status
    blocked = run(example_repo, remote, "2026-12-01T10:00:00Z", "promote", "--to", "prod",
                  "--push")
    assert blocked.code == 4
    assert gate_lines(blocked.out)["soak"] == (
        "BLOCKED live on prod wave canary since 2026-12-01T09:00Z, 1h of 2h; passes at "
        "2026-12-01T11:00Z")
    ok(run(example_repo, remote, "2026-12-01T11:05:00Z", "verify", "--env", "prod", "--wave",
           "canary", "--check", "smoke", "--state", "success", "--push"))
    ok(run(example_repo, remote, "2026-12-01T11:10:00Z", "promote", "--to", "prod", "--push"))
    assert sorted(e.name for e in head(remote, "prod").tree["clusters"]) == sorted(
        canary + early)
    assert "Hydrate-Wave: early (2 of 3)" in head(remote, "prod").message
    ok(run(example_repo, remote, "2026-12-01T15:20:00Z", "verify", "--env", "prod", "--wave",
           "early", "--check", "smoke", "--state", "success", "--push"))
    late = run(example_repo, remote, "2026-12-01T15:30:00Z", "promote", "--to", "prod", "--push")
    assert late.code == 4  # 16:30 in Berlin: outside the window
    assert gate_lines(late.out)["window"].endswith("next opens 2026-12-02T07:00Z")
    ok(run(example_repo, remote, "2026-12-02T07:00:00Z", "promote", "--to", "prod", "--push"))
    assert sorted(e.name for e in head(remote, "prod").tree["clusters"]) == prod == sorted(
        canary + early + rest)
    assert "rollout" not in ok(run(example_repo, remote, "2026-12-02T07:05:00Z", "status"))
    assert meta(remote, "prod")["rollout"]["pending"] is False


def test_rollback_restores_the_exact_trees_and_holds_the_source(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    first = to_staging(example_repo, remote)
    first_trees = head(remote, "staging").tree["clusters"].id
    replace_in(Path(example_repo.workdir) / "fleet/classes/pop.yaml", "posReplicas: 2",
               "posReplicas: 3")
    second = str(commit_all(example_repo, "Three POS replicas"))
    ok(run(example_repo, remote, "2026-11-30T10:00:00Z", "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T10:05:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    ok(run(example_repo, remote, "2026-11-30T11:00:00Z", "promote", "--to", "staging", "--push"))
    promoted = head(remote, "staging")
    assert promoted.tree["clusters"].id != first_trees
    out = ok(run(example_repo, remote, "2026-11-30T11:30:00Z", "rollback", "--env", "staging",
                 "--reason", "tills freeze on checkout", "--push"))
    assert out.splitlines()[0].startswith(f"rollback staging: {second[:7]} → {first[:7]}")
    back = head(remote, "staging")
    assert back.parents[0].id == promoted.id  # a new commit on top, never a force push
    assert back.tree["clusters"].id == first_trees  # the very trees, not a new render
    assert f"Hydrate-Rollback-Of: {promoted.id}" in back.message
    assert meta(remote, "staging")["holds"] == {second: {"reason": "rolled back: tills freeze "
                                                        "on checkout", "of": str(promoted.id)}}
    held = run(example_repo, remote, "2026-11-30T12:00:00Z", "promote", "--to", "staging",
               "--push")
    assert held.code == 4
    assert gate_lines(held.out)["hold"].startswith(f"BLOCKED {second[:7]} is held (on staging: "
                                                   "rolled back: tills freeze on checkout)")
    forced = ok(run(example_repo, remote, "2026-11-30T12:00:00Z", "promote", "--to", "staging",
                    "--push", "--force", "--reason", "fixed by the till vendor"))
    assert "bypassed" in gate_lines(forced)["hold"]
    message = head(remote, "staging").message
    assert "Hydrate-Bypass-Reason: fixed by the till vendor" in message
    assert "Hydrate-Gate: hold bypassed" in message


def test_a_publish_that_changes_nothing_makes_its_source_live(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """A change only prod renders (an overlay of a prod-only site) changes nothing on dev:
    its publish makes no commit but makes it live there, with a soak of its own."""
    to_staging(example_repo, remote)
    dev_head = head(remote, "dev").id
    overlay = Path(example_repo.workdir) / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    overlay.write_text(overlay.read_text() + "bridge:\n  logLevel: debug\n")
    change = str(commit_all(example_repo, "Debug the bridge in Hamburg"))
    out = ok(run(example_repo, remote, "2026-11-30T12:00:00Z", "publish", "--push"))
    assert "no change, no commit" in out
    assert f"{change[:7]} is live on it from now (a note on the head)" in out
    assert head(remote, "dev").id == dev_head
    early = run(example_repo, remote, "2026-11-30T12:10:00Z", "promote", "--to", "staging")
    assert early.code == 4
    assert gate_lines(early.out)["soak"] == ("BLOCKED live on dev since 2026-11-30T12:00Z, 10m "
                                             "of 30m; passes at 2026-11-30T12:30Z")
    assert gate_lines(early.out)["checks"].startswith(f"BLOCKED smoke: not recorded for "
                                                      f"{change[:7]} on dev")


def promoter_note(git_dir: str, commit: pygit2.Oid) -> str | None:
    """The drySha GitOps Promoter reads for `commit` in the repository `git_dir`, as it reads
    it (`git notes --ref=refs/notes/hydrator.metadata show`, the output parsed as JSON);
    None when there is no note."""
    shown = subprocess.run(["git", "--git-dir", git_dir, "notes", "--ref=refs/notes/hydrator.metadata",
                            "show", str(commit)], capture_output=True, text=True, check=False,
                           env={"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1",
                                "HOME": git_dir})
    if shown.returncode != 0:
        assert "no note found" in shown.stderr, shown.stderr
        return None
    body = json.loads(shown.stdout.strip())
    assert list(body) == ["drySha"]
    return str(body["drySha"])


def test_gitops_promoter_reads_the_source_of_every_head(example_repo: pygit2.Repository,
                                                        remote: pygit2.Repository) -> None:
    """Promoter takes a head's dry commit from its note under refs/notes/hydrator.metadata
    before its root file. Every commit hydrate lands carries one; a publish or promotion
    that changes nothing names the new source in the note of the head it leaves as it was
    (without it Promoter waits for a new head forever). A dry run writes none."""
    first = to_staging(example_repo, remote)
    dev, staging = head(remote, "dev"), head(remote, "staging")
    assert promoter_note(remote.path, dev.id) == first
    assert promoter_note(remote.path, staging.id) == first
    # A change only prod renders: dev and staging keep their heads; their notes name it.
    overlay = Path(example_repo.workdir) / "overlays/sites/hamburg-port/edge-gateway/values.yaml"
    overlay.write_text(overlay.read_text() + "bridge:\n  logLevel: debug\n")
    change = str(commit_all(example_repo, "Debug the bridge in Hamburg"))
    assert "no change, no commit" in ok(run(example_repo, remote, "2026-11-30T12:00:00Z",
                                            "publish", "--push"))
    assert head(remote, "dev").id == dev.id
    assert promoter_note(remote.path, dev.id) == change
    assert promoter_note(example_repo.path, dev.id) == change  # merged into the local notes
    ok(run(example_repo, remote, "2026-11-30T12:35:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    notes = remote.references["refs/notes/hydrator.metadata"].target
    local = example_repo.references["refs/notes/hydrator.metadata"].target
    ok(run(example_repo, remote, "2026-11-30T12:40:00Z", "promote", "--to", "staging",
           "--dry-run"))
    assert remote.references["refs/notes/hydrator.metadata"].target == notes
    assert example_repo.references["refs/notes/hydrator.metadata"].target == local
    promoted = ok(run(example_repo, remote, "2026-11-30T12:40:00Z", "promote", "--to",
                      "staging", "--push"))
    assert "no change: the render equals the branch" in promoted
    assert head(remote, "staging").id == staging.id
    assert promoter_note(remote.path, staging.id) == change
    # A rollback lands a commit: its note names the source it puts back; the old head
    # keeps its own.
    ok(run(example_repo, remote, "2026-11-30T13:00:00Z", "rollback", "--env", "dev",
           "--reason", "the bridge logs too much", "--push"))
    back = head(remote, "dev")
    assert back.parents[0].id == dev.id
    assert promoter_note(remote.path, back.id) == first
    assert promoter_note(remote.path, dev.id) == change


def test_concurrent_verifies_lose_no_record(example_repo: pygit2.Repository,
                                            remote: pygit2.Repository, tmp_path: Path) -> None:
    """Two verifies from two clones: the first is stopped as it starts its `git push` of
    the notes, the second records and pushes meanwhile; the first's push is refused, it
    fetches, merges and pushes again: both records are on the remote."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    other = pygit2.clone_repository(example_repo.workdir, str(tmp_path / "other"))
    args = ("verify", "--env", "dev", "--state", "success", "--remote", remote.path, "--push")
    env = {"HYDRATE_NOW": "2026-11-30T08:05:00Z"}
    with clirun.paused("--repo", example_repo.workdir, *args, "--check", "smoke", env=env,
                       event="subprocess.Popen", needle=" push ") as first:
        second = clirun.run("--repo", other.workdir, *args, "--check", "load", env=env)
        assert second.code == 0, second.err
        done = first.resume()
    assert done.code == 0, done.err
    note = remote.lookup_note(str(head(remote, "dev").id), "refs/notes/hydrate")
    checks = sorted(json.loads(line)["check"] for line in note.message.splitlines())
    assert checks == ["load", "smoke"]


@pytest.mark.parametrize(("args", "message"), [
    (("promote", "--to", "dev"), "environment dev has no promotion in fleet/environments.yaml"),
    (("verify", "--env", "prod", "--wave", "canery", "--check", "smoke", "--state", "success"),
     "--wave canery: not a wave of prod (its waves are canary, early, rest)"),
    (("rollback", "--env", "dev", "--reason", "x"), "env/dev: nothing published to dev"),
    (("promote", "--to", "staging", "--source", "no-such-rev"),
     "--source no-such-rev: no such commit in this repository"),
])
def test_clear_errors(example_repo: pygit2.Repository, remote: pygit2.Repository,
                      args: tuple[str, ...], message: str) -> None:
    result = run(example_repo, remote, T0, *args)
    assert result.code == 1, result.out + result.err
    assert message in result.err


def test_history_tells_kinds_gates_and_checks(example_repo: pygit2.Repository,
                                               remote: pygit2.Repository) -> None:
    source = to_staging(example_repo, remote)
    staging = json.loads(ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "history",
                                "--env", "staging", "--format", "json")))
    (entry,) = staging
    assert (entry["kind"], entry["source"]) == ("promote", source)
    assert entry["promotedFrom"] == f"dev {head(remote, 'dev').id}"
    assert entry["gates"] == ["soak passed live on dev since 2026-11-30T08:00Z, 45m of 30m",
                              "checks passed smoke: success at 2026-11-30T08:40Z"]
    dev = json.loads(ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "history", "--env",
                            "dev", "--format", "json")))
    assert [(c["check"], c["state"], c["time"]) for c in dev[0]["checks"]] == [
        ("smoke", "success", "2026-11-30T08:40:00Z")]
    text = ok(run(example_repo, remote, "2026-11-30T09:00:00Z", "history", "--env", "staging"))
    lines = text.splitlines()
    assert lines[0].split()[2:6] == [str(head(remote, "staging").id)[:7], "promote", "source",
                                     source[:7]]
    assert lines[2].strip() == "from dev"
    assert lines[3].strip() == "gate soak passed live on dev since 2026-11-30T08:00Z, 45m of 30m"


def test_auto_promotes_what_is_ready_and_exits_0_otherwise(example_repo: pygit2.Repository,
                                                            remote: pygit2.Repository) -> None:
    replace_in(Path(example_repo.workdir) / "fleet/environments.yaml",
               "requires: [smoke]}", "requires: [smoke], auto: true}")
    source = str(commit_all(example_repo, "Staging promotes itself"))
    ok(run(example_repo, remote, T0, "publish", "--push"))
    waiting = run(example_repo, remote, "2026-11-30T08:10:00Z", "promote", "--auto", "--push")
    assert waiting.code == 0, waiting.err  # blocked is not a failure of the schedule
    assert waiting.out.splitlines()[0] == f"promote {source[:7]} dev → staging"
    assert waiting.out.splitlines()[-1] == "blocked: soak, checks"
    assert "refs/heads/env/staging" not in remote.references
    ok(run(example_repo, remote, "2026-11-30T08:40:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    done = ok(run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--auto", "--push"))
    assert "env/staging: pushed" in done
    assert "prod" not in done  # prod has no auto: true
    assert head(remote, "staging").message.startswith(f"{source[:7]}: Staging promotes itself")


def test_waves_changed_during_a_rollout_are_recomputed(example_repo: pygit2.Repository,
                                                      remote: pygit2.Repository) -> None:
    """Canary has run; the configuration now has one wave: the next step takes every
    cluster still without the source (gated by staging, as a first wave is), and the
    rollout is done."""
    source = to_staging(example_repo, remote)
    ok(run(example_repo, remote, "2026-12-01T09:00:00Z", "verify", "--env", "staging",
           "--check", "smoke", "--state", "success", "--push"))
    ok(run(example_repo, remote, "2026-12-01T09:00:00Z", "promote", "--to", "prod", "--push"))
    envs = Path(example_repo.workdir) / "fleet/environments.yaml"
    text = envs.read_text()
    envs.write_text(text[:text.index("    waves:")] + "    waves:\n    - {name: rest}\n")
    commit_all(example_repo, "One wave only")
    out = ok(run(example_repo, remote, "2026-12-01T12:00:00Z", "promote", "--to", "prod",
                 "--push"))
    assert out.splitlines()[0] == f"promote {source[:7]} staging → prod, wave rest (1 of 1)"
    prod = sorted(p.stem for p in (Path(example_repo.workdir) / "fleet/clusters").glob("*.yaml")
                  if "environment: prod" in p.read_text())
    recorded = meta(remote, "prod")
    assert sorted(recorded["clusters"]) == prod
    assert {c["source"] for c in recorded["clusters"].values()} == {source}
    assert [w["name"] for w in recorded["rollout"]["waves"]] == ["canary", "rest"]
    assert recorded["rollout"]["pending"] is False
    assert "rollout of" not in ok(run(example_repo, remote, "2026-12-01T12:05:00Z", "status"))


def _prod_by_pull_request(repo: pygit2.Repository, remote: pygit2.Repository) -> str:
    """prod with pullRequest: true, its source on staging with smoke passed: ready to promote."""
    replace_in(Path(repo.workdir) / "fleet/environments.yaml", "    soak: 24h\n",
               "    soak: 24h\n    pullRequest: true\n")
    source = str(commit_all(repo, "Prod through pull requests"))
    to_staging(repo, remote)
    ok(run(repo, remote, "2026-12-01T09:00:00Z", "verify", "--env", "staging",
           "--check", "smoke", "--state", "success", "--push"))
    return source


def test_pull_request_mode_pushes_next_and_writes_the_body(example_repo: pygit2.Repository,
                                                           remote: pygit2.Repository,
                                                           tmp_path: Path) -> None:
    """prod with pullRequest: true: the promotion commit goes to env/prod-next (built on
    env/prod's head, which does not move) and the body holds the gates and the diff; a
    re-run rebuilds -next and rewrites the body."""
    source = _prod_by_pull_request(example_repo, remote)
    body = tmp_path / "body.md"
    out = ok(run(example_repo, remote, "2026-12-01T09:00:00Z", "promote", "--to", "prod",
                 "--push", "--output", str(body)))
    assert "env/prod-next: pushed" in out
    assert "refs/heads/env/prod" not in remote.references
    nxt = head(remote, "prod-next")
    assert sorted(e.name for e in nxt.tree["clusters"]) == ["store-0001"]
    assert promoter_note(remote.path, nxt.id) == source  # Promoter's proposed branch
    text = body.read_text()
    assert text.startswith(f"## Promote `{source[:7]}` staging → prod, wave canary (1 of 3)")
    assert "| soak | ✅ | live on staging since 2026-11-30T08:45Z, 1d15m of 1d |" in text
    assert "<!-- hydrate-diff -->" in text  # the rendered diff of docs/diff.md follows
    again = ok(run(example_repo, remote, "2026-12-01T09:30:00Z", "promote", "--to", "prod",
                   "--push", "--output", str(body)))
    assert "env/prod-next: pushed" in again
    assert head(remote, "prod-next").id != nxt.id  # rebuilt on env/prod's head, replaced
    assert head(remote, "prod-next").parents == []  # env/prod has no commit yet
    status = ok(run(example_repo, remote, "2026-12-01T09:40:00Z", "status"))
    assert "prod-next" not in status  # not taken for a retired environment branch


def test_the_pull_request_body_goes_only_where_a_report_may(example_repo: pygit2.Repository,
                                                           remote: pygit2.Repository,
                                                           tmp_path: Path) -> None:
    """--output is a report file like diff's and validate's: never through a link, into a
    FIFO or a device, or over a file of the configuration; refused in one line before the
    promotion is built, nothing pushed."""
    import os

    _prod_by_pull_request(example_repo, remote)
    outside = tmp_path / "outside.md"
    outside.write_text("mine\n")
    link = tmp_path / "link.md"
    link.symlink_to(outside)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    config = Path(example_repo.workdir) / "fleet/environments.yaml"
    before = config.read_bytes()
    for target, what in ((link, "a symbolic link"), (fifo, "a FIFO"),
                         (config, "is part of the configuration")):
        refused = run(example_repo, remote, "2026-12-01T09:00:00Z", "promote", "--to", "prod",
                      "--push", "--output", str(target))
        assert refused.code == 1, refused.out + refused.err
        assert refused.err.startswith(f"hydrate: error: --output {target}: ")
        assert what in refused.err
        assert len(refused.err.splitlines()) == 1
    assert outside.read_text() == "mine\n"
    assert config.read_bytes() == before
    assert "refs/heads/env/prod-next" not in remote.references
    body = tmp_path / "body.md"
    body.write_text("an older body\n")
    ok(run(example_repo, remote, "2026-12-01T09:00:00Z", "promote", "--to", "prod", "--push",
           "--output", str(body)))
    assert body.read_text().startswith("## Promote ")


def test_a_refused_push_is_one_clear_error_and_lands_nothing(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    ok(run(example_repo, remote, T0, "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T08:40:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    hook = Path(remote.path) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n  case $ref in refs/heads/env/staging)"
                    " echo 'staging is frozen' >&2; exit 1;; esac\ndone\n")
    hook.chmod(0o755)
    result = run(example_repo, remote, "2026-11-30T08:45:00Z", "promote", "--to", "staging",
                 "--push")
    assert result.code == 1, result.out + result.err
    assert result.err.strip().endswith("refused the push to env/staging (pre-receive hook "
                                       "declined); the remote said: staging is frozen")
    assert "refs/heads/env/staging" not in remote.references


def test_racing_promotions_land_once(example_repo: pygit2.Repository,
                                     remote: pygit2.Repository, tmp_path: Path) -> None:
    """Two promotions of the same source from two clones: the first is stopped as it starts
    its `git push`, the second lands meanwhile; the first's push is refused (the branch
    moved), it rebuilds on the new head, finds nothing left to promote and says so."""
    ok(run(example_repo, remote, T0, "publish", "--push"))
    ok(run(example_repo, remote, "2026-11-30T08:40:00Z", "verify", "--env", "dev", "--check",
           "smoke", "--state", "success", "--push"))
    other = pygit2.clone_repository(example_repo.workdir, str(tmp_path / "other"))
    args = ("promote", "--to", "staging", "--remote", remote.path, "--push")
    env = {"HYDRATE_NOW": "2026-11-30T08:45:00Z"}
    with clirun.paused("--repo", example_repo.workdir, *args, env=env,
                       event="subprocess.Popen", needle=" push ") as first:
        second = clirun.run("--repo", other.workdir, *args, env=env)
        assert second.code == 0, second.err
        landed = head(remote, "staging").id
        late = first.resume()
    assert late.code == 0, late.err
    assert late.out.splitlines()[-1].strip() == (
        f"nothing to promote: {str(example_repo.head.target)[:12]} is already live on staging")
    assert head(remote, "staging").id == landed
    assert head(remote, "staging").parents == []



@pytest.mark.parametrize("now", ["tomorrow", "2026-11-30T08:00:00", "2026-13-01T00:00:00Z"])
def test_a_clock_that_is_no_time_is_one_clear_error(example_repo: pygit2.Repository,
                                                    remote: pygit2.Repository, now: str) -> None:
    result = run(example_repo, remote, now, "publish", "--push")
    assert result.code == 1, result.out + result.err
    (line,) = result.err.splitlines()
    assert line.startswith(f"hydrate: error: HYDRATE_NOW: {now!r} ")
    assert list(remote.references) == []
