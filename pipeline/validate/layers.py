"""Which layer set the field a finding is about, so that a pull request that only touches
an overlay gets its annotation there: the last Component patch (strategic merge or JSON
6902) that selects the object and spells out the field, else, for a Helm package, the
last values file (the package's, then each layer's, as `hydrate explain` orders them)
that sets a value the template line inserts. Read from the files as they are written,
each read and parsed once; no tool runs.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import yaml

from pipeline.validate.findings import Source
from pipeline.validate.sources import Reader, Step, Trace, deepest, steps, walk

_VALUES = re.compile(rb"\.Values((?:\.[A-Za-z_][A-Za-z0-9_-]*)+)")
_SETTING_OPS = ("add", "replace", "copy", "move")


class Object(NamedTuple):
    """The object a finding is about, as patch targets select it."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    body: Callable[[], Any]  # the rendered object, parsed when a label selector needs it


class _Patch(NamedTuple):
    file: str  # where its text is (a patch file, or the kustomization for an inline one)
    base: int  # the 0-based line of that file where the text starts
    docs: list[yaml.Node]
    target: Mapping[str, Any] | None


def _compose(text: bytes | str) -> list[yaml.Node] | None:
    try:
        return [d for d in yaml.compose_all(text, Loader=yaml.CSafeLoader) if d is not None]
    except yaml.YAMLError:
        return None  # a template (.j2) that is no YAML before it is rendered


def _plain(node: yaml.Node) -> Any:
    """A node as data (for targets and ops), without resolving tags."""
    if isinstance(node, yaml.MappingNode):
        return {_plain(k): _plain(v) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(v) for v in node.value]
    return node.value


def _selects(target: Mapping[str, Any], obj: Object) -> bool:
    """Kustomize's patch target selection (names and namespaces are anchored regexps)."""
    for key, have in (("group", obj.group), ("version", obj.version), ("kind", obj.kind)):
        if key in target and str(target[key]) != have:
            return False
    for key, have in (("name", obj.name), ("namespace", obj.namespace)):
        try:
            if key in target and re.fullmatch(str(target[key]), have) is None:
                return False
        except re.error:
            return False  # kustomize refuses it too
    for key, meta in (("labelSelector", "labels"), ("annotationSelector", "annotations")):
        if key in target:
            body = obj.body()
            given = body.get("metadata", {}).get(meta, {}) if isinstance(body, Mapping) else {}
            for term in str(target[key]).split(","):
                k, eq, v = term.partition("=")
                if k.strip() and (k.strip() not in given or (eq and str(given[k.strip()]) != v.strip())):
                    return False
    return True


def _own_target(doc: yaml.Node, obj: Object) -> bool:
    """A strategic merge patch without a target selects by its own kind, name, namespace."""
    data = _plain(doc)
    if not isinstance(data, Mapping):
        return False
    found = data.get("metadata")
    meta: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    group = str(data.get("apiVersion", "")).rpartition("/")[0]
    return (data.get("kind") == obj.kind and meta.get("name") == obj.name and group == obj.group
            and meta.get("namespace", obj.namespace) in (obj.namespace, None, ""))


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _touches(op_path: list[str], field: list[str]) -> bool:
    """Whether a JSON patch at `op_path` writes the field or something in or above it."""
    return all(a == b or "-" in (a, b) for a, b in zip(op_path, field, strict=False))


class Setters:
    """Finds the file and line that set a field, reading and parsing each file once."""

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._texts: dict[str, bytes | None] = {}
        self._patches: dict[str, list[_Patch]] = {}
        self._values: dict[str, list[yaml.Node] | None] = {}

    def _text(self, path: str) -> bytes | None:
        if path not in self._texts:
            try:
                self._texts[path] = self._read(path)
            except ValueError:
                self._texts[path] = None
        return self._texts[path]

    def find(self, obj: Object, field: str, trace: Trace | None, names: Mapping[int, str | None],
             kustomizations: Sequence[str], values: Sequence[str]) -> Source | None:
        """The setter of `field`: the last Component patch in `kustomizations` (paths, in
        the order they apply) that writes it, else the last file of `values` (in Helm's
        order) that sets what the template line inserts; None when neither does."""
        path = steps(field)
        for kustomization in reversed(kustomizations):
            for patch in reversed(self._patches_of(kustomization)):
                try:
                    found = self._written(patch, obj, path, names)
                except RecursionError:  # an alias into itself, in a file kustomize never read
                    continue
                if found is not None:
                    return found
        if trace is None or not values:
            return None
        keys = _inserted(trace)
        for file in reversed(values):
            for key in keys:
                line = self._sets(file, key)
                if line is not None:
                    return Source(file, line)
        return None

    def _patches_of(self, kustomization: str) -> list[_Patch]:
        found = self._patches.get(kustomization)
        if found is not None:
            return found
        found = self._patches[kustomization] = []
        text = self._text(kustomization)
        docs = _compose(text) if text is not None else None
        if not docs or not isinstance(docs[0], yaml.MappingNode):
            return found
        folder = posixpath.dirname(kustomization)
        for key, value in docs[0].value:
            if key.value not in ("patches", "patchesStrategicMerge", "patchesJson6902") or \
                    not isinstance(value, yaml.SequenceNode):
                continue
            for item in value.value:
                entry = item if isinstance(item, yaml.MappingNode) else None
                fields = {k.value: v for k, v in entry.value} if entry else {}
                target = _plain(fields["target"]) if "target" in fields else None
                source = fields.get("path") if entry else item  # a string item: a path, or inline
                inline = fields.get("patch")
                if isinstance(inline, yaml.ScalarNode):
                    found.append(self._inline(kustomization, inline, target))
                elif isinstance(source, yaml.ScalarNode) and "\n" in source.value:
                    found.append(self._inline(kustomization, source, target))
                elif isinstance(source, yaml.ScalarNode):
                    file = posixpath.normpath(posixpath.join(folder, source.value))
                    patch_text = self._text(file)
                    if patch_text is None and not file.endswith(".j2"):
                        file, patch_text = f"{file}.j2", self._text(f"{file}.j2")
                    parsed = _compose(patch_text) if patch_text is not None else None
                    if parsed:
                        found.append(_Patch(file, 0, parsed, target if isinstance(target, Mapping) else None))
        return found

    @staticmethod
    def _inline(kustomization: str, node: yaml.ScalarNode, target: Any) -> _Patch:
        # A block scalar's text starts on the line after its `|`; a flow one on its own line.
        base = node.start_mark.line + (1 if node.style in ("|", ">") else 0)
        return _Patch(kustomization, base, _compose(node.value) or [],
                      target if isinstance(target, Mapping) else None)

    @staticmethod
    def _written(patch: _Patch, obj: Object, path: list[Step],
                 names: Mapping[int, str | None]) -> Source | None:
        if not patch.docs:
            return None
        if isinstance(patch.docs[0], yaml.SequenceNode):  # JSON 6902: a list of operations
            if patch.target is None or not _selects(patch.target, obj):
                return None
            field = [str(s) for s in path]
            for op in reversed(patch.docs[0].value):
                data = _plain(op)
                if isinstance(data, Mapping) and data.get("op") in _SETTING_OPS and \
                        isinstance(data.get("path"), str) and _touches(_pointer(data["path"]), field):
                    return Source(patch.file, patch.base + op.start_mark.line + 1)
            return None
        for doc in reversed(patch.docs):  # strategic merge: the field spelled out in full
            if patch.target is not None and not _selects(patch.target, obj):
                continue
            if patch.target is None and not _own_target(doc, obj):
                continue
            line, done = deepest(doc, path, names)
            if done == len(path):
                return Source(patch.file, patch.base + line + 1)
        return None

    def _sets(self, file: str, key: tuple[str, ...]) -> int | None:
        """The 1-based line where a values file sets `key`, or None."""
        text = self._text(file)
        if text is None:
            return None
        if file not in self._values:
            self._values[file] = None if file.endswith(".j2") else _compose(text)
        docs = self._values[file]
        if docs:
            line, done = deepest(docs[0], list(key), {})
            return line + 1 if done == len(key) else None
        lines = text.split(b"\n")  # a .j2 values file: its text, as templates are searched
        found, done, _ = walk(lines, 0, len(lines), list(key), {})
        if found is None:
            return None
        if done == len(key):
            return found + 1
        if done == len(key) - 1 and re.search(rb"\{[^}]*\b" + re.escape(key[-1].encode()) + rb"\s*:",
                                               lines[found]):
            return found + 1  # image: {tag: latest}
        return None


def _inserted(trace: Trace) -> list[tuple[str, ...]]:
    """The values keys a template line inserts, each extended by the field's steps below
    the line (`toYaml .Values.securityContext` and the field securityContext.privileged:
    securityContext.privileged first), longest first."""
    below: list[str] = []
    for step in trace.rest:
        if not isinstance(step, str):
            break
        below.append(step)
    keys: list[tuple[str, ...]] = []
    for ref in _VALUES.findall(trace.text):
        parts = tuple(ref.decode().strip(".").split("."))
        keys.extend(parts + tuple(below[:n]) for n in range(len(below), -1, -1))
    return sorted(dict.fromkeys(keys), key=len, reverse=True)
