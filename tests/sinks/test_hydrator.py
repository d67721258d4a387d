"""The root `hydrator.metadata` and the `refs/notes/hydrator.metadata` note body, as Argo
CD's Source Hydrator writes them (tests/data/hydrator/, worked out from its code) and as
GitOps Promoter reads them."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

import pygit2
import pytest

from pipeline.sinks import hydrator, mailaddr
from pipeline.sinks.credentials import Credentials
from pipeline.sinks.remote import Remote
from tests.conftest import BYPASS, ROOT, SIGNATURE, branch_files, hydrate

CASES = json.loads((ROOT / "tests" / "data" / "hydrator" / "metadata-cases.json").read_text())
# What Promoter's status keeps of a note or a file's drySha (HydratorMetadata.DrySha,
# +kubebuilder:validation:Pattern in api/v1alpha1/changetransferpolicy_types.go).
PROMOTER_DRY_SHA = re.compile(r"^([a-f0-9]{40}|[a-f0-9]{64})$")


def _dry(tmp_path: Path, case: dict[str, Any]) -> tuple[pygit2.Repository, pygit2.Commit]:
    repo = pygit2.init_repository(str(tmp_path / "dry"))
    name, email = case["author"]
    who = pygit2.Signature(name, email, case["time"], case["offset"])
    oid = repo.create_commit("HEAD", who, who, case["message"], repo.TreeBuilder().write(), [])
    return repo, repo[oid].peel(pygit2.Commit)


@pytest.mark.parametrize("case", CASES["cases"], ids=[c["name"] for c in CASES["cases"]])
def test_the_root_file_is_what_the_source_hydrator_writes(tmp_path: Path,
                                                          case: dict[str, Any]) -> None:
    _, dry = _dry(tmp_path, case)
    written = hydrator.metadata(case["repoURL"], str(dry.id), dry)
    assert written.decode() == case["expected"].replace("@DRY@", str(dry.id))
    # What GitOps Promoter reads of it: JSON whose drySha it can keep, a date it can parse.
    read = json.loads(written)
    assert PROMOTER_DRY_SHA.match(read["drySha"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", read["date"])
    assert "commands" not in read
    assert "" not in read.values()


def test_without_the_dry_commit_only_what_is_known() -> None:
    sha = "a" * 40
    assert hydrator.metadata("https://github.com/acme/fleet.git", sha, None) == (
        '{\n  "repoURL": "https://github.com/acme/fleet.git",\n  "drySha": "' + sha + '"\n}\n'
    ).encode()
    assert hydrator.metadata("../origin.git", sha, None) == ('{\n  "drySha": "' + sha + '"\n}\n').encode()


def test_the_note_body_is_what_promoter_reads() -> None:
    sha = "0123456789abcdef" * 2 + "01234567"
    body = hydrator.note(sha)
    # Argo CD: git notes add -m "$(json.Marshal(CommitNote{DrySHA}))"; git ends it in a newline.
    assert body == b'{"drySha":"' + sha.encode() + b'"}\n'
    # Promoter: json.Unmarshal of the trimmed note into HydratorMetadata (key drySha).
    assert json.loads(body.strip())["drySha"] == sha
    assert hydrator.note("f" * 64) == b'{"drySha":"' + b"f" * 64 + b'"}\n'
    assert hydrator.NOTES_REF == "refs/notes/hydrator.metadata"
    for bad in ("abc1234", "A" * 40, "g" * 40, "a" * 41, ""):
        with pytest.raises(ValueError, match="not a full commit id"):
            hydrator.note(bad)


def test_mail_addresses_as_go_prints_them() -> None:
    assert mailaddr.format_address("Dana Dev", "dana@example.com") == '"Dana Dev" <dana@example.com>'
    assert mailaddr.format_address("", "dana@example.com") == "<dana@example.com>"
    assert mailaddr.format_address('Dana "D" Dev', "dana@example.com") == \
        '"Dana \\"D\\" Dev" <dana@example.com>'
    assert mailaddr.format_address("Dana", "da..na@example.com") == '"Dana" <"da..na"@example.com>'
    # Not ASCII: Q-encoded, or B-encoded when the name holds a character RFC 2047 forbids
    # in an encoded-word of a display name.
    assert mailaddr.format_address("Jörg", "j@example.com") == "=?utf-8?q?J=C3=B6rg?= <j@example.com>"
    assert mailaddr.format_address("J. Müller", "j@example.com") == \
        "=?utf-8?b?Si4gTcO8bGxlcg==?= <j@example.com>"
    long = mailaddr.format_address("Ü" * 30, "u@example.com")
    assert long.count("=?utf-8?q?") == 3  # ten "=C3=9C" fill the 63 characters of a word
    assert all(len(word) <= 75 for word in long.split(" ")[:-1])
    assert mailaddr.parse("Dana Dev <dana@example.com>") == ("Dana Dev", "dana@example.com")
    assert mailaddr.parse("=?utf-8?q?J=C3=B6rg?= <j@example.com>") == ("Jörg", "j@example.com")
    for bad in ("Dana Dev", "dana@", "@example.com", ""):
        assert mailaddr.parse(bad) is None


def test_a_published_branch_carries_it(example_repo: pygit2.Repository,
                                       remote: pygit2.Repository) -> None:
    example_repo.remotes.create("origin", "https://x-access-token:s3cret@github.com/acme/fleet.git")
    result = hydrate("--repo", example_repo.workdir, "publish", *BYPASS, "--env", "dev",
                     "--env", "staging", "--remote", remote.path, "--push")
    assert result.code == 0, result.err
    head = example_repo.head.peel(pygit2.Commit)
    files = {env: branch_files(remote, f"env/{env}")["hydrator.metadata"] for env in ("dev", "staging")}
    assert files["dev"] == files["staging"]  # only the dry commit's facts
    assert files["dev"] == hydrator.metadata("https://github.com/acme/fleet.git", str(head.id), head)
    read = json.loads(files["dev"])
    assert list(read) == ["repoURL", "drySha", "author", "date", "subject"]
    assert read["repoURL"] == "https://github.com/acme/fleet.git"


def _note(repo: pygit2.Repository, commit: pygit2.Oid) -> bytes | None:
    try:
        return repo.lookup_note(str(commit), hydrator.NOTES_REF).message.encode()
    except KeyError:
        return None


def test_concurrent_writers_lose_no_note(tmp_path: Path, remote: pygit2.Repository) -> None:
    """Four clones note four commits on one remote at the same moment (each round one push
    wins; the last writer needs four of its six tries): each push that lost the race is
    built again on the notes that won; every note is there, exactly, and each clone's own
    notes hold its note."""
    clones = []
    for i in range(4):
        repo = pygit2.init_repository(str(tmp_path / f"clone{i}"), bare=True)
        commit = repo.create_commit(None, SIGNATURE, SIGNATURE, f"hydrated {i}",
                                    repo.TreeBuilder().write(), [])
        clones.append((repo, commit, f"{i:x}" * 40))
    go = threading.Barrier(len(clones))
    failed: list[BaseException] = []

    def write(repo: pygit2.Repository, commit: pygit2.Oid, dry: str) -> None:
        try:
            there = Remote(repo, remote.path, Credentials(), os.environ)
            go.wait()
            hydrator.mark(repo, commit, dry, SIGNATURE, there, push=True)
        except BaseException as e:  # shown below, with the others
            failed.append(e)

    threads = [threading.Thread(target=write, args=clone) for clone in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    for repo, commit, dry in clones:
        assert _note(remote, commit) == hydrator.note(dry)
        assert _note(repo, commit) == hydrator.note(dry)
    notes = remote.references[hydrator.NOTES_REF].peel(pygit2.Commit)
    assert len(notes.tree) == len(clones)


def test_a_note_is_replaced_and_one_that_says_so_already_is_left(tmp_path: Path) -> None:
    """One note per commit, as `git notes add -f` leaves it: the last dry commit counts;
    writing what is there already makes no notes commit."""
    repo = pygit2.init_repository(str(tmp_path / "env"), bare=True)
    commit = repo.create_commit(None, SIGNATURE, SIGNATURE, "hydrated", repo.TreeBuilder().write(), [])
    hydrator.mark(repo, commit, "a" * 40, SIGNATURE)
    hydrator.mark(repo, commit, "b" * 40, SIGNATURE)
    assert _note(repo, commit) == hydrator.note("b" * 40)
    before = repo.references[hydrator.NOTES_REF].target
    hydrator.mark(repo, commit, "b" * 40, SIGNATURE)
    assert repo.references[hydrator.NOTES_REF].target == before


def test_a_local_publish_notes_the_local_branch(example_repo: pygit2.Repository) -> None:
    """Without --remote, the note stays with the local branch it was landed on."""
    result = hydrate("--repo", example_repo.workdir, "publish", "--env", "dev")
    assert result.code == 0, result.err
    tip = example_repo.references["refs/heads/env/dev"].peel(pygit2.Commit)
    assert _note(example_repo, tip.id) == hydrator.note(str(example_repo.head.target))


def test_a_note_the_remote_refuses_names_the_landed_commit_and_the_fix(
        example_repo: pygit2.Repository, remote: pygit2.Repository) -> None:
    """The branch was pushed, its note refused (a hook on refs/notes/*): one line says the
    commit landed, what the remote said, and the git command that adds the note."""
    hook = Path(remote.path) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n  case $ref in refs/notes/*)"
                    " echo 'notes by CI only' >&2; exit 1;; esac\ndone\n")
    hook.chmod(0o755)
    result = hydrate("--repo", example_repo.workdir, "publish", "--env", "dev", "--remote",
                     remote.path, "--push")
    assert result.code == 1
    landed = str(remote.references["refs/heads/env/dev"].target)
    source = str(example_repo.head.target)
    assert result.err == (
        f"hydrate: error: env/dev: {landed[:7]} landed, but its note for GitOps Promoter "
        f"(refs/notes/hydrator.metadata) was not written: {remote.path.rstrip('/')} refused the "
        "push to refs/notes/hydrator.metadata (pre-receive hook declined); the remote said: "
        "notes by CI only; add it with git notes --ref=refs/notes/hydrator.metadata add -f -m "
        f"'{{\"drySha\":\"{source}\"}}' {landed} (and push refs/notes/hydrator.metadata)\n")
    assert hydrator.NOTES_REF not in remote.references
