"""The comparison behind `hydrate diff` (the command itself is `review`).

Objects are compared by identity (group, kind, namespace, name); a kustomize
generator's hash-suffixed name that changes is one change, not a removal and an
addition. Every object is redacted before it is compared or printed (see `redact`).
Clusters whose changes have the same shape form one group; those whose changes are
identical to the value are one variant of it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pipeline.access.changes import AccessChange
from pipeline.config import yamlio
from pipeline.render.resources import ResId
from pipeline.review import risks
from pipeline.review.redact import Redactor
from pipeline.validate.findings import Finding

HASHED_KINDS = {("", "ConfigMap"), ("", "Secret")}
_HASH_SUFFIX = re.compile(r"^(?P<stem>.+)-[bcdfghkmt2-9]{10}$")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_MISSING = object()


@dataclass(frozen=True)
class Revision:
    rev: str
    commit: str  # a full sha; "" when the side is several env branches (see `branches`)
    subject: str
    # --against-branch: (environment, branch, head sha) of each branch read
    branches: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ObjectChange:
    package: str
    change: str  # added | removed | changed
    api_version: str
    kind: str
    namespace: str
    name: str
    old_name: str | None = None  # when a generator's hash suffix changed
    paths: tuple[str, ...] = ()
    diff: str = ""
    risks: tuple[risks.Risk, ...] = ()
    # Digests of each path's (old, new) values: tell variants apart; not part of the result.
    values: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


ClusterRef = tuple[str, str, str]  # (environment, cluster, class)


@dataclass(frozen=True)
class Variant:
    """Clusters whose changes are identical: same objects, fields and values."""

    clusters: tuple[ClusterRef, ...]
    objects: tuple[ObjectChange, ...]


@dataclass(frozen=True)
class Group:
    """Clusters whose changes have the same shape (same objects, same changed fields).

    One variant: the very same change everywhere. Several: the values of the fields in
    `varying` differ between clusters (a checksum, a store id); `objects` shows the first
    variant's change.
    """

    id: str
    status: str  # changed | added | removed (the clusters' status)
    variants: tuple[Variant, ...]
    varying: tuple[str, ...] = ()  # "<object label>: <path>" whose values differ

    @property
    def clusters(self) -> tuple[ClusterRef, ...]:
        return tuple(c for v in self.variants for c in v.clusters)

    @property
    def objects(self) -> tuple[ObjectChange, ...]:
        return self.variants[0].objects


@dataclass(frozen=True)
class TableRow:
    environment: str
    cls: str
    changed: int
    unchanged: int
    added: int
    removed: int
    objects_added: int
    objects_changed: int
    objects_removed: int


@dataclass(frozen=True)
class RiskEntry:
    rule: str
    level: str
    message: str
    package: str
    object: str
    clusters: tuple[str, ...]


@dataclass(frozen=True)
class DiffResult:
    base: Revision
    head: Revision
    groups: tuple[Group, ...] = ()
    table: tuple[TableRow, ...] = ()
    risks: tuple[RiskEntry, ...] = ()
    unchanged: int = 0
    error: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    findings_added: tuple[Finding, ...] = ()  # validation findings the change brings
    findings_removed: tuple[Finding, ...] = ()  # ... and those it fixes
    access_gained: tuple[AccessChange, ...] = ()  # permissions subjects gain (pipeline.access)
    access_lost: tuple[AccessChange, ...] = ()  # ... and lose

    @property
    def changed(self) -> bool:
        return bool(self.groups)

    @property
    def findings_changed(self) -> bool:
        return bool(self.findings_added or self.findings_removed)

    @property
    def clusters_changed(self) -> int:
        return sum(len(g.clusters) for g in self.groups)


# --- comparing -----------------------------------------------------------------------

@dataclass(frozen=True)
class Obj:
    """One side's object: parsed only when it takes part in a change."""

    package: str
    text: bytes

    @cached_property
    def body(self) -> Mapping[str, Any]:
        parsed: Mapping[str, Any] = yamlio.load(self.text)
        return parsed


Key = tuple[str, str, str, str]  # group, kind, namespace, name


@dataclass(frozen=True)
class ClusterSide:
    cls: str
    objects: Mapping[Key, Obj]


Side = Mapping[tuple[str, str], ClusterSide]  # (environment, cluster) → its objects


def _path(base: str, key: Any) -> str:
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return f"{base}.{key}" if base else key
    return f"{base}[{json.dumps(key)}]"


def field_changes(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, old, new) of every changed leaf; list items with unique `name`s are matched
    by name (`containers[name=app].image`)."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[tuple[str, Any, Any]] = []
        for k in sorted(set(old) | set(new), key=str):
            found += field_changes(old.get(k, _MISSING), new.get(k, _MISSING), _path(path, k))
        return found
    if isinstance(old, list) and isinstance(new, list):
        names_old, names_new = _names(old), _names(new)
        if names_old is not None and names_new is not None:
            found = []
            for name in sorted(set(names_old) | set(names_new)):
                found += field_changes(names_old.get(name, _MISSING), names_new.get(name, _MISSING),
                                       f"{path}[name={name}]")
            return found
        if len(old) == len(new):
            return [c for i, (a, b) in enumerate(zip(old, new, strict=True))
                    for c in field_changes(a, b, f"{path}[{i}]")]
    if old == new and type(old) is type(new):
        return []
    return [(path, None if old is _MISSING else old, None if new is _MISSING else new)]


def _names(items: list[Any]) -> dict[str, Any] | None:
    if not items or not all(isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in items):
        return None
    names = {i["name"]: i for i in items}
    return names if len(names) == len(items) else None


def _unified(old: str, new: str, label: str) -> str:
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                 fromfile=f"a/{label}", tofile=f"b/{label}", n=3)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _stem(kind: str, group: str, name: str) -> str:
    match = _HASH_SUFFIX.match(name)
    return match["stem"] + "-*" if match and (group, kind) in HASHED_KINDS else name


def _change(kind: str, package: str, old: Mapping[str, Any] | None,
            new: Mapping[str, Any] | None, redactor: Redactor) -> tuple[ObjectChange, str, str]:
    """One object change, its fingerprint (equal for equal changes) and its shape (equal
    for changes of the same fields of the same object)."""
    safe_old = redactor.object(old) if old is not None else None
    safe_new = redactor.object(new) if new is not None else None
    body = safe_new if safe_new is not None else safe_old
    assert body is not None
    rid = ResId.of(body)
    old_text = yamlio.dump(safe_old) if safe_old is not None else ""
    new_text = yamlio.dump(safe_new) if safe_new is not None else ""
    changes = field_changes(safe_old, safe_new) if kind == "changed" else []
    paths = tuple(p for p, _, _ in changes)
    old_name = ResId.of(safe_old).name if safe_old is not None and kind == "changed" else None
    label = f"{package}/{rid.filename}"
    change = ObjectChange(
        package, kind, str(body.get("apiVersion", "")), rid.kind, rid.namespace, rid.name,
        old_name if old_name != rid.name else None, paths,
        _unified(old_text, new_text, label), tuple(risks.assess(kind, safe_old, safe_new, paths)),
        tuple(hashlib.sha256(json.dumps([o, n], default=str, sort_keys=True).encode()).hexdigest()
              for _, o, n in changes))
    content = changes if kind == "changed" else hashlib.sha256(
        (old_text + new_text).encode()).hexdigest()
    fingerprint = json.dumps([package, rid, kind, change.old_name, content], default=str)
    shape = json.dumps([package, rid.group, rid.kind, rid.namespace,
                        _stem(rid.kind, rid.group, rid.name), kind, paths])
    return change, fingerprint, shape


def _pair_renames(removed: dict[Key, Obj], added: dict[Key, Obj]) -> list[tuple[Obj, Obj]]:
    """Generator objects whose hash suffix changed: (old, new) pairs, taken out of both."""
    pairs = []
    for key in sorted(added):
        group, kind, _ns, name = key
        match = _HASH_SUFFIX.match(name)
        if (group, kind) not in HASHED_KINDS or not match:
            continue
        for old_key in sorted(removed):
            old_match = _HASH_SUFFIX.match(old_key[3])
            if (old_key[:3] == key[:3] and old_match and old_match["stem"] == match["stem"]
                    and removed[old_key].package == added[key].package):
                pairs.append((removed.pop(old_key), added.pop(key)))
                break
    return pairs


@dataclass(frozen=True)
class _ClusterChanges:
    objects: tuple[ObjectChange, ...]
    fingerprint: str
    shape: str


def compare_cluster(base: ClusterSide | None, head: ClusterSide | None,
                    redactor: Redactor) -> _ClusterChanges:
    old = base.objects if base is not None else {}
    new = head.objects if head is not None else {}
    found: list[tuple[ObjectChange, str, str]] = []
    removed = {k: o for k, o in old.items() if k not in new}
    added = {k: o for k, o in new.items() if k not in old}
    for k in sorted(set(old) & set(new)):
        if old[k].text != new[k].text:
            found.append(_change("changed", new[k].package, old[k].body, new[k].body, redactor))
    for a, b in _pair_renames(removed, added):
        found.append(_change("changed", b.package, a.body, b.body, redactor))
    for k in sorted(removed):
        found.append(_change("removed", removed[k].package, removed[k].body, None, redactor))
    for k in sorted(added):
        found.append(_change("added", added[k].package, None, added[k].body, redactor))
    found.sort(key=lambda c: c[2])  # by shape, so equal shapes list objects in one order

    def digest(parts: Iterable[str]) -> str:
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    return _ClusterChanges(tuple(c for c, _, _ in found), digest(f for _, f, _ in found),
                           digest(sh for _, _, sh in found))


def _varying(variants: Sequence[Variant]) -> tuple[str, ...]:
    """Fields whose values differ between the variants of one shape."""
    if len(variants) < 2:
        return ()
    found: list[str] = []
    for index, first in enumerate(variants[0].objects):
        others = [v.objects[index] for v in variants[1:]]
        if first.change != "changed":
            if any(o.diff != first.diff for o in others):
                found.append(f"{first.label}: (content)")
            continue
        for i, path in enumerate(first.paths):
            if len({o.values[i] if i < len(o.values) else "" for o in (first, *others)}) > 1:
                found.append(f"{first.label}: {path}")
    return tuple(dict.fromkeys(found))


def compare(base: Side, head: Side, base_rev: Revision, head_rev: Revision,
            redactor: Redactor, env_order: Sequence[str] = (),
            untouched: Sequence[ClusterRef] = (), agents: Mapping[str, str] | None = None,
            moves: Mapping[str, risks.Move] | None = None) -> DiffResult:
    """The whole diff between two sides (environments sorted as in `env_order`).
    `untouched` clusters were not rendered because nothing of theirs changed. `agents`:
    each environment's agent on the base side (default argocd); `moves`: the clusters whose
    environment the change moves (a cluster that leaves one environment of the diff and
    appears in another is taken as moved too)."""
    rank = {e: i for i, e in enumerate(env_order)}

    def order(key: tuple[str, str]) -> tuple[int, str, str]:
        return (rank.get(key[0], len(rank)), key[0], key[1])

    exact: dict[tuple[str, str, str], list[ClusterRef]] = defaultdict(list)
    changes_of: dict[tuple[str, str, str], tuple[ObjectChange, ...]] = {}
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    unchanged = len(untouched)
    for env, _, cls in untouched:
        counts[(env, cls)]["unchanged"] += 1
    for env, name in sorted(set(base) | set(head), key=order):
        b, h = base.get((env, name)), head.get((env, name))
        cls = (h or b).cls  # type: ignore[union-attr]
        status = "added" if b is None else "removed" if h is None else "changed"
        found = compare_cluster(b, h, redactor)
        objects = found.objects
        row = counts[(env, cls)]
        if not objects:
            unchanged += 1
            row["unchanged"] += 1
            continue
        row[status] += 1
        for o in objects:
            row[f"objects_{o.change}"] += 1
        key = (status, found.shape, found.fingerprint)
        exact[key].append((env, name, cls))
        changes_of.setdefault(key, objects)
    shapes: dict[tuple[str, str], list[Variant]] = defaultdict(list)
    for key in sorted(exact, key=lambda k: (-len(exact[k]), order(exact[k][0][:2]))):
        shapes[key[:2]].append(Variant(tuple(exact[key]), changes_of[key]))
    biggest_first = sorted(shapes, key=lambda s: (-sum(len(v.clusters) for v in shapes[s]),
                                                  order(shapes[s][0].clusters[0][:2])))
    groups = tuple(Group(f"g{i + 1}", key[0], tuple(shapes[key]), _varying(shapes[key]))
                   for i, key in enumerate(biggest_first))
    table = tuple(TableRow(env, cls, c["changed"], c["unchanged"], c["added"], c["removed"],
                           c["objects_added"], c["objects_changed"], c["objects_removed"])
                  for (env, cls), c in sorted(counts.items(), key=lambda kv: order(kv[0])))
    return DiffResult(base_rev, head_rev, groups, table,
                      _risks(groups, agents or {}, moves or {}), unchanged)


def _risks(groups: Sequence[Group], agents: Mapping[str, str],
           moves: Mapping[str, risks.Move]) -> tuple[RiskEntry, ...]:
    merged: dict[tuple[str, str, str, str, str], list[str]] = defaultdict(list)
    found = dict(moves)
    arrived = {name: env for g in groups if g.status == "added" for env, name, _ in g.clusters}
    for g in groups:
        if g.status == "removed":
            for env, name, _ in g.clusters:
                if name not in found and arrived.get(name, env) != env:
                    found[name] = risks.Move(name, env, arrived[name], agents.get(env, "argocd"),
                                             agents.get(arrived[name], "argocd"))
    for g in groups:
        for env, name, _ in g.clusters if g.status in ("added", "removed") else ():
            move = found.get(name)
            if move is not None:
                risk = risks.cluster_moved(move)
            elif g.status == "removed":
                risk = risks.cluster_removed(name, env, agents.get(env, "argocd"))
            else:
                continue
            if name not in merged[(risk.level, risk.rule, risk.message, "", name)]:
                merged[(risk.level, risk.rule, risk.message, "", name)].append(name)
        if g.status == "removed":
            continue
        for variant in g.variants:
            names = [c for _, c, _ in variant.clusters]
            for o in variant.objects:
                for r in o.risks:
                    merged[(r.level, r.rule, r.message, o.package, o.label)].extend(names)
    entries = [RiskEntry(rule, level, message, package, obj, tuple(sorted(set(clusters))))
               for (level, rule, message, package, obj), clusters in merged.items()]
    return tuple(sorted(entries, key=lambda r: (r.level != risks.HIGH, r.rule, r.package, r.object)))


