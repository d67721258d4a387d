"""Which clusters a promotion step renders and which it takes from the branch as they are.

Clusters of other waves keep their subtree and the source they were rendered from. A
cluster of this step whose subtree is the one hydrate recorded, rendered with the same
tools and hydrate, and untouched by the change between its own source and the promoted
one keeps its subtree too (now recorded at the promoted source); every other is rendered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import pygit2

from pipeline.errors import PipelineError
from pipeline.render.tools import Toolset
from pipeline.sinks import branch, ledger
from pipeline.sinks.planning import Since, reusable, same_tools


@dataclass(frozen=True)
class Plan:
    render: tuple[str, ...]
    reuse: dict[str, ledger.Cluster]


def plan(repo: pygit2.Repository, head: pygit2.Commit | None, env: str, members: Iterable[str],
         step: Iterable[str], source: str, tools: Toolset, engine: str, since: Since) -> Plan:
    """The plan for writing `step`'s clusters at `source` on the branch whose head is
    `head`; `members`: every cluster of the environment in the source's configuration."""
    led = ledger.read(repo, head)
    drifted = set(branch.drift(repo, head))
    same = led is not None and same_tools(led, tools, engine)
    wanted = set(step)
    names = set(members)
    usable = reusable(head, led, names - drifted) if head is not None and led is not None else {}
    reuse: dict[str, ledger.Cluster] = {}
    render: list[str] = []
    for name in sorted(names):
        entry = usable.get(name)
        if name not in wanted:
            if entry is not None:
                reuse[name] = entry  # another wave: keeps its source
            continue
        if entry is not None and same:
            try:
                touched = {c for e, c in since(entry.source).clusters if e == env}
            except (PipelineError, KeyError):
                touched = {name}
            if name not in touched:
                reuse[name] = replace(entry, source=source)
                continue
        render.append(name)
    return Plan(tuple(render), reuse)
