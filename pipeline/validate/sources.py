"""The line to fix: from a finding's object and field to a line of the file that produced
it. Plain YAML files are walked node by node (the object's document, then the field as
deep as the file spells it out); templates (Helm, `.j2`) are searched for the field's key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml

from pipeline.validate.findings import Source

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_HASHED = re.compile(r"-[a-z0-9]{10}$")  # kustomize's generator suffix
Reader = Callable[[str], bytes | None]  # None: no such file; ValueError: not a repository path


def steps(field: str) -> list[str | int]:
    """`spec.containers[0].image` → ["spec", "containers", 0, "image"]."""
    return [int(index) if index else key for key, index in _STEP.findall(field)]


def _scalar(node: yaml.Node | None) -> Any:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _child(node: yaml.Node, step: str | int) -> tuple[yaml.Node, int] | None:
    """The node under `step`, and the line that names it (the key's, for a mapping)."""
    if isinstance(node, yaml.MappingNode) and isinstance(step, str):
        for key, value in node.value:
            if _scalar(key) == step:
                return value, key.start_mark.line
    if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
        item = node.value[step]
        return item, item.start_mark.line
    return None


def _document(docs: list[yaml.Node], kind: str, name: str) -> yaml.Node | None:
    """The document that defines the object: same kind and name, else the only one of
    that kind whose name is part of the rendered name (Kustomize adds prefixes)."""
    candidates = []
    for doc in docs:
        found_kind = _child(doc, "kind")
        if found_kind is None or _scalar(found_kind[0]) != kind:
            continue
        meta = _child(doc, "metadata")
        found_name = _child(meta[0], "name") if meta else None
        doc_name = _scalar(found_name[0]) if found_name else None
        if doc_name == name:
            return doc
        if isinstance(doc_name, str) and doc_name in name:
            candidates.append(doc)
    return candidates[0] if len(candidates) == 1 else None


class Lines:
    """Finds lines, reading and parsing each file once."""

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._texts: dict[str, bytes | None] = {}
        self._docs: dict[str, list[yaml.Node] | None] = {}

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

    def find(self, origin: str | None, kind: str | None, name: str | None, field: str) -> Source | None:
        """The file and line of `field` of the object in `origin` (None: origin unknown)."""
        if origin is None:
            return None
        try:
            path, text = self._text(origin)
        except ValueError:
            return None  # not a repository path (a tool named something outside): no line

        if text is None:
            return Source(origin, 1)
        if path.rsplit("/", 1)[-1] in _KUSTOMIZATIONS and name:
            return Source(path, _generator(text, name))
        nodes = self._nodes(path, text) if not path.endswith(".j2") else None
        if nodes is not None and kind and name:
            doc = _document(nodes, kind, name)
            if doc is not None:
                return Source(path, _deepest(doc, steps(field)) + 1)
        return Source(path, _search(text, steps(field)))


def _generator(text: bytes, name: str) -> int:
    """The line of the generator that made `name` (its hash suffix dropped)."""
    base = _HASHED.sub("", name)
    match = re.search(rb"^[ \t-]*name:[ \t]*['\"]?" + re.escape(base.encode()) + rb"['\"]?[ \t]*$",
                      text, re.MULTILINE)
    return text.count(b"\n", 0, match.start()) + 1 if match else 1


def _deepest(doc: yaml.Node, path: list[str | int]) -> int:
    node, line = doc, doc.start_mark.line
    for step in path:
        found = _child(node, step)
        if found is None:
            break
        node, line = found
    return line


def _search(text: bytes, path: list[str | int]) -> int:
    """Templates cannot be walked: find the field's keys in order, each after the one
    before it, and stop at the first that is missing."""
    line, pos = 1, 0
    for key in (s for s in path if isinstance(s, str)):
        pattern = re.compile(rb"^[ \t-]*" + re.escape(key.encode()) + rb"[ \t]*:", re.MULTILINE)
        match = pattern.search(text, pos)
        if match is None:
            break
        line, pos = text.count(b"\n", 0, match.start()) + 1, match.end()
    return line
