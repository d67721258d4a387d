"""The API versions a chart sees as `.Capabilities.APIVersions`.

`helm template` knows only the built-in APIs of its `--kube-version` unless told more
with `--api-versions`, so a chart's `ServiceMonitor`, `VerticalPodAutoscaler` or Gateway
route gated on `.Capabilities.APIVersions.Has` vanishes without a word (Argo CD passes
the live cluster's). hydrate passes, to a chart that reads them, what the cluster
serves: the class's (or the cluster's) `apiVersions`, and the API versions of the CRDs
the cluster's other packages render (see `served`; the engine settles them in rounds).

Which charts read them is found by scanning their templates (subcharts and library
charts included, packed or not) for `APIVersions`; the versions a chart checks by name
(`.Capabilities.APIVersions.Has "monitoring.coreos.com/v1"`) are kept, so a render can
say which checks were false.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_READS = b"APIVersions"
_CHECK = re.compile(rb"""APIVersions\.Has\s+["'`]([^"'`\s]+)["'`]""")
_MAX_MEMBER = 8 << 20  # bytes of one packed template scanned


@dataclass(frozen=True)
class Capabilities:
    """What a chart does with `.Capabilities.APIVersions`."""

    reads: bool = False
    checks: tuple[str, ...] = ()  # versions it checks by name, sorted

    def false_checks(self, apis: Iterable[str]) -> tuple[str, ...]:
        """The checks by name that the API versions `apis` leave false (Helm's `Has`:
        "group/version" or "group/version/Kind", the built-in ones aside)."""
        served = set(apis)
        return tuple(c for c in self.checks if c not in served and "/" in c
                     and "." in c.split("/", 1)[0])


def scan(files: Iterable[tuple[str, bytes]]) -> Capabilities:
    """The capabilities use of a chart's template files (`.tgz` subcharts opened)."""
    reads = False
    checks: set[str] = set()
    for path, data in files:
        for text in _texts(path, data):
            if _READS in text:
                reads = True
                checks.update(m.decode(errors="replace") for m in _CHECK.findall(text))
    return Capabilities(reads, tuple(sorted(checks)))


def _texts(path: str, data: bytes) -> Iterable[bytes]:
    if not path.endswith((".tgz", ".tar.gz")):
        return [data]
    found = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive:
                if member.isfile() and member.size <= _MAX_MEMBER and "/templates/" in member.name:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        found.append(handle.read())
    except (tarfile.TarError, OSError, EOFError):
        return []  # helm will say what is wrong with the archive
    return found


def served(crds: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    """The API versions CRD objects make a cluster serve: for each served version,
    "group/version" and "group/version/Kind" (what Helm's `--api-versions` takes)."""
    found: set[str] = set()
    for doc in crds:
        spec = doc.get("spec") if isinstance(doc, Mapping) else None
        if not isinstance(spec, Mapping):
            continue
        group, names = spec.get("group"), spec.get("names")
        kind = names.get("kind") if isinstance(names, Mapping) else None
        versions = spec.get("versions") or ([{"name": spec["version"]}] if spec.get("version") else [])
        if not (isinstance(group, str) and isinstance(kind, str) and isinstance(versions, list)):
            continue
        for version in versions:
            if isinstance(version, Mapping) and isinstance(version.get("name"), str) \
                    and version.get("served", True) is not False:
                found.add(f"{group}/{version['name']}")
                found.add(f"{group}/{version['name']}/{kind}")
    return tuple(sorted(found))
