"""What a landing on an OCI environment does with the registry, in this order:

1. `stamp`, before the ledger commit is built: every cluster the new ledger will record
   gets an artifact that is in the registry. A cluster whose files are what the ledger
   already records keeps its artifact (nothing pushed); the others are packed and pushed:
   each distinct blob uploaded once, mounted into every other repository that needs it,
   the manifest stored under the source's immutable tag (`<source sha>`). A tag that is
   already there with the same layer and revision (an earlier run that stopped) is
   adopted, so a re-run finishes that run's work; one with other content is left alone.
2. The ledger commit lands (the caller, `sinks.landing`): it names only digests that
   are in the registry.
3. `sync`, after: each cluster's moving tag (the environment's, `prod`) is put on the
   digest the ledger records. Each tag is read, then read again just before it is
   written: a tag someone else moved in between stops the run with one error, and
   nothing is overwritten. A tag behind the ledger (a run that stopped before this
   step) is moved; one someone moved by hand is put back, as a publish restores a
   cluster edited on the branch; the report names both.

`drift` is `status`'s view: where the moving tags are not what the ledger records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field, replace
from typing import TypeVar

import pygit2

from pipeline.config.model import Environment, Oci
from pipeline.errors import PipelineError
from pipeline.sinks import branch, ledger
from pipeline.sinks.oci import artifact, login
from pipeline.sinks.oci.client import Client, RegistryError

WORKERS = 8  # requests in flight to one registry
T = TypeVar("T")
R = TypeVar("R")
Files = Callable[[str], Mapping[str, bytes]]  # a cluster's files, by name


class TagMoved(RegistryError):
    """A moving tag changed between hydrate's read and its write."""


@dataclass(frozen=True)
class Target:
    """An OCI environment and the registry client for it."""

    env: Environment
    oci: Oci
    client: Client

    def name(self, cluster: str) -> str:
        return self.oci.name(cluster)

    def connect(self, clusters: Iterable[str], push: bool = True) -> None:
        """Reach the registry and log in before any work (a wrong password records nothing)."""
        first = min(clusters, default="hydrate")
        self.client.connect(self.name(first), push)


def open_target(env: Environment, environ: Mapping[str, str],
                clients: dict[tuple[str, bool], Client] | None = None) -> Target | None:
    """The registry of an OCI environment (None: its manifests go to its branch).
    `clients`: those of this run, by host, shared by environments on one registry (so a
    blob one pushed is mounted, not uploaded, by the next)."""
    if env.oci is None:
        return None
    key = (env.oci.host, env.oci.plain_http)
    found = (clients or {}).get(key)
    if found is None:
        found = Client(env.oci.host, login.find(env.oci.host, environ), login.ca_bundle(environ),
                       env.oci.plain_http, pool=WORKERS * 2)
        if clients is not None:
            clients[key] = found
    return Target(env, env.oci, found)


def source_tag(source: str) -> str:
    """The immutable tag of a source commit."""
    return source


def _parallel(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`fn` over `items`, WORKERS at a time; the first failure is raised (with how many
    others failed) once every started request has finished."""
    if len(items) <= 1:
        return [fn(i) for i in items]
    results: list[R] = []
    errors: list[PipelineError] = []
    with futures.ThreadPoolExecutor(WORKERS) as pool:
        for done in [pool.submit(fn, i) for i in items]:
            try:
                results.append(done.result())
            except PipelineError as e:
                errors.append(e)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more like it)" if len(errors) > 1 else ""
        raise type(first)(f"{first}{more}") from first
    return results


# --- 1. stamp: push what the ledger will record ------------------------------------------

@dataclass(frozen=True)
class Pushed:
    """What a stamp wrote to the registry."""

    artifacts: tuple[str, ...] = ()  # clusters whose artifact was pushed
    adopted: tuple[str, ...] = ()  # clusters whose artifact an earlier, stopped run pushed
    uploaded: int = 0  # blobs uploaded
    mounted: int = 0  # blobs linked from another repository, nothing uploaded
    bytes_uploaded: int = 0
    untagged: tuple[str, ...] = ()  # immutable tag held other content: left alone
    bodies: Mapping[str, bytes] = field(default_factory=dict)  # manifests, by cluster


@dataclass(frozen=True)
class _Want:
    cluster: str
    packed: artifact.Packed
    revision: str
    created: str


def artifact_of(oci: Oci, env: str, cluster: str, files: Mapping[str, bytes], source_url: str,
                revision: str, created: str) -> artifact.Packed:
    """The artifact of one cluster's files."""
    return artifact.pack(files, oci.layer, source_url, revision, created, env, cluster)


def current(entry: ledger.Cluster | None, oci: Oci, cluster: str) -> ledger.Artifact | None:
    """The artifact `entry` records for `cluster` in this environment's repository."""
    found = entry.artifact if entry is not None else None
    if found is None or found.repository != f"{oci.host}/{oci.name(cluster)}":
        return None
    return found


def stamp(target: Target, wanted: Mapping[str, tuple[str, str | None]], files: Files,
          recorded: Mapping[str, ledger.Cluster], source_url: str, created: str,
          push: bool = True) -> tuple[dict[str, ledger.Artifact], Pushed]:
    """The artifact of each cluster in `wanted` (name → (revision, digest of its files;
    None: the files are those `recorded`)), pushed unless `push` is False (a dry run).
    A cluster whose recorded artifact has the same files keeps it."""
    oci, env = target.oci, target.env.name
    kept: dict[str, ledger.Artifact] = {}
    todo: list[tuple[str, str]] = []
    for cluster, (revision, digest) in sorted(wanted.items()):
        old = recorded.get(cluster)
        have = current(old, oci, cluster)
        if have is not None and old is not None and (digest is None or digest == old.digest):
            kept[cluster] = have
        else:
            todo.append((cluster, revision))

    def pack(item: tuple[str, str]) -> _Want:
        cluster, revision = item
        return _Want(cluster, artifact_of(oci, env, cluster, files(cluster), source_url,
                                          revision, created), revision, created)

    wants = _parallel(pack, todo)
    if not push or not wants:
        return ({**kept, **{w.cluster: _record(oci, w) for w in wants}},
                Pushed(bodies={w.cluster: w.packed.manifest for w in wants}))
    done = _push(target, wants)
    return {**kept, **{w.cluster: _record(oci, w) for w in done[0]}}, done[1]


def _record(oci: Oci, w: _Want) -> ledger.Artifact:
    return ledger.Artifact(f"{oci.host}/{oci.name(w.cluster)}", w.packed.digest, w.revision,
                           w.created)


def _push(target: Target, wants: Sequence[_Want]) -> tuple[list[_Want], Pushed]:
    c = target.client

    # An immutable tag already there: an earlier run of the same source (adopt what it
    # pushed if it holds the same files), or other content (never moved).
    def look(w: _Want) -> tuple[_Want, str | None, bool]:
        name = target.name(w.cluster)
        there = c.resolve(name, source_tag(w.revision))
        if there is None or there == w.packed.digest:
            return w, there, False
        body = c.manifest(name, there)
        shape = artifact.layer_of(body) if body is not None else None
        if (shape is not None and shape[0] == w.packed.layer_digest
                and shape[1].get(artifact.REVISION) == w.revision
                and artifact.CREATED in shape[1] and body is not None):
            adopted = replace(w, packed=replace(w.packed, manifest=body, digest=there),
                              created=shape[1][artifact.CREATED])
            return adopted, there, True
        return w, there, False

    looked = _parallel(look, wants)
    adopted = tuple(w.cluster for w, _, yes in looked if yes)
    fresh = [(w, there) for w, there, yes in looked if not yes and there != w.packed.digest]
    # Each distinct blob is uploaded once (to the first repository that needs it), then
    # mounted into the others.
    first: dict[str, tuple[str, bytes]] = {}
    rest: list[tuple[str, str, bytes]] = []
    for w, _ in fresh:
        for digest, data in w.packed.blobs:
            name = target.name(w.cluster)
            if digest not in first and c.where(digest) is None:
                first[digest] = (name, data)
            else:
                rest.append((name, digest, data))

    def upload(item: tuple[str, tuple[str, bytes]]) -> int:
        digest, (name, data) = item
        if c.has_blob(name, digest):
            return 0
        c.put_blob(name, digest, data)
        return len(data)

    sizes = _parallel(upload, sorted(first.items()))

    def mount(item: tuple[str, str, bytes]) -> int:
        name, digest, data = item
        source = first[digest][0] if digest in first else c.where(digest)
        return len(data) if c.put_blob(name, digest, data, source) else 0

    mounted = _parallel(mount, rest)

    def manifest(item: tuple[_Want, str | None]) -> str | None:
        w, there = item
        name = target.name(w.cluster)
        if there is None:
            c.put_manifest(name, source_tag(w.revision), w.packed.manifest)
            return None
        c.put_manifest(name, w.packed.digest, w.packed.manifest)
        return w.cluster

    untagged = tuple(u for u in _parallel(manifest, fresh) if u is not None)
    done = [w for w, _, _ in looked]
    return done, Pushed(
        tuple(w.cluster for w, _ in fresh), adopted,
        sum(1 for s in sizes if s) + sum(1 for m in mounted if m),
        sum(1 for m in mounted if not m), sum(sizes) + sum(mounted), untagged,
        {w.cluster: w.packed.manifest for w in done})


# --- 3. sync: the moving tags follow the ledger -------------------------------------------

@dataclass(frozen=True)
class Synced:
    moved: tuple[str, ...] = ()  # tags moved to a new digest the ledger records
    restored: tuple[str, ...] = ()  # tags someone had moved elsewhere, put back
    created: tuple[str, ...] = ()  # clusters that had no moving tag yet
    republished: tuple[str, ...] = ()  # artifacts gone from the registry, pushed again from git

    @property
    def changed(self) -> int:
        return len(self.moved) + len(self.restored) + len(self.created)


def recorded(target: Target, led: ledger.Ledger | None,
             only: Iterable[str] | None = None) -> dict[str, ledger.Artifact]:
    """The artifacts the ledger records in this environment's repository, by cluster."""
    if led is None:
        return {}
    names = set(only) if only is not None else None
    return {n: a for n, c in led.clusters.items()
            if (names is None or n in names) and (a := current(c, target.oci, n)) is not None}


def read_tags(target: Target, clusters: Iterable[str], push: bool = True) -> dict[str, str | None]:
    """Where each cluster's moving tag is now (None: no such tag)."""
    names = sorted(clusters)
    found = _parallel(lambda n: target.client.resolve(target.name(n), target.oci.tag, push),
                      names)
    return dict(zip(names, found, strict=True))


def sync(target: Target, led: ledger.Ledger, before: ledger.Ledger | None,
         repo: pygit2.Repository, bodies: Mapping[str, bytes] | None = None,
         read: Mapping[str, str | None] | None = None,
         between: Callable[[], None] | None = None) -> Synced:
    """Put every cluster's moving tag on the digest `led` records. `read`: the tags as
    read before (default: read now); `between`: called after the reads, before any write
    (for tests of a concurrent writer)."""
    want = recorded(target, led)
    seen = dict(read) if read is not None else read_tags(target, want)
    if between is not None:
        between()
    moving = sorted(n for n, a in want.items() if seen.get(n) != a.digest)
    old = recorded(target, before)
    c, tag = target.client, target.oci.tag

    def move(cluster: str) -> tuple[str, str, bool]:
        a = want[cluster]
        name = target.name(cluster)
        body = (bodies or {}).get(cluster)
        if body is None or artifact.digest(body) != a.digest:
            body = c.manifest(name, a.digest)
        again = False
        if body is None:
            body = republish(target, led.source.repo, cluster, a, repo)
            again = True
        now = c.resolve(name, tag)
        if now != seen.get(cluster):
            raise TagMoved(
                f"{name}:{tag} moved while hydrate was moving it (from {_short(seen.get(cluster))} "
                f"to {_short(now)}; the ledger records {_short(a.digest)}): someone else writes "
                f"this tag; hydrate left it; run the command again to put the ledger's digest "
                "on it, or `hydrate status` to see every tag")
        c.put_manifest(name, tag, body)
        was = seen.get(cluster)
        kind = ("created" if was is None else
                "moved" if cluster not in old or old[cluster].digest == was else "restored")
        return cluster, kind, again

    done = _parallel(move, moving)
    return Synced(tuple(n for n, k, _ in done if k == "moved"),
                  tuple(n for n, k, _ in done if k == "restored"),
                  tuple(n for n, k, _ in done if k == "created"),
                  tuple(n for n, _, again in done if again))


def republish(target: Target, source_url: str, cluster: str, a: ledger.Artifact,
              repo: pygit2.Repository) -> bytes:
    """An artifact the ledger records but the registry lost (garbage-collected, deleted),
    packed again from the files the branch keeps: the same files, revision and time give
    the same digest, or this is an error."""
    files = branch.tree_files(repo, pygit2.Oid(hex=a.tree)) if a.tree else None
    name = target.name(cluster)
    if files is None:
        raise RegistryError(f"{name}@{a.digest}: the registry no longer has it and the branch "
                            "does not keep its files: publish again (hydrate publish --full)")
    packed = artifact_of(target.oci, target.env.name, cluster, files, source_url, a.revision,
                         a.created)
    if packed.digest != a.digest:
        raise RegistryError(f"{name}@{a.digest}: the registry no longer has it, and its files "
                            f"packed again give {packed.digest[:19]}… (another hydrate, zlib "
                            "or source URL?): publish again (hydrate publish --full)")
    for digest, data in packed.blobs:
        if not target.client.has_blob(name, digest):
            target.client.put_blob(name, digest, data)
    target.client.put_manifest(name, a.digest, packed.manifest)
    return packed.manifest


def _short(digest: str | None) -> str:
    return "no tag" if digest is None else digest[:19] + "…"


def missing(target: Target, artifacts: Mapping[str, ledger.Artifact]) -> list[str]:
    """The clusters whose recorded artifact the registry does not have."""
    names = sorted(artifacts)
    found = _parallel(lambda n: target.client.manifest(target.name(n), artifacts[n].digest)
                      is not None, names)
    return [n for n, ok in zip(names, found, strict=True) if not ok]


# --- status ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Drift:
    cluster: str
    tag: str | None  # where the moving tag is (None: missing)
    recorded: str  # what the ledger records


def drift(target: Target, led: ledger.Ledger | None) -> list[Drift]:
    """The clusters whose moving tag is not on the digest the ledger records."""
    want = recorded(target, led)
    target.connect(want, push=False)
    tags = read_tags(target, want, push=False)
    return [Drift(n, tags[n], a.digest) for n, a in sorted(want.items()) if tags[n] != a.digest]
