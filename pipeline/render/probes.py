"""A kustomize patch whose target matches nothing is an error, not a silent no-op.

Kustomize applies a patch with a `target` to whatever the selector matches, and to
nothing, without a word, when it matches nothing (a typo in a name). Nothing it records
tells the two apart (buildMetadata's transformerAnnotations lists every transformer on
every object), and matching selectors in Python would re-implement kustomize. So
kustomize does the matching: before each targeted patch hydrate inserts a *probe*, a
patch with the same target that adds a marker field (`hydrateProbe-<id>: ""`) to what
it matches, at the very point the patch runs. The run's output must carry every
marker; the markers are then removed, which leaves the output exactly as without probes.

A marker is missing without a typo when a later patch deletes the objects (`$patch:
delete`). For a missing marker, one more run settles it: the probe becomes a JSON patch
`test` that fails on any object it is applied to, so that run fails if and only if the
target matched something. Probes cost no tool run when every marker arrives; each
deletion costs one more run (per distinct input, and cached like any run).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.config import kustomizations, yamlio
from pipeline.errors import RenderError

MARKER = "hydrateProbe-"
_SMP = "apiVersion: v1\nkind: Probe\nmetadata:\n  name: hydrate-probe\n{marker}: \"\"\n"
_LINE = re.compile(rb'^hydrateProbe-([0-9a-f]+-[0-9]+): ""\r?\n', re.M)
_LEFT = re.compile(rb"^hydrateProbe-", re.M)
# Inline transformer configs that patch by target, and the field holding the patch.
_PATCH_KINDS = {"PatchTransformer": "patch", "PatchJson6902Transformer": "jsonOp"}


@dataclass(frozen=True)
class Probe:
    """One targeted patch to account for."""

    id: str
    file: str  # workspace path of the kustomization that holds the patch
    key: str  # where in it, e.g. "patches[2]"
    target: str  # the selector, for messages


@dataclass(frozen=True)
class Probed:
    """A kustomization with its probes: the new text (None if it has no targeted patch)."""

    text: bytes | None
    probes: tuple[Probe, ...]


def _id(file: str, index: int) -> str:
    return f"{hashlib.sha256(file.encode()).hexdigest()[:10]}-{index}"


def _marker(pid: str) -> str:
    return f"{MARKER}{pid}"


def _json_add(pid: str) -> str:
    return json.dumps([{"op": "add", "path": f"/{_marker(pid)}", "value": ""}])


def _json_test(pid: str) -> str:
    # The marker field is never there, so the test fails on every object it meets.
    return json.dumps([{"op": "test", "path": f"/{_marker(pid)}", "value": "matched"}])


def _describe(target: Any) -> str:
    if not isinstance(target, dict):
        return repr(target)
    return "{" + ", ".join(f"{k}: {v}" for k, v in target.items()) + "}"


def insert(file: str, data: Mapping[str, Any]) -> Probed:
    """The kustomization `data` (at workspace path `file`) with a probe before each
    patch that has a target: in `patches` (a strategic-merge probe, which leaves the
    object as it is), in `patchesJson6902` (a JSON probe: those patches are JSON
    patches, and a JSON patch rewrites the object the same way either way) and inline
    Patch(Json6902)Transformer configs in `transformers`."""
    out = dict(data)
    probes: list[Probe] = []

    def probe(key: str, target: Any) -> str:
        pid = _id(file, len(probes))
        probes.append(Probe(pid, file, key, _describe(target)))
        return pid

    patches = data.get("patches")
    if isinstance(patches, list) and any(_targeted(p) for p in patches):
        out["patches"] = []
        for i, patch in enumerate(patches):
            if _targeted(patch):
                pid = probe(f"patches[{i}]", patch["target"])
                out["patches"].append({"target": patch["target"],
                                       "patch": _SMP.format(marker=_marker(pid))})
            out["patches"].append(patch)
    legacy = data.get("patchesJson6902")
    if isinstance(legacy, list) and any(_targeted(p) for p in legacy):
        out["patchesJson6902"] = []
        for i, patch in enumerate(legacy):
            if _targeted(patch):
                pid = probe(f"patchesJson6902[{i}]", patch["target"])
                out["patchesJson6902"].append({"target": patch["target"], "patch": _json_add(pid)})
            out["patchesJson6902"].append(patch)
    transformers = data.get("transformers")
    if isinstance(transformers, list) and any(_patch_config(t) for t in transformers):
        out["transformers"] = []
        for i, entry in enumerate(transformers):
            config = _patch_config(entry)
            if config is not None:
                pid = probe(f"transformers[{i}]", config["target"])
                out["transformers"].append(_transformer_probe(config, pid))
            out["transformers"].append(entry)
    if not probes:
        return Probed(None, ())
    return Probed(json.dumps(out, indent=1, ensure_ascii=False).encode() + b"\n", tuple(probes))


def _targeted(patch: Any) -> bool:
    return isinstance(patch, dict) and isinstance(patch.get("target"), dict)


def _patch_config(entry: Any) -> dict[str, Any] | None:
    """An inline PatchTransformer / PatchJson6902Transformer config with a target."""
    if not isinstance(entry, str) or not kustomizations.is_inline(entry):
        return None
    doc = yamlio.load(entry) if "\n---" not in entry else None
    if isinstance(doc, dict) and doc.get("kind") in _PATCH_KINDS and _targeted(doc):
        return doc
    return None


def _transformer_probe(config: Mapping[str, Any], pid: str) -> str:
    kind = str(config["kind"])
    patch = _SMP.format(marker=_marker(pid)) if kind == "PatchTransformer" else _json_add(pid)
    return json.dumps({"apiVersion": "builtin", "kind": kind,
                       "metadata": {"name": f"hydrate-probe-{pid}"},
                       "target": config["target"], _PATCH_KINDS[kind]: patch})


def failing(text: bytes, pid: str) -> bytes:
    """The probed kustomization `text` with probe `pid` turned into a JSON patch that
    fails on any object its target matches."""
    data = json.loads(text)
    smp, add = _SMP.format(marker=_marker(pid)), _json_add(pid)
    for key in ("patches", "patchesJson6902"):
        for entry in data.get(key) or []:
            if isinstance(entry, dict) and entry.get("patch") in (smp, add):
                entry["patch"] = _json_test(pid)
    for i, entry in enumerate(data.get("transformers") or []):
        if isinstance(entry, str) and f'"hydrate-probe-{pid}"' in entry:
            config = json.loads(entry)
            config.pop("patch", None)
            config.pop("jsonOp", None)
            field = "patch" if config["kind"] == "PatchTransformer" else "jsonOp"
            config[field] = _json_test(pid)
            data["transformers"][i] = json.dumps(config)
    return json.dumps(data, indent=1, ensure_ascii=False).encode() + b"\n"


def matched_in(message: str, pid: str) -> bool:
    """Whether a failed run of `failing(..., pid)` failed on the probe's test."""
    return re.search(rf"/{re.escape(_marker(pid))}(?![\w-])", message) is not None


def strip(output: bytes) -> tuple[bytes, frozenset[str]]:
    """The output without marker fields, and the ids of the markers it held.

    kustomize writes each object's fields as block YAML, top-level fields at column 0,
    so a marker is exactly one line `hydrateProbe-<id>: ""`."""
    seen = frozenset(m.decode() for m in _LINE.findall(output))
    cleaned = _LINE.sub(b"", output) if seen else output
    if _LEFT.search(cleaned):
        raise RenderError("a probe marker is left in kustomize's output (not in the form "
                          "hydrate expects from kustomize); please report this")
    return cleaned, seen


def reachable(root: str, kustomization_of: Callable[[str], str | None],
              load: Callable[[str], Any]) -> list[str]:
    """Workspace paths of the kustomizations a build of directory `root` reads: its own,
    and those of the directories its resources, bases and components name (kustomize
    applies no patch of a kustomization it never reaches, so only these get probes)."""
    found: list[str] = []
    todo = [root]
    while todo:
        folder = todo.pop()
        path = kustomization_of(folder)
        if path is None or path in found:
            continue
        found.append(path)
        data = load(path)
        if not isinstance(data, dict):
            continue
        for key in ("resources", "bases", "components"):
            for ref in data.get(key) or []:
                if isinstance(ref, str):
                    todo.append(posixpath.normpath(posixpath.join(folder, ref)))
    return sorted(found)
