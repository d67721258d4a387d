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
string) is ignored with a warning naming the note; it never stops a command. The notes ref
itself is read, edited and pushed by `pipeline.sinks.gitnotes`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields

import pygit2

from pipeline import clock
from pipeline.sinks import gitnotes
from pipeline.sinks.remote import Remote

REF = "refs/notes/hydrate"
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


def judged(repo: pygit2.Repository, remote: Remote | None, warn: Warn | None = None) -> Evidence:
    """The records gates judge: the remote's when there is one (fetched now), else the
    repository's own."""
    return of_remote(repo, remote, warn) if remote is not None else local(repo, warn)


def _appending(new: Iterable[Record]) -> gitnotes.Edit:
    """The edit that adds the lines of `new` a note does not hold yet, after its own."""
    wanted = [r.line() for r in new]

    def edit(found: list[str]) -> list[str] | None:
        added = [line for line in wanted if line not in found]
        return [*found, *added] if added else None

    return edit


def add(repo: pygit2.Repository, commit: pygit2.Oid, new: Iterable[Record],
        who: pygit2.Signature) -> None:
    """Append `new` to the note on `commit` (locally, under a lock)."""
    gitnotes.edit_local(repo, REF, commit, _appending(new), who)


def fetch(repo: pygit2.Repository, remote: Remote) -> pygit2.Oid | None:
    """Fetch the remote's notes into their tracking ref; its commit (None: it has none)."""
    return gitnotes.fetch(repo, remote, REF)


def publish(repo: pygit2.Repository, remote: Remote, commit: pygit2.Oid, new: Iterable[Record],
            who: pygit2.Signature, said: Callable[[str], None] | None = None) -> None:
    """Add `new` to the remote's note on `commit`: built on the remote's notes as fetched,
    pushed without force; a concurrent writer that pushed first is fetched and the records
    added again. Only once the remote took them are they merged into the local notes: a
    refused push (PushRefused) leaves no record anywhere."""
    gitnotes.edit_remote(repo, remote, REF, commit, _appending(new), who, gitnotes.union, said)
