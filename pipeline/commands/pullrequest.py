"""Pull-request mode of `hydrate promote` (`pullRequest: true`, or `--pull-request`).

The promotion commit is built as for a direct promotion, on the environment branch's
head, and pushed to `<branch>-next` instead; the pull request's body (the gates, then the
rendered diff against the branch) is written for the workflow, which opens or updates
the PR. Re-running rebuilds `-next` on the head and rewrites the body, so one PR follows
the promotion until it is merged (then the branch carries the commit's trees).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from pipeline.commands.diff import side_of_branch
from pipeline.config.model import Environment
from pipeline.promote.gates import Gate
from pipeline.review import diffviews
from pipeline.review.diff import DiffResult, Revision, compare
from pipeline.review.redact import Redactor
from pipeline.sinks import landing, places
from pipeline.sinks.remote import Remote


@dataclass(frozen=True)
class Opened:
    branch: str  # <branch>-next
    body: str
    pushed: bool


def diff_against(repo: pygit2.Repository, target: Environment, to_head: pygit2.Commit | None,
                 commit: pygit2.Oid, label: str) -> DiffResult:
    """What `commit` changes against the environment branch's head, object by object."""
    built = repo[commit].peel(pygit2.Commit)
    base = side_of_branch(repo, to_head, target.name) if to_head is not None else {}
    return compare(base, side_of_branch(repo, built, target.name),
                   Revision(target.branch, str(to_head.id) if to_head else "", "the branch"),
                   Revision(label, str(commit), built.message.splitlines()[0]),
                   Redactor(os.urandom(16)), (target.name,))


def open_or_update(repo: pygit2.Repository, target: Environment,
                   to_head: pygit2.Commit | None, commit: pygit2.Oid, title: str,
                   gates: Sequence[Gate], remote: Remote | None, push: bool,
                   output: Path | None, log: str, config: Path) -> Opened:
    """Pull-request mode: the promotion commit (built on the environment branch's head)
    goes to `<branch>-next`, which hydrate rebuilds on every run (so it is replaced, the
    one branch hydrate ever moves that way); the body (gates, then the rendered diff
    against the branch) is written to `output` for the workflow to open or update the PR,
    as any report file is (never over a file of the configuration `config`)."""
    next_branch = f"{target.branch}-next"
    result = diff_against(repo, target, to_head, commit, next_branch)
    lines = [f"## {title}", "", "| gate | | evidence |", "|---|---|---|"]
    lines += [f"| {g.name} | {'✅' if g.passed else '⚠️ bypassed'} | {g.evidence} |"
              for g in gates]
    body = "\n".join([*lines, "", diffviews.to_markdown(result)])
    if output is not None:
        places.write_file(output, (body if body.endswith("\n") else body + "\n").encode(),
                          what="--output", repo=config)
    landed = landing.land(repo, commit, landing.Destination(next_branch, remote, push,
                                                            replace=True), None, log)
    assert landed is not None  # a replaced branch never loses a race
    return Opened(next_branch, body, landed.pushed)
