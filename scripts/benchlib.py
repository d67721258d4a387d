"""What the benchmark and example scripts share."""

from __future__ import annotations

import pygit2

SIG = pygit2.Signature("bench", "bench@hydrate.dev")


def commit_all(repo: pygit2.Repository, message: str, sig: pygit2.Signature = SIG) -> None:
    """Stage the whole working tree and commit it on HEAD."""
    repo.index.add_all()
    repo.index.write()
    parents = [] if repo.head_is_unborn else [repo.head.target]
    repo.create_commit("HEAD", sig, sig, message, repo.index.write_tree(), parents)
