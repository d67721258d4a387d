"""Round-trip edits of the fleet files people write: names added to or taken out of a list
(`packages:` of a class, `packages: {add, remove}` of a cluster), and nothing else.

ruamel.yaml edits the parsed document, so comments, key order, quoting and flow or block
style survive, and a new item looks like its neighbours. Only the lines the edit changes
are taken from its output: what it would merely reformat (spacing in a flow mapping, an
indentation the edited list does not share) stays as it was. The result must read as the
old document with exactly this edit, with every comment line. `Edited` is a Tree with
edited files in place, to load, render and validate the edited fleet before writing.
"""

from __future__ import annotations

import difflib
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pygit2
import yaml as pyyaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

from pipeline.config import schema, yamlio
from pipeline.config.source import Tree, normalize
from pipeline.errors import ConfigError

Keys = tuple[str, ...]


@dataclass(frozen=True)
class ListEdit:
    """Names to add to (at the end) and take out of the list at `keys`, which is created
    if missing. `prune`: a list (and then a mapping) the edit leaves empty is dropped."""

    keys: Keys
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    prune: bool = False


@dataclass(frozen=True)
class Line:
    """One line the edit changed: `-` (removed, numbered in the old file) or `+` (added,
    numbered in the new one)."""

    sign: str
    number: int
    text: str


def apply(path: str, text: str, edits: Sequence[ListEdit]) -> str:
    """`text` (the file `path`) with `edits` made; ConfigError if it cannot be done
    without changing anything else. Every line the edit does not change stays as it was,
    byte for byte: its line ending (CRLF, LF, mixed), a byte order mark, a tab."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom):]
    expected = schema.parse(path, body.encode())  # hydrate's reader, and its error form
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never fold a long line
    try:
        doc = yaml.load(yamlio.spaced_tabs(body))
    except YAMLError as e:  # libyaml read it: one of ruamel.yaml's own limits
        mark = getattr(e, "problem_mark", None)
        at = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ConfigError(f"{at}: hydrate's round-trip editor cannot read this line "
                          f"({_first_line(e)}); make the edit by hand") from None
    if not isinstance(doc, CommentedMap) or not isinstance(expected, dict):
        raise ConfigError(f"{path}: expected a mapping at the top")
    mapping, sequence, offset = _indents(doc, edits, body.splitlines())
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    baseline = _dump(yaml, doc)
    for edit in edits:
        _edit(path, doc, edit)
        _expect(expected, edit)
    result = _splice(path, body, baseline, _dump(yaml, doc))
    try:
        same = yamlio.load_strict(result) == expected
    except pyyaml.YAMLError:
        same = False
    if not same or _comments(body) - _comments(result):
        raise ConfigError(f"{path}: hydrate cannot make this edit without changing other "
                          "lines; make it by hand")
    return bom + result


def _first_line(error: Exception) -> str:
    problem = getattr(error, "problem", None)
    return str(problem or error).strip().splitlines()[0]


def changed_lines(before: str, after: str) -> tuple[Line, ...]:
    """The lines that differ between two versions of a file."""
    old, new = before.splitlines(), after.splitlines()
    lines: list[Line] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            lines += [Line("-", i + 1, old[i]) for i in range(i1, i2)]
            lines += [Line("+", j + 1, new[j]) for j in range(j1, j2)]
    return tuple(lines)


def _dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


# --- The edit on ruamel.yaml's document -------------------------------------------------

def _edit(path: str, doc: CommentedMap, edit: ListEdit) -> None:
    chain: list[tuple[Any, Any]] = []  # (container, key) from the top to the list
    node: Any = doc
    for i, key in enumerate(edit.keys):
        last = i == len(edit.keys) - 1
        if key not in node:
            if not edit.add:
                return
            new: Any = CommentedSeq() if last else CommentedMap()
            if _flow(node, doc):
                new.fa.set_flow_style()
            _append(node, key, new)
        child = node[key]
        if not isinstance(child, CommentedSeq if last else CommentedMap):
            where = ".".join(edit.keys[:i + 1])
            raise ConfigError(f"{path}: {where} is not a {'list' if last else 'mapping'}")
        chain.append((node, key))
        node = child
    for name in edit.add:
        if name not in node:
            _append(node, len(node), _scalar(name, node))
    for name in edit.remove:
        if name in node:
            _delete(node, node.index(name), chain[-1])
    while edit.prune and chain and len(node) == 0:
        parent, key = chain.pop()
        _delete(parent, key, chain[-1] if chain else None)
        node = parent


def _expect(data: dict[str, Any], edit: ListEdit) -> None:
    """The same edit on the plain data, for the check of the result."""
    chain: list[tuple[dict[str, Any], str]] = []
    node: Any = data
    for i, key in enumerate(edit.keys):
        if key not in node:
            if not edit.add:
                return
            node[key] = [] if i == len(edit.keys) - 1 else {}
        chain.append((node, key))
        node = node[key]
    node += [n for n in edit.add if n not in node]
    node[:] = [n for n in node if n not in edit.remove]
    while edit.prune and chain and not node:
        parent, key = chain.pop()
        del parent[key]
        node = parent


def _flow(parent: Any, doc: CommentedMap) -> bool:
    """Whether a new collection in `parent` is written in flow style: inside a flow
    collection it must be; at the top, as the file's other collections are."""
    if parent is not doc:
        return bool(parent.fa.flow_style())
    values = [v for v in doc.values() if isinstance(v, CommentedMap | CommentedSeq)]
    return all(v.fa.flow_style() for v in values)


def _scalar(name: str, seq: CommentedSeq) -> Any:
    """`name` quoted as the list's items are (all alike), and always when YAML readers
    could take it for something else than the text (`no`, `0042`)."""
    kinds = {type(item) for item in seq}
    if len(kinds) == 1 and kinds < {SingleQuotedScalarString, DoubleQuotedScalarString}:
        return kinds.pop()(name)
    return name if yamlio.load(name) == name else DoubleQuotedScalarString(name)


# Comment lines after an entry are kept by ruamel.yaml with the entry before them: moving
# or deleting that entry would move or drop them. They stay where they were in the file.

def _block(value: Any) -> bool:
    return isinstance(value, CommentedMap | CommentedSeq) and not value.fa.flow_style()


def _keys(node: Any) -> list[Any]:
    return list(node) if isinstance(node, CommentedMap) else list(range(len(node)))


def _slot(node: Any) -> int:
    return 0 if isinstance(node, CommentedSeq) else 2


def _take_trailing(node: Any, key: Any) -> str:
    """The comment lines after entry `key` (not its end-of-line comment), taken from it."""
    value = node[key]
    if _block(value) and len(value):
        return _take_trailing(value, _keys(value)[-1])
    entry = node.ca.items.get(key)
    token = entry[_slot(node)] if entry else None
    if token is None:
        return ""
    first, _, rest = token.value.partition("\n")
    if rest:
        if first.strip():
            token.value = first + "\n"
        else:
            entry[_slot(node)] = None
    return str(rest)


def _give_trailing(node: Any, key: Any, text: str, before_first: bool = False) -> None:
    """Put comment lines after entry `key` (`before_first`: between the key and the first
    entry of its block collection)."""
    if not text:
        return
    value = node[key]
    if not before_first and _block(value) and len(value):
        _give_trailing(value, _keys(value)[-1], text)
        return
    entry = node.ca.items.setdefault(key, [None, None, None, None])
    token = entry[_slot(node)]
    if token is None:
        entry[_slot(node)] = CommentToken("\n" + text, CommentMark(0), None)
    else:
        token.value = token.value + text
    if before_first and isinstance(value, CommentedSeq):
        value.ca.comment = [entry[_slot(node)], []]


def _append(node: Any, key: Any, value: Any) -> None:
    """Add an entry at the end; comment lines after the old last entry stay last."""
    keys = _keys(node)
    trailing = _take_trailing(node, keys[-1]) if keys and _block(node) else ""
    if isinstance(node, CommentedSeq):
        node.append(value)
    else:
        node[key] = value
    _give_trailing(node, key, trailing)


def _delete(node: Any, key: Any, parent: tuple[Any, Any] | None) -> None:
    """Delete an entry; the comment lines after it stay where they were."""
    keys = _keys(node)
    entry = node.ca.items.get(key)
    before = "".join(t.value for t in entry[1]) if entry and isinstance(entry[1], list) else ""
    trailing = before + (_take_trailing(node, key) if _block(node) else "")
    position = keys.index(key)
    del node[key]
    if isinstance(node, CommentedMap):  # a list shifts its comments itself
        node.ca.items.pop(key, None)
    if not node:  # written `[]` or `{}` anyway; comments after it then go on its key
        node.fa.set_flow_style()
    if not trailing:
        return
    if position > 0:
        _give_trailing(node, _keys(node)[position - 1], trailing)
    elif parent is not None:  # (at the top, the check of the result refuses the loss)
        _give_trailing(*parent, trailing, before_first=len(node) > 0)


def _indents(doc: CommentedMap, edits: Sequence[ListEdit], lines: list[str]) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them: the lists
    being edited first, then any block list and nested mapping of the file."""
    mapping = sequence = offset = None
    targets = [e.keys for e in edits]
    found: list[tuple[Keys, CommentedMap, str]] = []

    def walk(node: CommentedMap, keys: Keys) -> None:
        for key, value in node.items():
            if _block(value):
                found.append(((*keys, str(key)), node, key))
                if isinstance(value, CommentedMap):
                    walk(value, (*keys, str(key)))

    walk(doc, ())
    found.sort(key=lambda f: f[0] not in targets)
    for _, parent, key in found:
        key_column = parent.lc.key(key)[1]
        value = parent[key]
        if isinstance(value, CommentedSeq) and sequence is None and len(value):
            line, column = value.lc.item(0)
            sequence = column - key_column
            offset = lines[line].rfind("-", 0, column) - key_column
        elif isinstance(value, CommentedMap) and mapping is None and len(value):
            mapping = value.lc.key(next(iter(value)))[1] - key_column
    return mapping or 2, sequence or 2, offset if offset is not None and offset >= 0 else 0


def _splice(path: str, original: str, baseline: str, edited: str) -> str:
    """`original` with the changes ruamel.yaml's `edited` makes to its own `baseline`
    dump of it, so lines it would merely respace stay as they were."""
    final = original.endswith(("\n", "\r"))  # (without, the last line keeps having none)
    if not final:
        original += "\n"
    old, base, new = (s.splitlines(keepends=True) for s in (original, baseline, edited))
    to_old: dict[int, int] = {}  # lines that differ in spacing only are the same line
    base_squeezed, old_squeezed = ([''.join(line.split()) for line in lines] for lines in (base, old))
    matcher = difflib.SequenceMatcher(None, base_squeezed, old_squeezed, autojunk=False)
    for tag, i1, i2, j1, _ in matcher.get_opcodes():
        if tag == "equal":
            to_old.update((i1 + k, j1 + k) for k in range(i2 - i1))
    to_old[len(base)] = len(old)
    out: list[str] = []
    done = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, base, new, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        span = _span(to_old, i1, i2)
        if span is None or span[0] < done:
            raise ConfigError(f"{path}: hydrate cannot make this edit without rewriting other "
                              f"lines (near line {i1 + 1}); make it by hand")
        # New lines end as the line before them does (CRLF in a CRLF file).
        eol = _ending(old[span[0] - 1] if span[0] > 0 else old[0] if old else "\n")
        out += old[done:span[0]] + [line[:-1] + eol if line.endswith("\n") else line
                                    for line in new[j1:j2]]
        done = span[1]
    result = "".join(out + old[done:])
    return result[:-1] if not final and done < len(old) else result


def _ending(line: str) -> str:
    stripped = line.rstrip("\r\n")
    return line[len(stripped):] or "\n"


def _span(to_old: Mapping[int, int], i1: int, i2: int) -> tuple[int, int] | None:
    """Where the baseline's lines [i1, i2) are in the original: the same lines, or as
    many lines between the same neighbours (a line ruamel.yaml would reformat)."""
    before = to_old.get(i1 - 1, -2) + 1 if i1 > 0 else 0
    after = to_old.get(i2, -1)
    if i1 < i2:
        start = to_old.get(i1, -1)
        if start >= 0 and all(to_old.get(i) == start + i - i1 for i in range(i1, i2)):
            return start, start + i2 - i1
        return (before, after) if before >= 0 and after - before == i2 - i1 else None
    if before >= 0:
        return before, before
    return (after, after) if after >= 0 else None


def _comments(text: str) -> Counter[str]:
    return Counter(line.strip() for line in text.splitlines() if line.lstrip().startswith("#"))


class Edited:
    """`base` with some files' content replaced or added (a Tree: see
    pipeline.config.source)."""

    def __init__(self, base: Tree, files: Mapping[str, bytes]) -> None:
        self._base = base
        self._files = dict(files)

    @property
    def label(self) -> str:
        return f"{self._base.label} with {', '.join(sorted(self._files))} edited"

    def read(self, path: str) -> bytes:
        found = self._files.get(path)
        return found if found is not None else self._base.read(path)

    def blob_id(self, path: str) -> str:
        found = self._files.get(path)
        return str(pygit2.hash(found)) if found is not None else self._base.blob_id(path)

    def _below(self, path: str) -> list[str]:
        """The given files below the directory `path`, relative to it."""
        prefix = f"{normalize(path)}/" if normalize(path) else ""
        return [p[len(prefix):] for p in self._files if p.startswith(prefix)]

    def is_dir(self, path: str) -> bool:
        return bool(self._below(path)) or self._base.is_dir(path)

    def is_file(self, path: str) -> bool:
        return path in self._files or self._base.is_file(path)

    def listdir(self, path: str) -> list[str]:
        return sorted({*self._base.listdir(path), *(p.split("/", 1)[0] for p in self._below(path))})

    def files(self, path: str) -> list[str]:
        return sorted({*self._base.files(path), *self._below(path)})

    def ignored_by(self, path: str) -> str | None:
        return self._base.ignored_by(path)

