"""A model-based test of promotion: random walks of publish, verify, promote (plain,
`--source`, `--force`, `--pull-request` and its merge, `--dry-run`), rollback, hold
release, configuration edits (values, waves, clusters) and clock moves (backwards too),
against real git with a bare repository as the remote and the real CLI (in process, for
speed). After every step the invariants of docs/promotion.md hold:

(a) a source lands on an environment only if it was live on `from` without interruption
    for the soak and each required check was last recorded as a success after it landed
    there (for a later wave: after the previous wave landed), or the landing is a
    recorded `--force`;
(b) a held source never lands without `--force`, through any command;
(c) a rollout is pending until every cluster the configuration puts in it has the source;
(d) every commit a command reports as pushed is on the branch it names;
(e) nothing exits 3.

The model keeps its own account of what happened (which source went live where and
when, which checks were recorded, what is held), from the commands it ran and the
branches' metadata read as plain JSON, never through hydrate's own reading of them.
Seeded (a `random.Random` per walk) and bounded: SEEDS walks of STEPS steps each, and
the walks must between them have got to do each kind of step (COVERED), or the test
fails: invariants that held because nothing happened prove nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import pytest

from pipeline.cli import main
from tests.conftest import SIGNATURE, shared_cache

SEEDS = tuple(range(1, 9))  # one walk each
STEPS = 100  # commands and moves per walk: len(SEEDS) * STEPS steps in all
START = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)  # a Monday
SOAK = {"staging": 30 * 60, "prod": 60 * 60}
FROM = {"staging": "dev", "prod": "staging"}
WAVES = ("canary", "rest")
WAVE_SOAK = {"canary": 30 * 60}
REQUIRED = ("smoke",)

ENVIRONMENTS = """environments:
- name: dev
- name: staging
  promotion: {{from: dev, soak: 30m, requires: [smoke]}}
- name: prod
  promotion:
    from: staging
    soak: 1h
    requires: [smoke]
    waves:
    - {{name: canary, clusters: [{canary}], soak: 30m, requires: [smoke]}}
    - {{name: rest}}
"""
FILES = {
    "fleet/classes/small.yaml": 'name: small\nkubernetesVersion: "1.31"\npackages: [app]\n'
                                'vars: {level: "1"}\n',
    "bases/app/package.yaml": "name: app\ntype: kustomize\nnamespace: default\n",
    "bases/app/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                    "kind: Kustomization\nresources: [configmap.yaml]\n",
    "bases/app/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
                                'data:\n  level: "0"\n',
    "overlays/classes/small/app/kustomization.yaml":
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
        "patches:\n- path: patch.yaml\n",
    "overlays/classes/small/app/patch.yaml.j2":
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"
        'data:\n  level: "{{ vars.level }}"\n',
}
CLUSTERS = {"dev-1": "dev", "staging-1": "staging", "prod-1": "prod", "prod-2": "prod",
            "prod-3": "prod"}


def cluster_file(name: str, env: str, level: str | None = None) -> str:
    extra = f'vars: {{level: "{level}"}}\n' if level else ""
    return f"name: {name}\nclass: small\nsite: {name}\nenvironment: {env}\n{extra}"


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Run:
    """A stretch on which a source is live on an environment, in the model's account."""

    source: str
    since: dt.datetime
    start: int  # the step it began at
    until: dt.datetime | None = None
    end: int | None = None


@dataclass(frozen=True)
class Check:
    env: str
    wave: str
    source: str  # 7 characters, as verify reports it
    check: str
    state: str
    step: int


@dataclass
class Model:
    runs: dict[str, list[Run]] = field(default_factory=dict)  # env → its runs, oldest first
    checks: list[Check] = field(default_factory=list)
    held: dict[str, set[str]] = field(default_factory=dict)  # source → envs holding it
    landed: dict[tuple[str, str], tuple[dt.datetime, int]] = field(default_factory=dict)
    heads: dict[str, str | None] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)  # source → its prod clusters
    steps: tuple[str, list[str]] | None = None  # prod's rollout: its source, its steps

    def live(self, env: str) -> Run | None:
        runs = self.runs.get(env, [])
        return runs[-1] if runs and runs[-1].end is None else None

    def becomes(self, env: str, source: str | None, now: dt.datetime, step: int) -> None:
        current = self.live(env)
        if current is not None and current.source == source:
            return
        if current is not None:
            current.until, current.end = now, step
        if source is not None:
            self.runs.setdefault(env, []).append(Run(source, now, step))

    def last_run(self, env: str, source: str) -> Run | None:
        return next((r for r in reversed(self.runs.get(env, [])) if r.source == source), None)

    def latest_passed(self, env: str, wave: str | None, source: str, after: int,
                      before: int | None) -> bool:
        """Whether every required check's latest record (in the order written) for the
        source on `env` (and `wave`) inside (after, before) is a success."""
        for name in REQUIRED:
            found = [c for c in self.checks if c.env == env and c.check == name
                     and source.startswith(c.source) and (wave is None or c.wave == wave)
                     and after < c.step and (before is None or c.step < before)]
            if not found or found[-1].state != "success":
                return False
        return True


class Walk:
    """One walk: the repositories, the model's account, the clock (HYDRATE_NOW) and the
    number of the step (`self.step` counts the commands)."""

    def __init__(self, root: Path, rng: random.Random, log: list[str]) -> None:
        self.root, self.rng, self.log = root, rng, log
        self.now = START
        self.step = 0
        self.model = Model()
        self.sources: list[str] = []
        self.canary = ["prod-1"]
        self.levels = 1
        self.extra = 0
        self.pr_forced: dict[str, bool] = {}  # -next commit → built with --force
        self.events: Counter[str] = Counter()  # what the walk got to do, for the coverage

    # -- running ----------------------------------------------------------------------

    def hydrate(self, *args: str) -> Ran:
        """The real CLI's entry point, in process, at the model's clock."""
        self.step += 1
        out, err = io.StringIO(), io.StringIO()
        os.environ["HYDRATE_NOW"] = self.now.isoformat().replace("+00:00", "Z")
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(["--repo", str(self.repo_path), *args])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
        ran = Ran(code, out.getvalue(), err.getvalue())
        why = f": {ran.err.strip().splitlines()[-1]}" if code and ran.err.strip() else ""
        self.log.append(f"{self.step:3} {self.now:%m-%d %H:%M} hydrate {' '.join(args)} → {code}{why}")
        assert code != 3, f"(e) crashed: {' '.join(args)}\n{ran.err}"  # (e)
        assert code in (0, 1, 2, 4), ran
        return ran

    def remote_args(self, push: bool = True) -> tuple[str, ...]:
        return ("--remote", str(self.remote_path), *(("--push",) if push else ()))

    # -- the remote, read as plain JSON ----------------------------------------------

    def head(self, branch: str) -> pygit2.Commit | None:
        ref = self.remote.references.get(f"refs/heads/{branch}")
        return self.remote[ref.target].peel(pygit2.Commit) if ref is not None else None

    def metadata(self, commit: pygit2.Commit | None) -> dict[str, object]:
        if commit is None:
            return {}
        data: dict[str, object] = json.loads(self.remote[commit.tree[".hydrate/metadata.json"]
                                                         .id].data)
        return data

    def carried(self, env: str) -> dict[str, str]:
        clusters = self.metadata(self.head(f"env/{env}")).get("clusters") or {}
        assert isinstance(clusters, dict)
        return {name: str(entry["source"]) for name, entry in clusters.items()}

    def full(self, short: str) -> str:
        (found,) = {s for s in self.sources if s.startswith(short)}
        return found

    # -- set-up -----------------------------------------------------------------------

    def start(self) -> None:
        self.repo_path = self.root / "config"
        self.remote_path = self.root / "remote.git"
        shutil.rmtree(self.root, ignore_errors=True)
        self.repo_path.mkdir(parents=True)
        for rel, text in {**FILES, "fleet/environments.yaml": self.environments()}.items():
            (self.repo_path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.repo_path / rel).write_text(text)
        for name, env in CLUSTERS.items():
            (self.repo_path / f"fleet/clusters/{name}.yaml").parent.mkdir(parents=True,
                                                                         exist_ok=True)
            (self.repo_path / f"fleet/clusters/{name}.yaml").write_text(cluster_file(name, env))
        self.repo = pygit2.init_repository(str(self.repo_path), initial_head="main")
        self.remote = pygit2.init_repository(str(self.remote_path), bare=True)
        self.commit("The fleet")
        # A new fleet's bootstrap: every environment published once, past its gates.
        self.hydrate("publish", "--all", *self.remote_args(), "--force", "--reason", "bootstrap")

    def environments(self) -> str:
        return ENVIRONMENTS.format(canary=", ".join(self.canary))

    def commit(self, message: str) -> None:
        self.repo.index.add_all()
        self.repo.index.write()
        tree = self.repo.index.write_tree()
        parents = [] if self.repo.head_is_unborn else [self.repo.head.target]
        sha = str(self.repo.create_commit("HEAD", SIGNATURE, SIGNATURE, message, tree, parents))
        self.sources.append(sha)
        self.model.members[sha] = {p.stem for p in (self.repo_path / "fleet/clusters").glob(
            "*.yaml") if "environment: prod" in p.read_text()}

    # -- rules: the configuration and the clock ----------------------------------------

    def edit(self) -> None:
        """A new source: a value every cluster renders, one only prod-2 renders (a no-op
        on dev and staging), prod-2 in or out of the canary, or a new prod cluster."""
        kind = self.rng.choice(["value", "value", "prod value", "waves", "cluster"])
        if kind == "value":
            self.levels += 1
            path = self.repo_path / "fleet/classes/small.yaml"
            path.write_text(re.sub(r'level: "\d+"', f'level: "{self.levels}"', path.read_text()))
        elif kind == "prod value":
            self.levels += 1
            (self.repo_path / "fleet/clusters/prod-2.yaml").write_text(
                cluster_file("prod-2", "prod", str(self.levels)))
        elif kind == "waves":
            self.canary = ["prod-1"] if "prod-2" in self.canary else ["prod-1", "prod-2"]
            (self.repo_path / "fleet/environments.yaml").write_text(self.environments())
        elif self.extra < 2:
            self.extra += 1
            name = f"prod-{3 + self.extra}"
            (self.repo_path / f"fleet/clusters/{name}.yaml").write_text(cluster_file(name, "prod"))
        self.log.append(f"    edit: {kind}")
        self.commit(f"edit: {kind}")

    def clock(self) -> None:
        """Time passes; sometimes the clock goes back."""
        minutes = self.rng.choice([5, 20, 35, 70, 70, 180, 24 * 60, -15, -90])
        self.now += dt.timedelta(minutes=minutes)
        self.log.append(f"    clock {minutes:+}m")

    # -- rules: the commands ------------------------------------------------------------

    def publish(self) -> None:
        force = self.rng.random() < 0.15
        extra = ("--force", "--reason", "model says so") if force else ()
        ran = self.hydrate("publish", *self.remote_args(), *extra)
        source = self.sources[-1]
        if ran.code == 0 and force and self.model.held.get(source):
            self.events["forced past a hold"] += 1
        if ran.code == 4:
            self.events["held source refused"] += 1
        if ran.code == 0 and not force:
            assert not self.model.held.get(source), f"(b) published held {source[:7]}"  # (b)
        if ran.code == 0 and force:
            self.model.held.pop(source, None)
        if ran.code == 4:
            assert self.model.held.get(source), ran
        if ran.code == 0 and "is live on it from now" in ran.out:
            self.events["live by a note"] += 1
            self.model.becomes("dev", source, self.now, self.step)

    def verify(self) -> None:
        env = self.rng.choice(["dev", "staging", "prod"])
        wave = self.rng.choice(WAVES)
        state = self.rng.choice(["success", "success", "success", "failure"])
        waved = ("--wave", wave) if env == "prod" else ()
        ran = self.hydrate("verify", "--env", env, *waved, "--check", "smoke", "--state",
                           state, *self.remote_args())
        if ran.code == 0:
            said = re.match(r"(\S+)(?: wave (\S+))?: (\S+) (\S+) for ([0-9a-f]{7}) ", ran.out)
            assert said is not None, ran.out
            self.model.checks.append(Check(said[1], said[2] or "", said[5], said[3], said[4],
                                           self.step))
            assert self.note_on_remote(env, said[5]), "(d) a pushed note is not on the remote"

    def note_on_remote(self, env: str, source: str) -> bool:
        head = self.head(f"env/{env}")
        assert head is not None
        try:
            text = self.remote.lookup_note(str(head.id), "refs/notes/hydrate").message
        except KeyError:
            return False
        return any(json.loads(line).get("source", "").startswith(source)
                   for line in text.splitlines() if line.strip())

    def promote(self) -> None:
        to = self.rng.choice(["staging", "prod"])
        mode = self.rng.choice(["plain"] * 5 + ["source", "force", "pull-request",
                                                 "pull-request", "dry-run"])
        extra: tuple[str, ...] = ()
        if mode == "source":
            extra = ("--source", self.rng.choice(self.sources))
        elif mode == "force":
            extra = ("--force", "--reason", "the model insists")
        elif mode == "pull-request":
            extra = ("--pull-request",)
        elif mode == "dry-run":
            extra = ("--dry-run",)
        push = () if mode == "dry-run" else self.remote_args()
        if mode == "dry-run":
            push = ("--remote", str(self.remote_path))
        before = {b: self.head(b) for b in (f"env/{to}", f"env/{to}-next")}
        ran = self.hydrate("promote", "--to", to, *push, *extra)
        if mode == "dry-run":
            assert {b: self.head(b) for b in before} == before, "a dry run moved a branch"
            return
        if ran.code == 4:
            self.events["blocked"] += 1
        if ran.code != 0:
            return
        first = ran.out.splitlines()[0]
        said = re.match(r"promote ([0-9a-f]{7}) ([\w-]+) → ([\w-]+)(?:, wave (\S+) \((\d+) of (\d+)\))?",
                        first)
        pushed = re.search(r"(env/\S+): pushed ([0-9a-f]{7})", ran.out)
        if said is None or pushed is None:
            if "no change" in ran.out and said is not None:
                self.model.becomes(to, self.full(said[1]), self.now, self.step)
            self.check_done(to, ran.out)
            return
        source = self.full(said[1])
        branch, commit = pushed[1], pushed[2]
        forced = mode == "force"
        self.check_landing(to, source, said[4], forced, ran.out)  # (a), (b)
        kind = "forced" if forced else f"{mode} landing on {to}"
        self.events[f"{kind}{' wave ' + said[4] if said[4] else ''}"] += 1
        if branch.endswith("-next"):
            nxt = self.head(branch)
            assert nxt is not None, "(d) -next is gone"
            assert str(nxt.id).startswith(commit), "(d) -next is another commit"
            self.pr_forced[str(nxt.id)] = forced
            return
        self.assert_on_branch(branch, commit)  # (d)
        if forced:
            head = self.head(branch)
            assert head is not None
            assert "Hydrate-Bypass-Reason: the model insists" in head.message, "(a) unrecorded"
            self.model.held.pop(source, None)

    def check_landing(self, to: str, source: str, wave: str | None, forced: bool,
                      out: str) -> None:
        """(a) and (b) for a landing (or a pull request's commit) hydrate made now. Which
        wave a step takes is hydrate's to say (and (c) to check); what gates it is not."""
        if forced:
            return
        assert not self.model.held.get(source), f"(b) {source[:7]} is held: {out}"
        index = WAVES.index(wave) if wave is not None else 0
        if index == 0:
            origin = FROM[to]
            run = self.model.last_run(origin, source)
            assert run is not None, f"(a) {source[:7]} was never live on {origin}: {out}"
            end = self.now if run.until is None else min(self.now, run.until)
            assert (end - run.since).total_seconds() >= SOAK[to], f"(a) soak: {out}"
            assert self.model.latest_passed(origin, None, source, run.start, run.end), \
                f"(a) checks on {origin}: {out}"
            return
        previous = WAVES[index - 1]
        landed = self.model.landed.get((source, previous))
        assert landed is not None, f"(a) {previous} never landed: {out}"
        since, step = landed
        assert (self.now - since).total_seconds() >= WAVE_SOAK.get(previous, 0), f"(a) {out}"
        assert self.model.latest_passed(to, previous, source, step, None), f"(a) {out}"

    def rollout_steps(self, env: str, source: str) -> list[str]:
        rollout = self.metadata(self.head(f"env/{env}")).get("rollout")
        if not isinstance(rollout, dict) or rollout.get("source") != source:
            return []
        return [str(w["name"]) for w in rollout["waves"]]

    def assert_on_branch(self, branch: str, commit: str) -> None:
        """(d) the commit a command reported as pushed is on the branch it named."""
        head = self.head(branch)
        assert head is not None, f"(d) {branch} does not exist"
        ids = {str(c.id) for c in self.remote.walk(head.id)}
        assert any(i.startswith(commit) for i in ids), f"(d) {commit} is not on {branch}"

    def check_done(self, to: str, out: str) -> None:
        """(c) "already live" only when every cluster of the environment has it."""
        said = re.search(r"nothing to promote: ([0-9a-f]{12}) is already live on (\S+)", out)
        if said is None or to != "prod":
            return
        source = self.full(said[1])
        carried = self.carried("prod")
        lacking = {c for c in self.model.members[source] if carried.get(c) != source}
        assert not lacking, f"(c) {source[:7]} called live on prod, {lacking} lack it"

    def merge(self) -> None:
        """A pull request is merged (a merge commit, as GitHub makes), if its -next is
        still built on the environment branch's head."""
        open_ = [e for e in ("staging", "prod") if self.head(f"env/{e}-next") is not None]
        if not open_:
            return
        env = self.rng.choice(open_)
        nxt = self.head(f"env/{env}-next")
        base = self.head(f"env/{env}")
        if nxt is None or base is None or (nxt.parents[0].id if nxt.parents else None) != base.id:
            self.log.append(f"    not merged: env/{env}-next is not built on env/{env}'s head")
            return
        source = str(self.metadata(nxt)["source"]["commit"])  # type: ignore[index]
        if self.model.held.get(source) and not self.pr_forced.get(str(nxt.id)):
            return  # a reviewer would not merge it (GitHub could: hydrate is not asked)
        who = pygit2.Signature("GitHub", "noreply@github.com", int(self.now.timestamp()), 0)
        self.remote.create_commit(f"refs/heads/env/{env}", who, who, "Merge pull request",
                                  nxt.tree_id, [base.id, nxt.id])
        self.remote.references.delete(f"refs/heads/env/{env}-next")
        self.log.append(f"    merge env/{env}-next")
        self.events["merged"] += 1
        self.step += 1
        if self.pr_forced.get(str(nxt.id)):
            self.model.held.pop(source, None)

    def rollback(self) -> None:
        env = self.rng.choice(["dev", "staging", "prod"])
        before = self.head(f"env/{env}")
        ran = self.hydrate("rollback", "--env", env, "--reason", "the model saw smoke",
                           *self.remote_args())
        if ran.code != 0:
            return
        said = re.match(r"rollback \S+: ([0-9a-f]{7}|-) → ([0-9a-f]{7})", ran.out)
        assert said is not None, ran.out
        restored = self.full(said[2])
        assert not self.model.held.get(restored), f"(b) rollback restored held {restored[:7]}"
        replaced = said[1]
        if replaced != "-":
            self.model.held.setdefault(self.full(replaced), set()).add(env)
        pushed = re.search(r"(env/\S+): pushed ([0-9a-f]{7})", ran.out)
        assert pushed is not None
        self.assert_on_branch(pushed[1], pushed[2])
        self.events["rolled back"] += 1
        assert before is None or self.head(f"env/{env}") != before

    def release(self) -> None:
        held = sorted(s for s, envs in self.model.held.items() if envs)
        if not held:
            return
        source = self.rng.choice(held)
        env = sorted(self.model.held[source])[0]
        ran = self.hydrate("hold", source, "--env", env, "--release", "--reason",
                           "the model lets it go", *self.remote_args())
        assert ran.code == 0, ran
        self.model.held.pop(source)
        self.events["released"] += 1

    # -- after every step -----------------------------------------------------------------

    def observe(self) -> None:
        """After every step: bring the model's account up to date with the branches,
        then check (c)."""
        for env in ("dev", "staging", "prod"):
            head = self.head(f"env/{env}")
            key = str(head.id) if head is not None else None
            if self.model.heads.get(env) == key:
                continue
            self.model.heads[env] = key
            meta = self.metadata(head)
            sources = set(self.carried(env).values())
            rollout = meta.get("rollout")
            pending = isinstance(rollout, dict) and rollout.get("pending")
            self.model.becomes(env, sources.pop() if len(sources) == 1 and not pending else None,
                               self.now, self.step)
            if env == "prod":
                self.waves_landed(rollout if isinstance(rollout, dict) else None)
        self.pending_is_told()

    def waves_landed(self, rollout: dict[str, object] | None) -> None:
        """The steps of prod's rollout that reached the branch now."""
        if rollout is None:
            self.model.steps = None
            return
        source = str(rollout["source"])
        names = [str(w["name"]) for w in rollout["waves"]]  # type: ignore[attr-defined]
        before = self.model.steps
        done = len(before[1]) if before is not None and before[0] == source else 0
        for name in names[done:]:
            self.model.landed[(source, name)] = (self.now, self.step)
        self.model.steps = (source, names)

    def pending_is_told(self) -> None:
        """(c) status says a rollout is pending exactly while a cluster lacks its source."""
        meta = self.metadata(self.head("env/prod"))
        rollout = meta.get("rollout")
        if not isinstance(rollout, dict):
            return
        source = str(rollout["source"])
        carried = self.carried("prod")
        lacking = {c for c in self.model.members.get(source, set()) if carried.get(c) != source}
        ran = self.hydrate("status", *self.remote_args(push=False))
        assert ran.code == 0, ran
        told = re.search(r"pending: .* without ([0-9a-f]{7}) \(([^)]*)\)", ran.out)
        if lacking:
            assert told is not None, f"(c) {lacking} lack it, status: {ran.out}"
            assert told[1] == source[:7], f"(c) {lacking}: {ran.out}"
            assert set(told[2].replace(" …", "").split(", ")) <= lacking | {""}
        else:
            assert told is None, f"(c) pending told, nothing lacks {source[:7]}: {ran.out}"


ACTIONS = {"publish": 3, "verify": 6, "promote": 8, "merge": 3, "rollback": 2,
           "release": 1, "edit": 2, "clock": 6}


# What the walks must have got to do between them, so the invariants were not held
# vacuously (a change to the walk or to hydrate that starves one fails here).
COVERED = {"blocked", "plain landing on staging", "plain landing on prod wave canary",
           "plain landing on prod wave rest", "pull-request landing on prod wave canary",
           "merged", "rolled back", "held source refused", "released", "live by a note",
           "forced"}


def test_promotion_keeps_its_invariants(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded walks of STEPS steps each; on a failure, the walk's steps so far are printed."""
    for name in list(os.environ):
        if name.startswith(("GIT_", "HYDRATE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HYDRATE_CACHE_DIR", shared_cache())
    monkeypatch.setattr(sys, "argv", ["hydrate"])
    events: Counter[str] = Counter()
    for seed in SEEDS:
        rng = random.Random(seed)
        log: list[str] = [f"walk {seed}"]
        walk = Walk(tmp_path / f"walk-{seed}", rng, log)
        try:
            walk.start()
            walk.observe()
            for _ in range(STEPS):
                getattr(walk, rng.choices(list(ACTIONS), list(ACTIONS.values()))[0])()
                walk.observe()
        except BaseException:
            print("\n".join(log))
            raise
        events.update(walk.events)
    print(dict(events))
    assert set(events) >= COVERED, f"the walks never got to: {COVERED - set(events)}"
