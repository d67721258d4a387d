"""The line to fix: from a finding's object and field to a line of the file that produced
it. Plain YAML files are walked node by node (the object's document, then the field as
deep as the file spells it out); templates (Helm, `.j2`) are searched as text: the
object's document by kind, name and namespace, then each key inside the block of the one
before it, list items by position (or by the rendered item's name), and, where the text
stops at an `include`, inside the named template it includes.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import yaml

from pipeline.validate.findings import Source

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_HASHED = re.compile(r"-[a-z0-9]{10}$")  # kustomize's generator suffix
_DOC_LINE = re.compile(rb"^---\s*(#.*)?$")
_INCLUDE = re.compile(rb"""\{\{-?\s*(?:include|template)\s+["']([^"']+)["']""")
_DEFINE = re.compile(rb"""\{\{-?\s*define\s+["']([^"']+)["']""")
_TEMPLATE_FILE = re.compile(r"(^|/)templates/.*\.(tpl|yaml|yml|txt)$")
_MAX_INCLUDES = 3  # an include inside an include inside an include
Reader = Callable[[str], bytes | None]  # None: no such file; ValueError: not a repository path
Lister = Callable[[str], Sequence[str]]  # every file below a folder, relative to it
Step = str | int


def steps(field: str) -> list[Step]:
    """`spec.containers[0].image` → ["spec", "containers", 0, "image"]."""
    return [int(index) if index else key for key, index in _STEP.findall(field)]


def _scalar(node: yaml.Node | None) -> Any:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _item_name(body: Any, path: Sequence[Step]) -> str | None:
    """The `name` of the list item at `path` in the rendered object, if it has one."""
    node = body
    for step in path:
        if isinstance(step, int):
            node = node[step] if isinstance(node, list) and step < len(node) else None
        else:
            node = node.get(step) if isinstance(node, Mapping) else None
    name = node.get("name") if isinstance(node, Mapping) else None
    return name if isinstance(name, str) else None


def item_names(body: Any, field: str) -> dict[int, str | None]:
    """For each list index in `field`, the `name` of that item in the rendered object."""
    path = steps(field)
    return {i: _item_name(body, path[:i + 1]) for i, s in enumerate(path) if isinstance(s, int)}


def _child(node: yaml.Node, step: Step, name: str | None = None) -> tuple[yaml.Node, int] | None:
    """The node under `step`, and the line that names it (the key's, for a mapping); a
    list item is the one with the rendered item's `name` where there is one."""
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if _scalar(key) == step:
                return value, key.start_mark.line
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int):
        if name is not None:
            for item in node.value:
                found = _child(item, "name")
                if found is not None and _scalar(found[0]) == name:
                    return item, item.start_mark.line
        if step < len(node.value):
            item = node.value[step]
            return item, item.start_mark.line
    return None


def _document(docs: list[yaml.Node], kind: str, name: str, namespace: str) -> yaml.Node | None:
    """The document that defines the object: same kind and name (and namespace, where
    two share them), else the only one of that kind whose name is part of the rendered
    name (Kustomize adds prefixes)."""
    exact, candidates = [], []
    for doc in docs:
        found_kind = _child(doc, "kind")
        if found_kind is None or _scalar(found_kind[0]) != kind:
            continue
        meta = _child(doc, "metadata")
        found_name = _child(meta[0], "name") if meta else None
        doc_name = _scalar(found_name[0]) if found_name else None
        if doc_name == name:
            exact.append(doc)
        elif isinstance(doc_name, str) and doc_name in name:
            candidates.append(doc)
    if len(exact) > 1:
        for doc in exact:
            meta = _child(doc, "metadata")
            ns = _child(meta[0], "namespace") if meta else None
            if (_scalar(ns[0]) if ns else "") == namespace:
                return doc
    if exact:
        return exact[0]
    return candidates[0] if len(candidates) == 1 else None


class Trace(NamedTuple):
    """Where a field was found: the line, the steps of the field below it that the file
    does not spell out (set by a patch, or by a value the template inserts), the line."""

    source: Source
    rest: tuple[Step, ...]
    text: bytes


class _Define(NamedTuple):
    path: str
    lines: list[bytes]
    first: int  # the line index in its file where the body starts


class Lines:
    """Finds lines, reading and parsing each file once. `listing` lists a chart's files,
    to follow `include`s into the templates that define them."""

    def __init__(self, read: Reader, listing: Lister | None = None) -> None:
        self._read = read
        self._listing = listing
        self._texts: dict[str, bytes | None] = {}
        self._docs: dict[str, list[yaml.Node] | None] = {}
        self._defines: dict[str, dict[str, _Define]] = {}

    def _text(self, path: str) -> tuple[str, bytes | None]:
        if path not in self._texts:
            self._texts[path] = self._read(path)
        if self._texts[path] is None and not path.endswith(".j2"):
            # A Jinja2 layer file is used without its suffix.
            template = self._text(f"{path}.j2")
            if template[1] is not None:
                return template
        return path, self._texts[path]

    def _nodes(self, path: str, text: bytes) -> list[yaml.Node] | None:
        if path not in self._docs:
            try:
                self._docs[path] = [d for d in yaml.compose_all(text, Loader=yaml.CSafeLoader)
                                    if d is not None]
            except yaml.YAMLError:
                self._docs[path] = None  # a template: searched as text
        return self._docs[path]

    def find(self, origin: str | None, kind: str | None, name: str | None, field: str,
             namespace: str = "", body: Any = None) -> Source | None:
        """The file and line of `field` of the object in `origin` (None: origin unknown).
        `body`: the rendered object, to find list items by their name."""
        found = self.trace(origin, kind, name, field, namespace, body)
        return found.source if found is not None else None

    def trace(self, origin: str | None, kind: str | None, name: str | None, field: str,
              namespace: str = "", body: Any = None) -> Trace | None:
        """`find`, and what the file does not spell out of the field, and the line's text."""
        if origin is None:
            return None
        try:
            path, text = self._text(origin)
        except ValueError:
            return None  # not a repository path (a tool named something outside): no line

        path_steps = steps(field)
        if text is None:
            return Trace(Source(origin, 1), tuple(path_steps), b"")
        if path.rsplit("/", 1)[-1] in _KUSTOMIZATIONS and name:
            return Trace(Source(path, _generator(text, name)), (), b"")
        names = item_names(body, field) if body is not None else {}
        nodes = self._nodes(path, text) if not path.endswith(".j2") else None
        if nodes is not None and kind and name:
            doc = _document(nodes, kind, name, namespace)
            if doc is not None:
                line, done = deepest(doc, path_steps, names)
                return Trace(Source(path, line + 1), tuple(path_steps[done:]), _line(text, line))
        lines = text.split(b"\n")
        start, end = _segment(lines, kind, name, namespace)
        return self._search(path, lines, start, end, path_steps, names, 0)

    def _search(self, path: str, lines: list[bytes], start: int, end: int, path_steps: list[Step],
                names: Mapping[int, str | None], depth: int, offset: int = 0, base: int = 0) -> Trace:
        """The deepest line of `path_steps` in lines[start:end] (which start at line `base`
        of `path`), following includes; `offset`: where `path_steps` start in the field."""
        found, done, inner = walk(lines, start, end, path_steps, names, offset)
        at = found if found is not None else start
        trace = Trace(Source(path, base + at + 1), tuple(path_steps[done:]),
                      lines[at] if at < len(lines) else b"")
        if done == len(path_steps) or depth >= _MAX_INCLUDES or self._listing is None:
            return trace
        for included in _INCLUDE.findall(b"\n".join(lines[inner[0]:inner[1]])):
            define = self._define(path, included.decode(errors="replace"))
            if define is None:
                continue
            deeper, more, _ = walk(define.lines, 0, len(define.lines), path_steps[done:], names,
                                    offset + done)
            if deeper is not None and more:
                return self._search(define.path, define.lines, 0, len(define.lines), path_steps[done:],
                                    names, depth + 1, offset + done, define.first)
        return trace

    def _define(self, template: str, name: str) -> _Define | None:
        """The body of `{{ define name }}` among the templates of the chart `template` is in."""
        root = template.split("/templates/", 1)[0] if "/templates/" in template else None
        if root is None or self._listing is None:
            return None
        defines = self._defines.get(root)
        if defines is None:
            defines = self._defines[root] = {}
            try:
                files = [f for f in self._listing(root) if _TEMPLATE_FILE.search(f)]
            except (ValueError, OSError):
                files = []
            for rel in files:
                path = posixpath.join(root, rel)
                _, text = self._text(path)
                if text is None:
                    continue
                lines = text.split(b"\n")
                starts = [(i, m.group(1).decode(errors="replace")) for i, line in enumerate(lines)
                          if (m := _DEFINE.search(line))]
                for n, (i, defined) in enumerate(starts):
                    stop = starts[n + 1][0] if n + 1 < len(starts) else len(lines)
                    defines.setdefault(defined, _Define(path, lines[i + 1:stop], i + 1))
        return defines.get(name)


def _generator(text: bytes, name: str) -> int:
    """The line of the generator that made `name` (its hash suffix dropped)."""
    base = _HASHED.sub("", name)
    match = re.search(rb"^[ \t-]*name:[ \t]*['\"]?" + re.escape(base.encode()) + rb"['\"]?[ \t]*$",
                      text, re.MULTILINE)
    return text.count(b"\n", 0, match.start()) + 1 if match else 1


def deepest(doc: yaml.Node, path: Sequence[Step], names: Mapping[int, str | None]) -> tuple[int, int]:
    """The 0-based line of the deepest step of `path` in `doc`, and how many steps it has."""
    node, line = doc, doc.start_mark.line
    done = 0
    for index, step in enumerate(path):
        found = _child(node, step, names.get(index))
        if found is None:
            break
        node, line = found
        done += 1
    return line, done


def _line(text: bytes, index: int) -> bytes:
    lines = text.split(b"\n")
    return lines[index] if 0 <= index < len(lines) else b""


# --- templates, as text ------------------------------------------------------------

def _content(line: bytes) -> bool:
    """A line that holds YAML: not blank, not a comment, not only template actions."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(b"#") and not (
        stripped.startswith(b"{{") and stripped.endswith(b"}}"))


def _indent(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" "))


def _segment(lines: list[bytes], kind: str | None, name: str | None, namespace: str) -> tuple[int, int]:
    """The lines of the document that defines the object in a multi-document template:
    the only one of its kind, else the one naming it (and its namespace) literally."""
    bounds, begin = [], 0
    for i, line in enumerate(lines):
        if _DOC_LINE.match(line):
            bounds.append((begin, i))
            begin = i + 1
    bounds.append((begin, len(lines)))
    if len(bounds) == 1 or not kind:
        return 0, len(lines)
    kind_line = re.compile(rb"^kind:[ \t]*['\"]?" + re.escape(kind.encode()) + rb"['\"]?[ \t]*$")
    of_kind = [b for b in bounds if any(kind_line.match(lines[i]) for i in range(*b))]
    if len(of_kind) > 1:
        def literal(key: str, value: str) -> re.Pattern[bytes]:
            return re.compile(rb"^[ \t]+" + key.encode() + rb":[ \t]*['\"]?" + re.escape(value.encode())
                              + rb"['\"]?[ \t]*$")
        for key, value in (("name", name), ("namespace", namespace)):
            if not value:
                continue
            pattern = literal(key, value)
            narrowed = [b for b in of_kind if any(pattern.match(lines[i]) for i in range(*b))]
            of_kind = narrowed or of_kind
    return of_kind[0] if of_kind else (0, len(lines))


def walk(lines: list[bytes], start: int, end: int, path: Sequence[Step],
          names: Mapping[int, str | None], offset: int = 0) -> tuple[int | None, int, tuple[int, int]]:
    """Follow `path` through lines[start:end] by indentation: (the line of the deepest
    step found, how many steps were found, the block of lines under it)."""
    found: int | None = None
    done = 0
    for index, step in enumerate(path):
        if isinstance(step, str):
            key = re.escape(step.encode())
            pattern = re.compile(rb"^([ \t]*(?:-[ \t]+)*)" + key + rb"[ \t]*:(?:[ \t]|$)")
            hits = [(len(m.group(1)), i) for i in range(start, end) if (m := pattern.match(lines[i]))]
            if not hits:
                break
            column, hit = min(hits)  # the key at the block's own level, before deeper ones
            stop = next((j for j in range(hit + 1, end) if _content(lines[j]) and (
                _indent(lines[j]) < column
                or (_indent(lines[j]) == column and not lines[j].lstrip().startswith(b"-")))), end)
            found, start, end = hit, hit + 1, stop
        else:
            items = [i for i in range(start, end)
                     if _content(lines[i]) and lines[i].lstrip().startswith(b"-")]
            if not items:
                break
            level = min(_indent(lines[i]) for i in items)
            items = [i for i in items if _indent(lines[i]) == level]
            wanted = names.get(offset + index)
            chosen = _named_item(lines, items, end, wanted) if wanted else None
            if chosen is None:
                if step >= len(items):
                    break
                chosen = step
            found = start = items[chosen]
            end = items[chosen + 1] if chosen + 1 < len(items) else end
        done += 1
    return found, done, (start, end)


def _named_item(lines: list[bytes], items: list[int], end: int, name: str) -> int | None:
    """The position of the list item whose `name:` is `name`, literally."""
    pattern = re.compile(rb"^([ \t]*(?:-[ \t]+)?)name:[ \t]*['\"]?" + re.escape(name.encode())
                         + rb"['\"]?[ \t]*$")
    for n, first in enumerate(items):
        last = items[n + 1] if n + 1 < len(items) else end
        column = len(lines[first]) - len(lines[first].lstrip(b" -\t"))  # the item's keys
        for i in range(first, last):
            m = pattern.match(lines[i])
            if m and len(m.group(1)) == column:  # its own name, not an env var's
                return n
    return None
