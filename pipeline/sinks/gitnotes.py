"""Git notes refs, edited without losing anyone's note. A notes commit is read as its
notes (annotated object id → the note's lines); an edit of one note is applied on top of
a notes commit; and that edit lands locally, under a lock beside the ref, or on a remote:
built on the remote's notes as fetched and pushed without force (the push is
compare-and-swap on that head), a writer that pushed first fetched and the edit made
again. Only once the remote took it is it merged into the local ref.

`pipeline.promote.notes` keeps hydrate's records under `refs/notes/hydrate` with it (lines
appended); `pipeline.sinks.hydrator` the note GitOps Promoter reads under
`refs/notes/hydrator.metadata` (a note replaced).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pygit2

from pipeline.errors import GitError
from pipeline.sinks.refs import RefLock
from pipeline.sinks.remote import Remote

ATTEMPTS = 6  # pushes of one edit before giving up on a remote that keeps moving

Notes = dict[str, list[str]]  # annotated object id → the lines of its note
Edit = Callable[[list[str]], list[str] | None]  # a note's lines → the new ones (None: as is)
Merge = Callable[[Notes, Notes], Notes]  # (theirs, ours) → one set of notes


def lines(repo: pygit2.Repository, notes: pygit2.Oid | None) -> Notes:
    """Every note in the notes commit `notes` (flat or fanned out into folders)."""
    if notes is None:
        return {}
    found: Notes = {}

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


def target(repo: pygit2.Repository, ref: str) -> pygit2.Oid | None:
    found = repo.references.get(ref)
    if found is None:
        return None
    oid = found.resolve().target
    assert isinstance(oid, pygit2.Oid)
    return oid


def write(repo: pygit2.Repository, notes: Mapping[str, list[str]], parents: list[pygit2.Oid],
          who: pygit2.Signature, message: str) -> pygit2.Oid:
    """A notes commit holding `notes` (one flat tree, as git reads it)."""
    builder = repo.TreeBuilder()
    for annotated in sorted(notes):
        text = "".join(line + "\n" for line in notes[annotated])
        builder.insert(annotated, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB)
    return repo.create_commit(None, who, who, message, builder.write(), parents)


def union(theirs: Notes, ours: Notes) -> Notes:
    """Every line of both, theirs first (for notes whose lines are only ever added)."""
    merged: Notes = {}
    for side in (theirs, ours):
        for annotated, found in side.items():
            have = merged.setdefault(annotated, [])
            have.extend(line for line in found if line not in have)
    return merged


def edited(repo: pygit2.Repository, ref: str, base: pygit2.Oid | None, commit: pygit2.Oid,
           edit: Edit, who: pygit2.Signature, where: str = "") -> pygit2.Oid | None:
    """A notes commit on `base` with `edit` made to the note on `commit` (None: it changes
    nothing). `where`: whose notes `base` is ("" for this repository's)."""
    if base is not None and not isinstance(repo.get(base), pygit2.Commit):
        there = f" in {where}" if where else ""
        raise GitError(f"{ref}{there} points at {str(base)[:7]}, which is not a commit: git "
                       "notes did not write it, so nothing can be added to it; look at it, "
                       f"then delete it (git update-ref -d {ref}{there}) or point it at the "
                       "notes commit")
    notes = lines(repo, base)
    new = edit(list(notes.get(str(commit), [])))
    if new is None:
        return None
    notes[str(commit)] = new
    return write(repo, notes, [base] if base is not None else [], who,
                 f"hydrate: notes for {str(commit)[:7]}")


def edit_local(repo: pygit2.Repository, ref: str, commit: pygit2.Oid, edit: Edit,
               who: pygit2.Signature) -> None:
    """Make `edit` to the note on `commit` in this repository's `ref` (under a lock)."""
    with RefLock(repo, ref):
        made = edited(repo, ref, target(repo, ref), commit, edit, who)
        if made is not None:
            repo.references.create(ref, made, force=True)


def merge_into_local(repo: pygit2.Repository, ref: str, theirs: pygit2.Oid | None,
                     who: pygit2.Signature, merge: Merge) -> None:
    """Make the local `ref` hold `merge` of itself and `theirs` (what the remote took, kept
    for commands that read the local notes)."""
    with RefLock(repo, ref):
        ours = target(repo, ref)
        if theirs is None or ours == theirs:
            return
        if ours is None or repo.descendant_of(theirs, ours):
            merged = theirs
        elif repo.descendant_of(ours, theirs):
            return
        else:
            merged = write(repo, merge(lines(repo, theirs), lines(repo, ours)), [theirs, ours],
                           who, "hydrate: merge notes")
        repo.references.create(ref, merged, force=True)


def fetch(repo: pygit2.Repository, remote: Remote, ref: str) -> pygit2.Oid | None:
    """Fetch the remote's `ref` into its tracking ref; its commit (None: it has none)."""
    tracking = remote.notes_tracking_ref(ref)
    try:
        theirs = remote.fetch_ref(ref, tracking)
    except ValueError:  # the remote's notes ref is not a commit
        return target(repo, tracking)
    return theirs.id if theirs is not None else None


def edit_remote(repo: pygit2.Repository, remote: Remote, ref: str, commit: pygit2.Oid,
                edit: Edit, who: pygit2.Signature, merge: Merge,
                said: Callable[[str], None] | None = None) -> None:
    """Make `edit` to the remote's note on `commit`: on the remote's notes as fetched,
    pushed without force; a concurrent writer that pushed first is fetched and the edit
    made again. Only once the remote took it is it merged into the local `ref`: a refused
    push (PushRefused) leaves it nowhere."""
    for _ in range(ATTEMPTS):
        theirs = fetch(repo, remote, ref)
        made = edited(repo, ref, theirs, commit, edit, who, remote.url)
        if made is None:
            return
        if remote.push_ref(made, ref, said):
            repo.references.create(remote.notes_tracking_ref(ref), made, force=True)
            merge_into_local(repo, ref, made, who, merge)
            return
    raise GitError(f"{remote.url}: gave up pushing {ref} after {ATTEMPTS} attempts: other "
                   "writers kept moving it; run the command again (nothing recorded is lost)")
