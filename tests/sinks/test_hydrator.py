"""The root `hydrator.metadata` and the `refs/notes/hydrator.metadata` note body, as Argo
CD's Source Hydrator writes them (tests/data/hydrator/, worked out from its code) and as
GitOps Promoter reads them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pygit2
import pytest

from pipeline.sinks import hydrator, mailaddr
from tests.conftest import BYPASS, ROOT, branch_files, hydrate

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
