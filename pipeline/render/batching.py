"""Many kustomize builds in one process.

Most of a kustomize run is start-up (with a strategic-merge patch, loading its OpenAPI
data): one process can build many distinct inputs. Each input goes into its own folder
of one workspace, under a wrapper kustomization that only adds an identifying annotation
(an inline AnnotationsTransformer, on `metadata/annotations` only: pod templates are not
touched); the root lists the wrappers and asks for origin annotations (kustomize honours
`buildMetadata` at the root only). The output is split on the annotation, which is then
removed, and each input's origin paths lose their folder: what remains is byte for byte
what a build of that input alone gives.

Two inputs that emit the same object id fail the whole build, and inputs of one package
do (they differ only in their layers): a batch holds at most one input per package, and
a batch that fails for any reason is built again input by input, so that errors name
their cluster and package as always.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import zip_longest
from typing import TypeVar

FOLDER = "hydrate-batch-"  # one per input: <FOLDER><n>/in/ holds the input's workspace
MARK = "hydrate.dev/batch-input"
MOST = 40  # inputs per build: a failing batch costs its inputs again one by one

T = TypeVar("T")


def plan(items: Sequence[T], packages: Sequence[str], jobs: int) -> list[list[T]]:
    """`items` (kustomize runs, with the package of each) in batches: at most one input
    per package in a batch, and enough batches to keep `jobs` processes busy."""
    by_package: dict[str, list[T]] = defaultdict(list)
    for item, package in zip(items, packages, strict=True):
        by_package[package].append(item)
    layers = [[item for item in layer if item is not None]
              for layer in zip_longest(*by_package.values())]
    size = max(2, min(MOST, math.ceil(len(items) / max(1, jobs))))
    return [layer[i:i + size] for layer in layers for i in range(0, len(layer), size)]


def workspace(inputs: Sequence[Mapping[str, bytes]]) -> dict[str, bytes]:
    """The files of one build of every input (each input's workspace files by path)."""
    files: dict[str, bytes] = {}
    for n, contents in enumerate(inputs):
        folder = f"{FOLDER}{n}"
        for path, data in contents.items():
            files[f"{folder}/in/{path}"] = data
        marker = {"apiVersion": "builtin", "kind": "AnnotationsTransformer",
                  "metadata": {"name": "hydrate-batch"}, "annotations": {MARK: f"b{n}"},
                  "fieldSpecs": [{"path": "metadata/annotations", "create": True}]}
        files[f"{folder}/kustomization.yaml"] = _json({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["in"], "transformers": [json.dumps(marker)]})
    files["kustomization.yaml"] = _json({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [f"{FOLDER}{n}" for n in range(len(inputs))],
        "buildMetadata": ["originAnnotations"]})
    return files


_DOC = re.compile(rb"^---\n", re.M)
_MARK_LINE = re.compile(rb'^    ' + re.escape(MARK.encode()) + rb': b([0-9]+)\n', re.M)
_EMPTY_ANNOTATIONS = re.compile(rb"^  annotations:\n(?!    )", re.M)


def split(output: bytes, count: int) -> list[bytes] | None:
    """Each input's output; None when the build's output is not what `workspace` asks
    for (a document without its mark): then the inputs are built one by one."""
    parts: list[list[bytes]] = [[] for _ in range(count)]
    for doc in _DOC.split(output):
        if not doc.strip():
            continue
        found = _MARK_LINE.search(doc)
        if found is None or int(found[1]) >= count:
            return None
        n = int(found[1])
        doc = doc[:found.start()] + doc[found.end():]
        doc = _EMPTY_ANNOTATIONS.sub(b"", doc, count=1)
        parts[n].append(doc.replace(f"{FOLDER}{n}/in/".encode(), b""))
    return [b"---\n".join(docs) for docs in parts]


def _json(doc: object) -> bytes:
    return json.dumps(doc, indent=2).encode() + b"\n"
