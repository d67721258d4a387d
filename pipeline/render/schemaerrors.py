"""A chart's `values.schema.json` refusing the values, with the layer that wrote each
offending key.

Helm says which values break the schema (`at '/image/tag': got number, want string`)
but hydrate hands it one merged file, so on its own the message cannot say which layer
set the key. This module reads Helm's paths (JSON pointers, under the chart or a
subchart) and names, for each, the last values file that writes it: the package's
values.yaml or an overlay layer's, with its line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipeline.config import provenance
from pipeline.render.materialise import ValuesLayer

MARKER = "values don't meet the specifications of the schema"
_AT = re.compile(r"at '(?P<pointer>[^']*)': (?P<problem>.*)$")
_EXTRA = re.compile(r"additional propert(?:y|ies) (?P<names>'[^']*'(?:, '[^']*')*) not allowed")
_SECTION = re.compile(r"^(?P<chart>[A-Za-z0-9][-A-Za-z0-9_.]*):$")
_SHOWN = 6


def _key(pointer: str) -> provenance.Key:
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:] if p)


def offending(message: str, chart: str) -> list[tuple[provenance.Key, str]]:
    """(values key, Helm's problem) for each path Helm names, under `chart` (the root
    chart's name; a subchart's keys sit under its name)."""
    found: list[tuple[provenance.Key, str]] = []
    section = chart
    for raw in message.splitlines():
        line = raw.strip()
        header = _SECTION.match(line)
        if header is not None:
            section = header.group("chart")
            continue
        at = _AT.search(line)
        if at is None:
            continue
        key = _key(at.group("pointer"))
        if section != chart:
            key = (section, *key)
        extra = _EXTRA.search(at.group("problem"))
        names = re.findall(r"'([^']*)'", extra.group("names")) if extra else []
        found.extend(((*key, n), at.group("problem")) for n in names) if names else \
            found.append((key, at.group("problem")))
    return found


def explain(message: str, chart: str, layers: Sequence[ValuesLayer]) -> str | None:
    """Where each offending key comes from, in words (None: Helm named no path)."""
    files = [provenance.ValuesFile(v.step, v.file, v.values, provenance.key_lines(v.text),
                                   v.rendered_from) for v in layers]
    parts = []
    for key, problem in offending(message, chart):
        if not key or problem == "validation failed":  # a parent of the lines that follow
            continue
        writer = next((f for f in reversed(files) if f.writes(key)), None)
        where = (f"set by {writer.step} {writer.source(key)}" if writer is not None
                 else "the chart's own default")
        parts.append(f"{provenance.format_key(key)} ({problem}) is {where}")
    if not parts:
        return None
    shown = parts[:_SHOWN] + ([f"and {len(parts) - _SHOWN} more"] if len(parts) > _SHOWN else [])
    return "; ".join(shown)
