"""The one way a commit lands on a branch: compare-and-swap, one retry policy, the
remote's refusal shown."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from pipeline.errors import GitError
from pipeline.sinks import landing
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import PushRefused, Remote

WHO = pygit2.Signature("t", "t@example.com", 1_790_000_000, 0)


def commit(repo: pygit2.Repository, parents: list[pygit2.Oid], text: bytes = b"x") -> pygit2.Oid:
    tree = repo.TreeBuilder()
    tree.insert("f", repo.create_blob(text), pygit2.enums.FileMode.BLOB)
    return repo.create_commit(None, WHO, WHO, "c", tree.write(), parents)


def test_a_local_landing_is_compare_and_swap(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    first = commit(repo, [])
    dest = landing.Destination("env/dev")
    assert landing.land(repo, first, dest, None, "first") == landing.Landed(str(first))
    second, rival = commit(repo, [first], b"a"), commit(repo, [first], b"b")
    assert landing.land(repo, rival, dest, first, "rival") is not None
    assert landing.land(repo, second, dest, first, "lost") is None  # the branch moved
    assert repo.references["refs/heads/env/dev"].target == rival


def test_a_remote_landing_is_pushed_never_forced_and_a_refusal_is_shown(tmp_path: Path) -> None:
    repo = pygit2.init_repository(str(tmp_path / "r"), bare=True)
    bare = pygit2.init_repository(str(tmp_path / "remote.git"), bare=True)
    remote = Remote(repo, bare.path, Credentials(), {"PATH": "/usr/bin:/bin"})
    dest = landing.Destination("env/dev", remote, push=True)
    first = commit(repo, [])
    landed = landing.land(repo, first, dest, None, "first")
    assert landed is not None
    assert landed.pushed
    assert bare.references["refs/heads/env/dev"].target == first
    stale = commit(repo, [], b"not on top")
    assert landing.land(repo, stale, dest, None, "stale") is None  # not a fast-forward
    hook = Path(bare.path) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'env branches are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(PushRefused, match="the remote said: env branches are frozen"):
        landing.land(repo, commit(repo, [first], b"next"), dest, first, "refused")
    assert bare.references["refs/heads/env/dev"].target == first


def test_retrying_backs_off_then_gives_up_with_one_line() -> None:
    slept: list[float] = []
    tries: list[int] = []

    def attempt(n: int) -> str | None:
        tries.append(n)
        return None

    with pytest.raises(GitError) as caught:
        landing.retrying(attempt, "env/dev", "writers", "rollback", landing.Retry(3, 0.1, 2.0),
                         slept.append)
    assert str(caught.value) == ("env/dev: gave up after 3 attempts: other writers kept moving "
                                 "the branch; run the rollback again")
    assert tries == [1, 2, 3]
    assert len(slept) == 2
    assert 0.1 <= slept[0] <= 0.3
    assert landing.retrying(lambda n: "done" if n == 2 else None, "b", "w", "c",
                            sleep=slept.append) == "done"
