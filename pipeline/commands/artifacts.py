"""The OCI output as the commands use it: the registry of an OCI environment reached
before any work, the artifacts stamped before a ledger commit is built, the moving tags
synced after it lands (`pipeline.sinks.oci.publishing` says why in that order), and the
lines the commands print about it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pygit2

from pipeline import clock
from pipeline.config.model import Environment
from pipeline.errors import PipelineError
from pipeline.sinks import branch, ledger
from pipeline.sinks.oci import publishing
from pipeline.sinks.oci.client import Client, RegistryError
from pipeline.words import counted

Target = publishing.Target
Pushed = publishing.Pushed
Clients = dict[tuple[str, bool], Client]  # one per registry, shared by a run's environments


@dataclass(frozen=True)
class OciResult:
    """What one command did in an environment's registry."""

    repository: str
    tag: str
    pushed: publishing.Pushed = field(default_factory=publishing.Pushed)
    synced: publishing.Synced = field(default_factory=publishing.Synced)

    def lines(self) -> list[str]:
        """What a command prints about the registry."""
        p, s = self.pushed, self.synced
        out = []
        if p.artifacts or p.adopted:
            size = f", {p.bytes_uploaded / 1024:.1f} KiB" if p.bytes_uploaded else ""
            adopted = f", {len(p.adopted)} from an earlier run" if p.adopted else ""
            out.append(f"{self.repository}: {counted(len(p.artifacts), 'artifact')} pushed "
                       f"({counted(p.uploaded, 'blob')} uploaded, {p.mounted} mounted{size})"
                       f"{adopted}")
        else:
            out.append(f"{self.repository}: no artifact to push")
        for cluster in p.untagged:
            out.append(f"{cluster}: its source's tag holds another artifact (rendered with other "
                       "tools?); left as it is, the new one is known by its digest")
        moves = [f"{len(names)} {what}" for what, names in (
            ("moved", s.moved), ("created", s.created), ("put back (moved by hand)", s.restored))
            if names]
        out.append(f"tag {self.tag}: " + (", ".join(moves) if moves else
                                            "every cluster's is on the ledger's digest"))
        if s.restored:
            out.append(f"put back: {', '.join(s.restored[:10])}{' …' if len(s.restored) > 10 else ''}")
        if s.republished:
            out.append(f"pushed again from the branch (the registry had lost them): "
                       f"{', '.join(s.republished[:10])}")
        return out


def connect(env: Environment, environ: Mapping[str, str], clusters: Iterable[str],
            clients: Clients | None = None) -> Target | None:
    """The registry of `env` if it is an OCI environment, reached and logged in to
    (`clients`: shared by the environments of one run)."""
    target = publishing.open_target(env, environ, clients)
    if target is not None:
        target.connect(clusters)
    return target


def stamp(repo: pygit2.Repository, target: Target | None, base: pygit2.Commit | None,
          outs: Sequence[branch.ClusterOutput], reused: Mapping[str, ledger.Cluster],
          source: branch.Source, environ: Mapping[str, str], revisions: Mapping[str, str],
          push: bool = True) -> tuple[dict[str, ledger.Artifact] | None, publishing.Pushed]:
    """The artifacts of the commit about to be built on `base`: the rendered `outs` and
    the `reused` clusters (packed from the branch's files where they have no artifact
    yet), pushed unless `push` is False. `revisions`: each cluster's source (default the
    `source`). (None, nothing) for an environment whose manifests go to its branch."""
    if target is None:
        return None, publishing.Pushed()
    before = ledger.read(repo, base)
    recorded = before.clusters if before is not None else {}
    rendered = {o.name: o for o in outs}
    wanted: dict[str, tuple[str, str | None]] = {
        o.name: (revisions.get(o.name, source.commit), o.digest) for o in outs}
    wanted.update((n, (revisions.get(n, e.source), None)) for n, e in reused.items())

    def files(name: str) -> Mapping[str, bytes]:
        if name in rendered:
            return rendered[name].files
        return _tree_files(repo, name, reused[name])

    return publishing.stamp(target, wanted, files, recorded, source.repo,
                            clock.rfc3339(clock.now(environ)), push)


def placing(repo: pygit2.Repository, target: Target | None, head: pygit2.Commit,
            environ: Mapping[str, str]) -> tuple[branch.Placing | None, list[publishing.Pushed]]:
    """For a rollback: each restored cluster's artifact, checked to be in the registry (a
    collected one pushed again from the branch's files), and one packed from those files
    for a cluster restored from before the environment published to a registry."""
    if target is None:
        return None, []
    now = ledger.read(repo, head)
    current = now.clusters if now is not None else {}
    url = now.source.repo if now is not None else ""
    done: list[publishing.Pushed] = []

    def place(clusters: Mapping[str, ledger.Cluster]) -> Mapping[str, ledger.Artifact]:
        changed = {n: a for n, c in clusters.items()
                   if (a := publishing.current(c, target.oci, n)) is not None
                   and publishing.current(current.get(n), target.oci, n) != a}
        for name in publishing.missing(target, changed):
            publishing.republish(target, url, name, changed[name], repo)

        def files(name: str) -> Mapping[str, bytes]:
            return _tree_files(repo, name, clusters[name])

        found, pushed = publishing.stamp(
            target, {n: (c.source, None) for n, c in clusters.items()}, files, clusters, url,
            clock.rfc3339(clock.now(environ)))
        done.append(pushed)
        return found

    return place, done


def _tree_files(repo: pygit2.Repository, name: str, entry: ledger.Cluster) -> Mapping[str, bytes]:
    found = branch.tree_files(repo, pygit2.Oid(hex=entry.tree)) if entry.tree else None
    if found is None:
        raise PipelineError(f"{name}: the branch does not keep its files, so its artifact "
                            "cannot be made: publish with --full")
    return found


def finish(repo: pygit2.Repository, target: Target | None, head: str | None,
           pushed: publishing.Pushed, landed: bool) -> OciResult | None:
    """Put the moving tags on what the ledger at `head` records. An error after a landing
    says the commit stays and a re-run finishes."""
    if target is None or head is None:
        return None
    commit = repo[head].peel(pygit2.Commit)
    led = ledger.read(repo, commit)
    if led is None:
        return None
    before = ledger.read(repo, commit.parents[0]) if commit.parents else None
    try:
        synced = publishing.sync(target, led, before, repo, pushed.bodies)
    except RegistryError as e:
        if not landed:
            raise
        raise RegistryError(f"{e} — the ledger commit {head[:7]} stays on "
                            f"{target.env.branch}; run the command again to move the tags it "
                            "records") from e
    return OciResult(target.oci.repository, target.oci.tag, pushed, synced)
