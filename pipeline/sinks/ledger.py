"""The ledger of an environment branch: `.hydrate/metadata.json` and the trailers of the
commits hydrate writes, as typed values.

This is the one module that reads or writes that file or spells a trailer. Every commit
hydrate makes on a branch carries a ledger: what it was built from and with, per cluster
the source it was rendered from, its digest and where its manifests went (a subtree of
the branch, or an OCI artifact whose files the branch keeps as well), the rollout of a
source in waves, the holds rollbacks put on sources and the holds lifted since.

The format has a `schemaVersion`. Version 1 (hydrate before holds could be released)
is read as well: a hold was a string there. A version newer than this module knows is
refused rather than guessed at.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pygit2

from pipeline.clock import rfc3339
from pipeline.errors import PipelineError

PATH = ".hydrate/metadata.json"
SCHEMA_VERSION = 2
KINDS = ("publish", "promote", "forced", "rollback", "hold", "release")
# Kinds of commit that change the ledger's holds only: the manifests, and so what is
# live and since when, stay as the parent left them (its ledger is copied, sources too).
LEDGER_ONLY = ("hold", "release")

# The trailers of hydrate's commits (`git interpret-trailers` reads them).
SOURCE = "Hydrate-Source-Commit"
ENVIRONMENT = "Hydrate-Environment"
PROMOTED_FROM = "Hydrate-Promoted-From"
WAVE = "Hydrate-Wave"
GATE = "Hydrate-Gate"
BYPASS_REASON = "Hydrate-Bypass-Reason"
RUN = "Hydrate-Run"
ROLLBACK_OF = "Hydrate-Rollback-Of"
REASON = "Hydrate-Reason"
RELEASED = "Hydrate-Hold-Released"


class LedgerError(PipelineError):
    """A `.hydrate/metadata.json` that is there but cannot be read as a ledger."""


@dataclass(frozen=True)
class Source:
    """The dry commit a branch commit is built from."""

    repo: str
    commit: str
    subject: str
    inputs_digest: str = ""
    path: str = ""  # the configuration's folder in the source repository ("" at the top)


@dataclass(frozen=True)
class InTree:
    """The manifests went into the branch itself: `clusters/<name>/`, this tree."""

    tree: str


@dataclass(frozen=True)
class Artifact:
    """The manifests went to an OCI registry as one artifact: `repository` (host and name)
    at the manifest `digest`, built from `revision` at `created` (its annotations, so that
    the same files packed again give the same digest). The branch keeps the files as well,
    under `tree`, so every artifact can be checked, and pushed again, from git alone."""

    repository: str
    digest: str  # sha256:... of the manifest
    revision: str  # the source commit the artifact was built from
    created: str  # RFC 3339, the manifest's org.opencontainers.image.created
    tree: str | None = None  # the branch subtree with the same files


Output = InTree | Artifact  # where a cluster's manifests went


@dataclass(frozen=True)
class Cluster:
    """One cluster on the branch: the source it was rendered from, the digest of its files,
    and where they went."""

    source: str
    digest: str
    output: Output | None = None  # None: written before hydrate recorded it
    cls: str = ""
    site: str = ""
    objects: int | None = None

    @property
    def tree(self) -> str | None:
        """The branch subtree hydrate wrote for it, if its manifests are in the branch."""
        return self.output.tree if self.output is not None else None

    @property
    def artifact(self) -> Artifact | None:
        """Its artifact, if its manifests went to a registry."""
        return self.output if isinstance(self.output, Artifact) else None


@dataclass(frozen=True)
class Step:
    """One step of a rollout: a wave and the clusters it wrote, and when it was built (its
    landing is when the commit carrying it reached the branch: see `promote.live`)."""

    wave: str
    clusters: tuple[str, ...]
    built: dt.datetime


@dataclass(frozen=True)
class Rollout:
    """A source on its way into a waved environment, step by step."""

    source: str
    origin: str  # the environment it is promoted from
    steps: tuple[Step, ...]
    total: int  # the waves the configuration gave when the last step was built
    pending: bool  # more clusters were to go when the last step was built


@dataclass(frozen=True)
class Hold:
    """A source a rollback took off this environment: promoting or publishing it again
    anywhere needs `--force --reason` (or a release)."""

    source: str
    reason: str
    of: str = ""  # the head the rollback replaced: with the branch, names this hold

    def key(self, env: str) -> tuple[str, str, str]:
        return (env, self.source, self.of)


@dataclass(frozen=True)
class Release:
    """A hold lifted (by a forced landing or `hydrate hold --release`), recorded on the
    branch of the environment where that happened."""

    env: str  # the environment whose branch holds the hold
    source: str
    of: str
    reason: str

    def key(self) -> tuple[str, str, str]:
        return (self.env, self.source, self.of)


@dataclass(frozen=True)
class Ledger:
    """What one commit of an environment branch records."""

    environment: str
    branch: str
    agent: str
    source: Source
    clusters: Mapping[str, Cluster]
    kind: str = "publish"
    tools: Mapping[str, str] = field(default_factory=dict)  # hydrate, helm, kustomize
    engine: str | None = None  # digest of hydrate's own code
    rollout: Rollout | None = None
    holds: Mapping[str, Hold] = field(default_factory=dict)  # by source
    released: tuple[Release, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def sources(self) -> dict[str, str]:
        """Each cluster's source."""
        return {name: c.source for name, c in self.clusters.items()}


# --- reading ---------------------------------------------------------------------------

def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise LedgerError(f"{where}: expected a string, found {type(value).__name__}")
    return value


def _map(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise LedgerError(f"{where}: expected a mapping, found {type(value).__name__}")
    return value


def _time(value: object, where: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(_str(value, where))
    except ValueError:
        raise LedgerError(f"{where}: {value!r} is not a time") from None
    if when.tzinfo is None:
        raise LedgerError(f"{where}: {value!r} has no offset")
    return when


def _output(entry: Mapping[str, Any], where: str) -> Output | None:
    tree = entry.get("tree")
    tree = _str(tree, f"{where}.tree") if tree is not None else None
    found = entry.get("artifact")
    if found is None:
        return InTree(tree) if tree is not None else None
    item = _map(found, f"{where}.artifact")
    digest = _str(item.get("digest"), f"{where}.artifact.digest")
    if not digest.startswith("sha256:"):
        raise LedgerError(f"{where}.artifact.digest: {digest!r} is not a sha256 digest")
    return Artifact(_str(item.get("repository"), f"{where}.artifact.repository"), digest,
                    _str(item.get("revision"), f"{where}.artifact.revision"),
                    _str(item.get("created"), f"{where}.artifact.created"), tree)


def _cluster(data: object, default_source: str, where: str) -> Cluster:
    entry = _map(data, where)
    objects = entry.get("objects")
    return Cluster(source=_str(entry.get("source", default_source), f"{where}.source"),
                   digest=str(entry.get("digest", "")),
                   output=_output(entry, where),
                   cls=str(entry.get("class", "")), site=str(entry.get("site", "")),
                   objects=objects if isinstance(objects, int) else None)


def _rollout(data: object, where: str) -> Rollout:
    found = _map(data, where)
    steps = []
    for i, step in enumerate(found.get("waves") or []):
        at = f"{where}.waves[{i}]"
        item = _map(step, at)
        clusters = item.get("clusters") or []
        if not isinstance(clusters, list):
            raise LedgerError(f"{at}.clusters: expected a list")
        steps.append(Step(str(item.get("name", "")), tuple(str(c) for c in clusters),
                          _time(item.get("time"), f"{at}.time")))
    total = found.get("total", len(steps))
    return Rollout(_str(found.get("source"), f"{where}.source"), str(found.get("from", "")),
                   tuple(steps), total if isinstance(total, int) else len(steps),
                   bool(found.get("pending", False)))


def _hold(source: str, data: object, where: str) -> Hold:
    if isinstance(data, str):  # schemaVersion 1
        return Hold(source, data)
    item = _map(data, where)
    return Hold(source, str(item.get("reason", "")), str(item.get("of", "")))


def _release(data: object, where: str) -> Release:
    item = _map(data, where)
    return Release(_str(item.get("env"), f"{where}.env"), _str(item.get("source"),
                   f"{where}.source"), str(item.get("of", "")), str(item.get("reason", "")))


def parse(data: bytes, where: str = PATH) -> Ledger:
    """The ledger in `data` (the file's bytes); LedgerError if it is not one."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise LedgerError(f"{where}: not JSON ({e})") from None
    top = _map(doc, where)
    version = top.get("schemaVersion", 1)
    if not isinstance(version, int) or version < 1:
        raise LedgerError(f"{where}: schemaVersion {version!r} is not a version")
    if version > SCHEMA_VERSION:
        raise LedgerError(f"{where}: schemaVersion {version} is newer than this hydrate "
                          f"reads ({SCHEMA_VERSION}); upgrade hydrate")
    source = _map(top.get("source"), f"{where}: source")
    commit = _str(source.get("commit"), f"{where}: source.commit")
    clusters = _map(top.get("clusters"), f"{where}: clusters")
    tools = top.get("tools") if isinstance(top.get("tools"), dict) else {}
    assert isinstance(tools, dict)
    holds = _map(top.get("holds") or {}, f"{where}: holds")
    released = top.get("released") or []
    if not isinstance(released, list):
        raise LedgerError(f"{where}: released: expected a list")
    engine = top.get("engine")
    return Ledger(
        environment=_str(top.get("environment"), f"{where}: environment"),
        branch=str(top.get("branch", "")), agent=str(top.get("agent", "argocd")),
        source=Source(str(source.get("repo", "")), commit, str(source.get("subject", "")),
                      str(top.get("inputsDigest", "")), str(source.get("path", ""))),
        clusters={str(name): _cluster(entry, commit, f"{where}: clusters.{name}")
                  for name, entry in clusters.items()},
        kind=str(top.get("kind", "publish")),
        tools={str(k): str(v) for k, v in tools.items()},
        engine=engine if isinstance(engine, str) else None,
        rollout=(_rollout(top["rollout"], f"{where}: rollout")
                 if top.get("rollout") is not None else None),
        holds={str(s): _hold(str(s), h, f"{where}: holds.{s}") for s, h in holds.items()},
        released=tuple(_release(r, f"{where}: released[{i}]") for i, r in enumerate(released)),
        schema_version=version)


def _blob(repo: pygit2.Repository, commit: pygit2.Commit) -> bytes | None:
    try:
        entry = commit.tree[PATH]
    except KeyError:
        return None
    blob = repo.get(entry.id)
    return blob.data if isinstance(blob, pygit2.Blob) else None


def load(repo: pygit2.Repository, commit: pygit2.Commit | None) -> Ledger | str | None:
    """The ledger of `commit`; a string saying why it cannot be read; None if it has none."""
    if commit is None:
        return None
    data = _blob(repo, commit)
    if data is None:
        return None
    try:
        return parse(data, f"{str(commit.id)[:7]}:{PATH}")
    except LedgerError as e:
        return str(e)


def read(repo: pygit2.Repository, commit: pygit2.Commit | None) -> Ledger | None:
    """The ledger of `commit` (None: it has none, or one this version cannot read)."""
    found = load(repo, commit)
    return found if isinstance(found, Ledger) else None


# --- writing ---------------------------------------------------------------------------

def _dump_cluster(c: Cluster) -> dict[str, Any]:
    entry: dict[str, Any] = {"digest": c.digest, "source": c.source}
    if c.output is not None and c.output.tree is not None:
        entry["tree"] = c.output.tree
    if isinstance(c.output, Artifact):
        a = c.output
        entry["artifact"] = {"repository": a.repository, "digest": a.digest,
                             "revision": a.revision, "created": a.created}
    if c.cls:
        entry["class"] = c.cls
    if c.site:
        entry["site"] = c.site
    if c.objects is not None:
        entry["objects"] = c.objects
    return entry


def dump(ledger: Ledger) -> bytes:
    """The file's bytes: stable (sorted keys), so equal ledgers are equal blobs."""
    source: dict[str, Any] = {"repo": ledger.source.repo, "commit": ledger.source.commit,
                              "subject": ledger.source.subject}
    if ledger.source.path:
        source["path"] = ledger.source.path
    doc: dict[str, Any] = {
        "schemaVersion": SCHEMA_VERSION,
        "environment": ledger.environment,
        "branch": ledger.branch,
        "agent": ledger.agent,
        "source": source,
        "inputsDigest": ledger.source.inputs_digest,
        "tools": dict(ledger.tools),
        "engine": ledger.engine,
        "clusters": {name: _dump_cluster(ledger.clusters[name]) for name in sorted(ledger.clusters)},
        "kind": ledger.kind,
    }
    if ledger.rollout is not None:
        r = ledger.rollout
        doc["rollout"] = {"source": r.source, "from": r.origin, "total": r.total,
                          "pending": r.pending,
                          "waves": [{"name": s.wave, "clusters": list(s.clusters),
                                     "time": rfc3339(s.built)} for s in r.steps]}
    if ledger.holds:
        doc["holds"] = {s: {"reason": h.reason, "of": h.of} for s, h in ledger.holds.items()}
    if ledger.released:
        doc["released"] = [{"env": r.env, "source": r.source, "of": r.of, "reason": r.reason}
                           for r in ledger.released]
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


# --- holds across environments -----------------------------------------------------------

@dataclass(frozen=True)
class HeldOn:
    """A hold, with the environment whose branch records it."""

    env: str
    hold: Hold

    def key(self) -> tuple[str, str, str]:
        return self.hold.key(self.env)


def holds_in_force(ledgers: Mapping[str, Ledger | None]) -> dict[str, tuple[HeldOn, ...]]:
    """The holds of every environment (`ledgers`: each environment's head), less those a
    release recorded on any of them lifted: source → where it is held. A hold is a hold
    everywhere."""
    lifted = {r.key() for led in ledgers.values() if led is not None for r in led.released}
    found: dict[str, list[HeldOn]] = {}
    for env, led in sorted(ledgers.items()):
        if led is None:
            continue
        for hold in led.holds.values():
            if hold.key(env) not in lifted:
                found.setdefault(hold.source, []).append(HeldOn(env, hold))
    return {s: tuple(h) for s, h in found.items()}


def lifting(env: str, ledger: Ledger | None, held: Iterable[HeldOn],
            reason: str) -> tuple[dict[str, Hold], tuple[Release, ...]]:
    """`ledger`'s holds and releases after a forced landing (or a release) on `env` lifted
    `held`: its own holds on those sources go, and each lifted hold is recorded."""
    held = tuple(held)
    gone = {h.hold.source for h in held if h.env == env}
    holds = {s: h for s, h in (ledger.holds if ledger else {}).items() if s not in gone}
    before = ledger.released if ledger else ()
    new = tuple(Release(h.env, h.hold.source, h.hold.of, reason) for h in held
                if Release(h.env, h.hold.source, h.hold.of, reason) not in before)
    return holds, before + new


# --- trailers ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Trailers:
    """The trailers of one commit."""

    source: str | None = None
    environment: str | None = None
    promoted_from: str = ""  # "<env> <env-branch sha>"
    wave: str = ""
    gates: tuple[str, ...] = ()  # "<gate> <passed|bypassed> <evidence>"
    bypass_reason: str = ""
    reason: str = ""
    rollback_of: str = ""
    released: tuple[str, ...] = ()  # "<source> on <env>"
    run: str = ""

    @property
    def by_hydrate(self) -> bool:
        return self.source is not None


def trailers(commit: pygit2.Commit) -> Trailers:
    """The trailers of `commit` (the last paragraph of its message; trailing blank lines,
    spaces included, are not a paragraph, as for git interpret-trailers)."""
    paragraphs = commit.message.rstrip().split("\n\n")
    found: dict[str, list[str]] = {}
    for line in paragraphs[-1].splitlines() if len(paragraphs) > 1 else ():
        key, sep, value = line.partition(": ")
        if sep and key.startswith("Hydrate-"):
            found.setdefault(key, []).append(value.strip())

    def one(key: str) -> str:
        return found.get(key, [""])[-1]

    return Trailers(one(SOURCE) or None, one(ENVIRONMENT) or None, one(PROMOTED_FROM),
                    one(WAVE), tuple(found.get(GATE, ())), one(BYPASS_REASON), one(REASON),
                    one(ROLLBACK_OF), tuple(found.get(RELEASED, ())), one(RUN))


def trailer_lines(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """`Key: value` lines, each value on one line."""
    return [f"{key}: {' '.join(value.split())}" for key, value in pairs]
