"""Evidence in git: records on environment-branch commits, under `refs/notes/hydrate`.

A note is JSON lines, one record each: a check recorded by `hydrate verify` (the state of
one check for an environment, source and wave), or a source made live by a publish that
changed nothing (so it gets a soak of its own). Lines are only ever added, so the order
of a note's lines is the order they were written in; two writers that raced are merged by
union, the remote's lines first. Locally that happens under a lock; on a remote a record
is added to the remote's own notes and pushed without force (the push is compare-and-swap
on that head; a lost race fetches and adds again). A record that never reached the remote
is nowhere but in the repository that wrote it: with `--remote`, evidence is read from the
remote's notes alone.

A line this version cannot read (not JSON, a time without offset, a value that is not a
string) is ignored with a warning naming the note; it never stops a command.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields

import pygit2

from pipeline import clock
from pipeline.errors import GitError
from pipeline.sinks.refs import RefLock
from pipeline.sinks.remote import Remote

REF = "refs/notes/hydrate"
ATTEMPTS = 6
STATES = ("success", "failure", "pending")
KINDS = ("check", "live")

stamp = clock.rfc3339
Warn = Callable[[str], None]


@dataclass(frozen=True)
class Record:
    kind: str  # "check" or "live"
    env: str
    source: str
    time: str  # RFC 3339, UTC
    wave: str = ""
    check: str = ""
    state: str = ""
    url: str = ""
    description: str = ""

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.time)

    def line(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v != ""}, sort_keys=True)

    @classmethod
    def parse(cls, line: str) -> Record | str:
        """A record, or why the line is not one this version can read."""
        try:
            data = json.loads(line)
        except ValueError:
            return "not JSON"
        if not isinstance(data, dict):
            return "not a JSON object"
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            return f"unknown field {unknown[0]!r}"
        if any(not isinstance(v, str) for v in data.values()):
            return "a value that is not a string"
        missing = [k for k in ("kind", "env", "source", "time") if not data.get(k)]
        if missing:
            return f"no {missing[0]!r}"
        if data["kind"] not in KINDS:
            return f"kind {data['kind']!r} is neither check nor live"
        try:
            when = dt.datetime.fromisoformat(data["time"])
        except ValueError:
            return f"time {data['time']!r} is not a time"
        if when.tzinfo is None:
            return f"time {data['time']!r} has no offset"
        return cls(**data)


@dataclass(frozen=True)
class Line:
    """A readable record and its place in the note (0 is the first line written)."""

    record: Record
    index: int


@dataclass(frozen=True)
class Evidence:
    """The records of one notes ref: the local `refs/notes/hydrate`, or a remote's as
    fetched. `warn` hears once about each line that is not a record."""

    repo: pygit2.Repository
    ref: str = REF
    warn: Warn | None = None
    _memo: dict[str, tuple[Line, ...]] = field(default_factory=dict, compare=False)

    def lines(self, commit: pygit2.Oid) -> tuple[Line, ...]:
        """The readable records on `commit`, in the order they were written."""
        key = str(commit)
        if key not in self._memo:
            self._memo[key] = self._read(key)
        return self._memo[key]

    def records(self, commit: pygit2.Oid) -> list[Record]:
        return [line.record for line in self.lines(commit)]

    def _read(self, commit: str) -> tuple[Line, ...]:
        ref = self.repo.references.get(self.ref)
        if ref is None:
            return ()
        if not isinstance(self.repo.get(ref.resolve().target), pygit2.Commit):
            if self.warn is not None:
                self.warn(f"{self.ref} is not a notes commit: no record in it is read")
            return ()
        try:
            note = self.repo.lookup_note(commit, self.ref)
        except (KeyError, ValueError, pygit2.GitError):
            return ()
        found = []
        for i, text in enumerate(note.message.splitlines()):
            if not text.strip():
                continue
            parsed = Record.parse(text)
            if isinstance(parsed, Record):
                found.append(Line(parsed, i))
            elif self.warn is not None:
                shown = text if len(text) <= 80 else text[:77] + "..."
                self.warn(f"{self.ref}: the note on {commit[:7]}, line {i + 1}, is ignored "
                          f"({parsed}): {shown}")
        return tuple(found)


def local(repo: pygit2.Repository, warn: Warn | None = None) -> Evidence:
    """The records this repository holds."""
    return Evidence(repo, REF, warn)


def of_remote(repo: pygit2.Repository, remote: Remote, warn: Warn | None = None) -> Evidence:
    """The remote's records, fetched now (into a ref of their own: nothing local mixes in)."""
    fetch(repo, remote)
    return Evidence(repo, remote.notes_tracking_ref(REF), warn)


def _lines(repo: pygit2.Repository, notes: pygit2.Oid | None) -> dict[str, list[str]]:
    """Every note in the notes commit `notes`: annotated object id → its lines."""
    if notes is None:
        return {}
    found: dict[str, list[str]] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            obj = repo.get(entry.id)
            if isinstance(obj, pygit2.Tree):
                walk(obj, prefix + str(entry.name))
            elif isinstance(obj, pygit2.Blob):
                found[prefix + str(entry.name)] = obj.data.decode("utf-8", "replace").splitlines()

    try:
        top = repo[notes].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return found  # a notes ref that is not a commit holds no notes
    walk(top.tree, "")
    return found


def _target(repo: pygit2.Repository, ref: str) -> pygit2.Oid | None:
    found = repo.references.get(ref)
    if found is None:
        return None
    target = found.resolve().target
    assert isinstance(target, pygit2.Oid)
    return target


def _write(repo: pygit2.Repository, notes: Mapping[str, list[str]], parents: list[pygit2.Oid],
           who: pygit2.Signature, message: str) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    for annotated in sorted(notes):
        text = "".join(line + "\n" for line in notes[annotated])
        builder.insert(annotated, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
    return repo.create_commit(None, who, who, message, builder.write(), parents)


def _union(*sides: Mapping[str, list[str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for side in sides:
        for annotated, lines in side.items():
            have = merged.setdefault(annotated, [])
            have.extend(line for line in lines if line not in have)
    return merged


def _adding(repo: pygit2.Repository, base: pygit2.Oid | None, commit: pygit2.Oid,
            new: Iterable[Record], who: pygit2.Signature, where: str = "") -> pygit2.Oid | None:
    """A notes commit on `base` with `new` appended to the note on `commit` (None: they
    are all there already). `where`: whose notes `base` is ("" for this repository's)."""
    if base is not None and not isinstance(repo.get(base), pygit2.Commit):
        there = f" in {where}" if where else ""
        raise GitError(f"{REF}{there} points at {str(base)[:7]}, which is not a commit: git "
                       "notes did not write it, so nothing can be added to it; look at it, "
                       f"then delete it (git update-ref -d {REF}{there}) or point it at the "
                       "notes commit")
    notes = _lines(repo, base)
    lines = notes.setdefault(str(commit), [])
    added = [r.line() for r in new if r.line() not in lines]
    if not added:
        return None
    lines.extend(added)
    return _write(repo, notes, [base] if base is not None else [], who,
                  f"hydrate: notes for {str(commit)[:7]}")


def add(repo: pygit2.Repository, commit: pygit2.Oid, new: Iterable[Record],
        who: pygit2.Signature) -> None:
    """Append `new` to the note on `commit` (locally, under a lock)."""
    with RefLock(repo, REF):
        made = _adding(repo, _target(repo, REF), commit, new, who)
        if made is not None:
            repo.references.create(REF, made, force=True)


def _merge_into_local(repo: pygit2.Repository, theirs: pygit2.Oid | None,
                      who: pygit2.Signature) -> None:
    """Make the local notes ref hold the union of itself and `theirs` (records the remote
    took, kept for commands that read the local notes)."""
    with RefLock(repo, REF):
        ours = _target(repo, REF)
        if theirs is None or ours == theirs:
            return
        if ours is None or repo.descendant_of(theirs, ours):
            merged = theirs
        elif repo.descendant_of(ours, theirs):
            return
        else:
            merged = _write(repo, _union(_lines(repo, theirs), _lines(repo, ours)),
                            [theirs, ours], who, "hydrate: merge notes")
        repo.references.create(REF, merged, force=True)


def fetch(repo: pygit2.Repository, remote: Remote) -> pygit2.Oid | None:
    """Fetch the remote's notes into their tracking ref; its commit (None: it has none)."""
    tracking = remote.notes_tracking_ref(REF)
    try:
        theirs = remote.fetch_ref(REF, tracking)
    except ValueError:  # the remote's notes ref is not a commit
        return _target(repo, tracking)
    return theirs.id if theirs is not None else None


def publish(repo: pygit2.Repository, remote: Remote, commit: pygit2.Oid, new: Iterable[Record],
            who: pygit2.Signature, said: Callable[[str], None] | None = None) -> None:
    """Add `new` to the remote's note on `commit`: built on the remote's notes as fetched,
    pushed without force; a concurrent writer that pushed first is fetched and the records
    added again. Only once the remote took them are they merged into the local notes: a
    refused push (PushRefused) leaves no record anywhere."""
    records = list(new)
    for _ in range(ATTEMPTS):
        theirs = fetch(repo, remote)
        made = _adding(repo, theirs, commit, records, who, remote.url)
        if made is None:
            return
        if remote.push_ref(made, REF, said):
            tracking = remote.notes_tracking_ref(REF)
            repo.references.create(tracking, made, force=True)
            _merge_into_local(repo, made, who)
            return
    raise GitError(f"{remote.url}: gave up pushing {REF} after {ATTEMPTS} attempts: other "
                   "writers kept moving it; run the command again (nothing recorded is lost)")
