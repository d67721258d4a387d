"""Helm values with the file and line that set each of them (for `hydrate explain`).

The values files are computed by `values.computed`, the function whose merge step the
render uses, with a trace of which file wrote every key: the chart's defaults first, then
the package's values.yaml and each layer's values file, merged as Helm merges `-f` files
and coalesced over the defaults as Helm coalesces them (a `null` deletes the default it
names; a map set after it merges with the defaults again). So what explain shows is what
the chart's templates see. The values are the ones hydrate's own parser reads;
ruamel.yaml only supplies the line numbers.

Keys are written as dotted paths: a segment holding a dot, a bracket, a quote or a
space (or nothing) is double-quoted as in JSON, e.g. `nodeSelector."kubernetes.io/os"`,
and object fields may index lists: `spec.template.spec.containers[0].image`.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import posixpath
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from pipeline.config import values as values_mod
from pipeline.config import yamlio

Key = tuple[Any, ...]  # mapping keys (and, in object fields, list indexes as ints)


@dataclass(frozen=True)
class Source:
    """Where a value was written: the file as Helm sees it (for a rendered template the
    name without `.j2`), the line in it (of the rendered text), and the template."""

    step: str  # chart, package, class, site or cluster
    file: str
    line: int | None = None
    rendered_from: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        if self.rendered_from is not None:
            where += f" (rendered from {posixpath.basename(self.rendered_from)})"
        return where


@dataclass(frozen=True)
class ValuesFile:
    """One values file in the order Helm applies it: its values and the line of every key."""

    step: str
    file: str  # as Helm sees it (a template's name without .j2)
    values: Mapping[str, Any]
    lines: Mapping[Key, int]
    rendered_from: str | None = None

    def source(self, key: Key) -> Source:
        """The source of the node at `key` (the line of its key, else of its nearest
        ancestor's, e.g. for a key that came in through a `<<` merge)."""
        for end in range(len(key), 0, -1):
            line = self.lines.get(key[:end])
            if line is not None:
                return Source(self.step, self.file, line, self.rendered_from)
        return Source(self.step, self.file, None, self.rendered_from)

    def writes(self, key: Key) -> str | None:
        """How this file writes the value at `key`: "null" (a null at it or at a parent),
        "value" (it, something under it, or a parent as a whole), None (not at all)."""
        node: Any = self.values
        for part in key:
            if not isinstance(node, Mapping) or part not in node:
                return None if isinstance(node, Mapping) else "null" if node is None else "value"
            node = node[part]
        return "null" if node is None else "value"


@dataclass(frozen=True)
class Entry:
    """One final value: a leaf (a scalar, a list, or an empty map) or a deleted key."""

    key: Key
    value: Any
    deleted: bool
    source: Source

    @property
    def name(self) -> str:
        return format_key(self.key)


def key_lines(text: bytes) -> dict[Key, int]:
    """The 1-based line of every mapping key of a YAML document, by key path. Read as
    YAML 1.1, as Helm reads values, so that `on:` is the key True here too."""
    yaml = YAML(typ="rt")
    yaml.version = (1, 1)
    try:  # (ruamel.yaml refuses a tab before a comment that hydrate's reader accepts)
        data = yaml.load(yamlio.spaced_tabs(text.decode()))
    except (YAMLError, ValueError, pyyaml.YAMLError):
        return {}  # hydrate's own parser accepted it: show the files without lines
    found: dict[Key, int] = {}

    def walk(node: Any, prefix: Key) -> None:
        if not isinstance(node, CommentedMap):
            return
        for key in node:
            # A key merged in with `<<` has no line: its ancestor's stands for it.
            with contextlib.suppress(KeyError, TypeError):
                found[(*prefix, key)] = node.lc.key(key)[0] + 1
            walk(node[key], (*prefix, key))

    walk(data, ())
    return found


@dataclass(frozen=True)
class Folded:
    """Values files computed as Helm computes them (`values.computed`), with the source of
    every key: what the templates see, and who wrote each part of it."""

    values: Mapping[Any, Any]
    sources: Mapping[Key, Source]  # every key present (maps included)
    deleted: Mapping[Key, Source]  # every key a `null` deleted: the null's source


def fold(files: Sequence[ValuesFile]) -> Folded:
    """The values of `files` computed in order: the first is the chart's defaults when its
    step is "chart"; the rest are merged as `-f` files and coalesced over them."""
    chart = files[0] if files and files[0].step == "chart" else None
    layers = files[1:] if chart is not None else files
    owners = [chart, *layers]
    trace = values_mod.Trace()
    found = values_mod.computed(chart.values if chart else {}, [f.values for f in layers], trace)

    def source(key: Key, index: int) -> Source:
        owner = owners[index]
        return owner.source(key) if owner is not None else Source("chart", "")

    return Folded(found, {k: source(k, i) for k, i in trace.set_by.items()},
                  {k: source(k, i) for k, i in trace.deleted.items()})


def entries(folded: Folded) -> Iterator[Entry]:
    """Every leaf (a scalar, a list, an empty map) and every deleted key, in key order."""
    under: dict[Key, list[Any]] = {}
    for key in folded.deleted:
        under.setdefault(key[:-1], []).append(key[-1])

    def walk(node: Mapping[Any, Any], prefix: Key) -> Iterator[Entry]:
        for part in sorted({*node, *under.get(prefix, ())}, key=str):
            here = (*prefix, part)
            if part not in node:
                yield Entry(here, None, True, folded.deleted[here])
            elif isinstance(node[part], Mapping) and (node[part] or here in under):
                yield from walk(node[part], here)
            else:
                yield Entry(here, node[part], False, folded.sources[here])

    yield from walk(folded.values, ())


def plain(folded: Folded) -> Mapping[Any, Any]:
    """The computed values themselves (what `.Values` holds)."""
    return folded.values


def lookup(folded: Folded, key: Key) -> tuple[bool, Any]:
    """(present, value) of the computed values at `key`."""
    node: Any = folded.values
    for part in key:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


@dataclass(frozen=True)
class Step:
    """A value after one step of a history (a values file, or a build)."""

    source: Source  # the file (and line, when it writes the value), or the layer
    present: bool
    value: Any
    change: str  # set, changed, unchanged, restored, deleted, renamed, absent


def history(files: Sequence[ValuesFile], key: Key) -> tuple[Step, ...]:
    """The value at `key` after each file; `set` or `deleted` where a file writes it,
    `restored` where a chart default deleted by a `null` comes back (a later file sets
    the map again, and Helm merges the defaults into it)."""
    out: list[Step] = []
    before = False
    for index, f in enumerate(files):
        folded = fold(files[:index + 1])
        present, value = lookup(folded, key)
        how = f.writes(key)
        source = f.source(key) if how else Source(f.step, f.file, None, f.rendered_from)
        if present:
            change = "set" if how else "unchanged" if before or index == 0 else "restored"
            if change == "restored":
                source = folded.sources.get(key, source)
        else:
            change = "deleted" if how and (before or how == "null") else "absent"
        out.append(Step(source, present, value, change))
        before = present
    return tuple(out)


# --- Paths: dotted keys with quoted segments and list indexes ---------------------------

_BARE = re.compile(r'[^.\[\]"\s]+')
_SEGMENT = re.compile(r'(?:(?P<bare>[^.\[\]"\s]+)|(?P<quoted>"(?:[^"\\]|\\.)*"))'
                      r"(?P<index>(?:\[[0-9]+\])*)")
_INDEX = re.compile(r"\[([0-9]+)\]")


def format_key(key: Key) -> str:
    """`key` as a dotted path (see the module's docstring)."""
    out = ""
    for part in key:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
            continue
        text = _text(part)
        seg = text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)
        out += f".{seg}" if out else seg
    return out


def _text(part: Any) -> str:
    if isinstance(part, bool):
        return "true" if part else "false"
    return part if isinstance(part, str) else str(part)


def parse_key(text: str, indexes: bool = True) -> Key | None:
    """The key path written as `text`, or None if it is not one (or has a list index
    where `indexes` is False)."""
    key: list[Any] = []
    pos = 0
    while True:
        m = _SEGMENT.match(text, pos)
        if m is None:
            return None
        key.append(m.group("bare") if m.group("bare") is not None else json.loads(m.group("quoted")))
        if m.group("index"):
            if not indexes:
                return None
            key.extend(int(i) for i in _INDEX.findall(m.group("index")))
        pos = m.end()
        if pos == len(text):
            return tuple(key)
        if text[pos] != ".":
            return None
        pos += 1


def resolve(data: Any, key: Key) -> Key:
    """`key` with each part replaced by the mapping key of `data` it names as text (a
    values file may have `on:` or `1:` keys: YAML 1.1 reads them as a bool, a number)."""
    out: list[Any] = []
    node = data
    for part in key:
        found = [k for k in node if _text(k) == _text(part)] if isinstance(node, Mapping) else []
        out.append(found[0] if found else part)
        node = node[found[0]] if found else None
    return tuple(out)


def get(data: Any, key: Key) -> tuple[bool, Any]:
    """(present, value) at `key` in plain data; mapping keys are compared as text."""
    node = data
    for part in key:
        if isinstance(part, int) and not isinstance(part, bool):
            if not isinstance(node, list) or part >= len(node):
                return False, None
            node = node[part]
        elif isinstance(node, Mapping):
            found = [k for k in node if _text(k) == _text(part)]
            if not found:
                return False, None
            node = node[found[0]]
        else:
            return False, None
    return True, node


def nearest(data: Any, key: Key) -> tuple[Key, list[str]]:
    """How far `key` goes into `data`, and the keys (or indexes) found where it stops."""
    node = data
    for depth, part in enumerate(key):
        present, child = get(node, (part,))
        if not present:
            if isinstance(node, Mapping):
                return key[:depth], sorted(_text(k) for k in node)
            if isinstance(node, list):
                return key[:depth], [f"[{i}]" for i in range(len(node))]
            return key[:depth], []
        node = child
    return key, []


def changed_fields(before: Any, after: Any, prefix: Key = ()) -> list[Key]:
    """The shortest paths at which `before` and `after` differ: maps are compared key by
    key, lists of named items (containers, env, volumes) item by item when the names
    are the same in the same order, anything else as a whole."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[Key] = []
        for key in sorted({*before, *after}, key=_text):
            if key not in before or key not in after:
                out.append((*prefix, key))
            else:
                out.extend(changed_fields(before[key], after[key], (*prefix, key)))
        return out
    if isinstance(before, list) and isinstance(after, list) and _names(before) == _names(after):
        return [p for i, (b, a) in enumerate(zip(before, after, strict=True))
                for p in changed_fields(b, a, (*prefix, i))]
    return [] if before == after else [prefix]


def _names(items: list[Any]) -> list[Any] | None:
    """The `name` of each item, if every item is a mapping with one."""
    if not all(isinstance(i, Mapping) and "name" in i for i in items):
        return None
    return [i["name"] for i in items]


def near(data: Any, key: Key, shown: int = 12) -> str:
    """For a message: where `key` stops matching `data`, the closest name and what is
    there (e.g. ` (did you mean 'spec.replicas'?); spec holds: replicas, selector`)."""
    found, options = nearest(data, key)
    if len(found) == len(key):
        return ""
    here = format_key(found) if found else "the top level"
    if not options:
        return f"; {here} holds a value, not keys"
    close = difflib.get_close_matches(_text(key[len(found)]), options, n=1)
    hint = (f" (did you mean {format_key((*found, close[0]))!r}?)"
            if close and not close[0].startswith("[") else "")
    listed = ", ".join(options[:shown]) + (", …" if len(options) > shown else "")
    return f"{hint}; {here} holds: {listed}"
