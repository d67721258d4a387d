"""Environment-branch commits made by hand, for the unit tests of what reads them (what is
live, the ledger, planning): real git objects, a ledger per commit as hydrate writes it,
committer times chosen by the test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path

import pygit2

from pipeline.sinks import ledger

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def sig(when: str, name: str = "hydrate") -> pygit2.Signature:
    """A signature at the RFC 3339 time `when` (UTC)."""
    return pygit2.Signature(name, f"{name}@example.com", int(at(when).timestamp()), 0)


def bare(tmp_path: Path, name: str = "r") -> pygit2.Repository:
    return pygit2.init_repository(str(tmp_path / name), bare=True)


def make_ledger(env: str, sources: Mapping[str, str], *, rollout: ledger.Rollout | None = None,
                holds: Mapping[str, ledger.Hold] | None = None, kind: str = "publish",
                released: tuple[ledger.Release, ...] = ()) -> ledger.Ledger:
    """A ledger of `env` whose clusters carry `sources` (cluster → source commit)."""
    first = next(iter(sources.values()), "0" * 40)
    return ledger.Ledger(env, f"env/{env}", "argocd", ledger.Source("repo", first, "subject"),
                         {name: ledger.Cluster(src, f"sha256:{name}") for name, src in
                          sources.items()}, kind=kind, rollout=rollout, holds=dict(holds or {}),
                         released=released)


def commit(repo: pygit2.Repository, ref: str | None, led: ledger.Ledger | None, when: str,
           parents: Sequence[pygit2.Oid] = (), author_time: str | None = None,
           files: Mapping[str, bytes] | None = None, message: str = "c") -> pygit2.Commit:
    """A commit holding `led` as `.hydrate/metadata.json` (and `files`), committed at
    `when` (authored at `author_time`, default the same); `ref` is moved to it."""
    index = pygit2.Index()
    wanted = dict(files or {})
    if led is not None:
        wanted[ledger.PATH] = ledger.dump(led)
    for path, data in sorted(wanted.items()):
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    oid = repo.create_commit(ref, sig(author_time or when), sig(when), message,
                             index.write_tree(repo), list(parents))
    return repo[oid].peel(pygit2.Commit)
