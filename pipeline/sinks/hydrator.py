"""What Argo CD's Source Hydrator writes for the tools that read hydrated branches
(GitOps Promoter first): the root `hydrator.metadata` file of a hydrated commit, and the
git note under `refs/notes/hydrator.metadata` that names the dry commit a hydrated commit
stands for, so a hydration that changed nothing is still recognised.

Written as argoproj/argo-cd does at 37ee0097cf851bc2dd7665fc081bbce61a7e836e:
`util/hydrator/hydrator.go` (`HydratorCommitMetadata`: field order, `omitempty`, no
`commands` at the root; `GetCommitMetadata`: date as RFC 3339, subject and body cut at
the first blank line, known `Argocd-reference-commit-*` lines moved from the body to
`references`), `util/git/client.go` (`RevisionMetadata`: author `%an <%ae>`, author time,
the message trimmed; `GetReferences`), `commitserver/commit/hydratorhelper.go`
(`writeMetadata`: Go's JSON encoder, two-space indent, HTML not escaped, a final newline;
`AddNote`: `json.Marshal(CommitNote)`, added with `git notes add -m`; `util/git/client.go`
`AddAndPushNote`: the note replaced, pushed without force, fetched and added again when
another writer pushed first). GitOps Promoter (argoproj-labs/gitops-promoter
`internal/git/git.go`: `FetchNotes`, `GetHydratorNote`; the ChangeTransferPolicy
controller's `setCommitMetadata`) fetches `refs/notes/hydrator.metadata`, reads the note
of the proposed branch's head with `git notes --ref=refs/notes/hydrator.metadata show`
as JSON and takes its `drySha`, before the root file's: a head with no note counts as the
dry commit its root file names, so a hydration that changed nothing and left the head as
it was must say so in a note.

`mark` writes that note through `pipeline.sinks.gitnotes`: the one note on a commit is
replaced (the last writer's dry commit counts, as with Argo CD), notes on other commits
are never lost to a concurrent writer.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pygit2

from pipeline.sinks import gitnotes, mailaddr
from pipeline.sinks.credentials import local_path
from pipeline.sinks.remote import Remote

NOTES_REF = "refs/notes/hydrator.metadata"
_DRY_SHA = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")
_SHA = re.compile(r"^[0-9a-f]{5,40}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Go's unicode.IsSpace (what strings.TrimSpace trims); Python's str.strip() also trims
# U+001C-U+001F.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_PREFIX = "Argocd-reference-commit-"


def _text(raw: bytes) -> str:
    """Bytes as Go strings reach its JSON encoder: each invalid byte one U+FFFD."""
    return re.sub("[\udc80-\udcff]", "\ufffd", raw.decode("utf-8", "surrogateescape"))


def _date(when: dt.datetime) -> str:
    """RFC 3339 without fractions, `Z` for UTC, as Go's time.RFC3339 writes it."""
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    offset = when.utcoffset() or dt.timedelta(0)
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _reference(key: str, value: str) -> tuple[str, str] | None:
    """A known `Argocd-reference-commit-*` trailer with a valid value, as (field, value)
    of the reference; None for any other line (it stays in the body)."""
    field = key.removeprefix(_PREFIX)
    if field == "repourl":
        bad = (not value or value.startswith(":") or _BAD_ESCAPE.search(value)
               or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value))
        try:
            urlsplit(value)
        except ValueError:
            bad = True
        return None if bad else ("repoUrl", value)
    if field == "author":
        parsed = mailaddr.parse(value)
        return None if parsed is None else ("author", mailaddr.format_address(*parsed))
    if field == "date":
        if not _RFC3339.match(value):
            return None
        try:
            when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return "date", _date(when)
    if field == "subject":
        return "subject", value
    if field == "body":
        try:
            body = json.loads(value)
        except ValueError:
            return None
        return ("body", body) if isinstance(body, str) else None
    if field == "sha":
        return ("sha", value) if _SHA.match(value) else None
    return None


def _references(lines: list[str]) -> tuple[dict[str, str], str]:
    """Argo CD's `GetReferences`: the fields of the one commit the known trailers among
    `lines` describe, and the other lines, each ending in a newline."""
    found: dict[str, str] = {}
    rest: list[str] = []
    for line in lines:
        key, sep, value = line.partition(": ")
        hit = _reference(key, value) if sep and line.startswith(_PREFIX) else None
        if hit is None:
            rest.append(line + "\n")
        else:
            found[hit[0]] = hit[1]
    return found, "".join(rest)


def _lines(text: str) -> list[str]:
    """Go's bufio.ScanLines: split at newlines, a final empty line dropped, `\\r` before
    each newline dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _encode(data: Mapping[str, Any]) -> bytes:
    """Go's json.Encoder with SetIndent("", "  ") and SetEscapeHTML(false)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    return (text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n").encode()


def metadata(repo_url: str | None, dry_sha: str, dry: pygit2.Commit | None) -> bytes:
    """The root `hydrator.metadata` for a hydration of `dry_sha` (its commit `dry`, when
    the repository has it): only the dry commit's facts, so two builds of one source
    write the same bytes. A repository URL that is a path on this machine is left out."""
    data: dict[str, Any] = {}
    if repo_url and local_path(repo_url) is None:
        data["repoURL"] = repo_url
    data["drySha"] = dry_sha
    if dry is None:
        return _encode(data)
    author = f"{_text(dry.author.raw_name)} <{_text(dry.author.raw_email)}>"
    message = _text(dry.raw_message).strip(_GO_SPACE)
    subject, _, body = message.partition("\n\n")
    _, body = _references(_lines(body))
    trailers = dry.message_trailers
    found, _ = _references([f"{k}: {v}" for k, v in trailers.items()] if trailers else [])
    data["author"] = author
    data["date"] = _date(dt.datetime.fromtimestamp(dry.author.time, dt.UTC))
    if subject:
        data["subject"] = subject
    if body:
        data["body"] = body
    if found:
        order = ("author", "date", "subject", "body", "sha", "repoUrl")
        data["references"] = [{"commit": {k: found[k] for k in order if found.get(k)}}]
    return _encode(data)


def is_dry_sha(sha: str) -> bool:
    """Whether `sha` is a full commit id, the only drySha Promoter takes."""
    return _DRY_SHA.match(sha) is not None


def note(dry_sha: str) -> bytes:
    """The note GitOps Promoter reads on a hydrated commit (`{"drySha":"<sha>"}`, as
    Argo CD adds it): what marks the commit as the hydration of `dry_sha`, also when a
    later hydration of another dry commit changed nothing."""
    if not is_dry_sha(dry_sha):
        raise ValueError(f"{dry_sha!r} is not a full commit id (40 or 64 lowercase hex digits)")
    return (json.dumps({"drySha": dry_sha}, separators=(",", ":")) + "\n").encode()


def _replaced_by(body: bytes) -> gitnotes.Edit:
    wanted = body.decode().splitlines()
    return lambda found: None if found == wanted else list(wanted)


def _theirs_first(theirs: gitnotes.Notes, ours: gitnotes.Notes) -> gitnotes.Notes:
    """A note the remote took wins over this repository's on the same commit."""
    return {**ours, **theirs}


def mark(repo: pygit2.Repository, commit: pygit2.Oid, dry_sha: str, who: pygit2.Signature,
         remote: Remote | None = None, push: bool = False) -> None:
    """The note under `NOTES_REF` that makes `commit` the hydration of `dry_sha` for
    GitOps Promoter: on the remote's notes with `push` (compare-and-swap, retried; then
    merged into the local ref), else in this repository's. A note that says so already is
    left as it is."""
    edit = _replaced_by(note(dry_sha))
    if remote is not None and push:
        gitnotes.edit_remote(repo, remote, NOTES_REF, commit, edit, who, _theirs_first)
    else:
        gitnotes.edit_local(repo, NOTES_REF, commit, edit, who)
