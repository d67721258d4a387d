"""Evidence in git: records on environment-branch commits, under `refs/notes/hydrate`.

A note is JSON lines, one record each: a check recorded by `hydrate verify` (the state of
one check for an environment, source and wave), or a source made live by a publish that
changed nothing (so it gets a soak of its own). Lines are only ever added. Two writers
that raced are merged by union, so none is lost: locally under a lock, and on a remote
by a merge commit whose first parent is the remote's notes head, pushed without force
(the push is compare-and-swap on that head; a lost race fetches and merges again).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

import pygit2

from pipeline import clock
from pipeline.errors import GitError
from pipeline.sinks.refs import RefLock
from pipeline.sinks.remote import Remote

REF = "refs/notes/hydrate"
ATTEMPTS = 6
STATES = ("success", "failure", "pending")


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
    def parse(cls, line: str) -> Record | None:
        """A record, or None for a line this version cannot read (kept, never judged)."""
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                return None
            record = cls(**{k: str(v) for k, v in data.items()})
            record.when  # noqa: B018 (a time that does not parse makes the line unreadable)
        except (ValueError, TypeError):
            return None
        return record


stamp = clock.rfc3339


def _lines(repo: pygit2.Repository, notes: pygit2.Oid | None) -> dict[str, list[str]]:
    """Every note in the notes commit `notes`: annotated object id → its lines."""
    if notes is None:
        return {}
    found: dict[str, list[str]] = {}

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            obj = repo[entry.id]
            if isinstance(obj, pygit2.Tree):
                walk(obj, prefix + str(entry.name))
            elif isinstance(obj, pygit2.Blob):
                found[prefix + str(entry.name)] = obj.data.decode("utf-8", "replace").splitlines()

    walk(repo[notes].peel(pygit2.Commit).tree, "")
    return found


def records(repo: pygit2.Repository, commit: pygit2.Oid, ref: str = REF) -> list[Record]:
    """The readable records on `commit`, oldest first."""
    head = repo.references.get(ref)
    try:
        note = repo.lookup_note(str(commit), ref) if head is not None else None
    except KeyError:
        note = None
    if note is None:
        return []
    found = (Record.parse(line) for line in note.message.splitlines() if line.strip())
    return [r for r in found if r is not None]


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


def add(repo: pygit2.Repository, commit: pygit2.Oid, new: Iterable[Record],
        who: pygit2.Signature) -> None:
    """Append `new` to the note on `commit` (locally, under a lock)."""
    with RefLock(repo, REF):
        current = _target(repo, REF)
        notes = _lines(repo, current)
        lines = notes.setdefault(str(commit), [])
        lines.extend(r.line() for r in new if r.line() not in lines)
        made = _write(repo, notes, [current] if current is not None else [], who,
                      f"hydrate: notes for {str(commit)[:7]}")
        repo.references.create(REF, made, force=True)


def _merge_into_local(repo: pygit2.Repository, theirs: pygit2.Oid | None,
                      who: pygit2.Signature) -> pygit2.Oid | None:
    """Make the local notes ref hold the union of itself and `theirs`, as a commit whose
    first parent is `theirs` (so pushing it is a fast-forward of the remote's)."""
    with RefLock(repo, REF):
        ours = _target(repo, REF)
        if ours is None and theirs is None:
            return None
        if ours is None or ours == theirs or (
                theirs is not None and repo.descendant_of(theirs, ours)):
            merged = theirs
        elif theirs is None or repo.descendant_of(ours, theirs):
            merged = ours
        else:
            merged = _write(repo, _union(_lines(repo, theirs), _lines(repo, ours)),
                            [theirs, ours], who, "hydrate: merge notes")
        assert merged is not None
        repo.references.create(REF, merged, force=True)
        return merged


def fetch(repo: pygit2.Repository, remote: Remote, who: pygit2.Signature) -> None:
    """Bring the remote's records in (merged with the local ones, nothing pushed)."""
    theirs = remote.fetch_ref(REF, remote.notes_tracking_ref(REF))
    _merge_into_local(repo, theirs.id if theirs is not None else None, who)


def push(repo: pygit2.Repository, remote: Remote, who: pygit2.Signature,
         said: Callable[[str], None] | None = None) -> None:
    """Publish the local records to the remote: fetch, merge, push without force; a
    concurrent writer that pushed first is merged and the push tried again."""
    for _ in range(ATTEMPTS):
        theirs = remote.fetch_ref(REF, remote.notes_tracking_ref(REF))
        merged = _merge_into_local(repo, theirs.id if theirs is not None else None, who)
        if merged is None or (theirs is not None and merged == theirs.id):
            return
        if remote.push_ref(merged, REF, said):
            return
    raise GitError(f"{remote.url}: gave up pushing {REF} after {ATTEMPTS} attempts: other "
                   "writers kept moving it; run the command again (nothing recorded is lost)")
