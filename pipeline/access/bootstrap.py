"""Kubernetes' built-in RBAC (the bootstrap policy: `cluster-admin`, `admin`, `edit`,
`view`, the `system:` roles and their bindings) per Kubernetes minor, read from the data
`scripts/gen-bootstrap-policy` generates from Kubernetes' own test data (Apache-2.0):
`bootstrap/index.json` names the dataset of each minor."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pipeline.access.model import Binding, Role, builtin

_MINOR = re.compile(r"^v?1\.(\d+)(\.\d+)?$")


@dataclass(frozen=True)
class Policy:
    dataset: str  # the file's stem: part of every cache key
    source: dict[str, Any]
    roles: tuple[Role, ...]
    bindings: tuple[Binding, ...]


def _read(name: str) -> Any:
    return json.loads(resources.files("pipeline.access").joinpath("bootstrap", name).read_text())


def dataset_for(kubernetes_version: str) -> str:
    """The dataset of a class's kubernetesVersion: its minor's, else the newest older one,
    else the oldest (ValueError for a version that is not one)."""
    m = _MINOR.match(kubernetes_version.strip())
    if m is None:
        raise ValueError(f"{kubernetes_version!r} is not a Kubernetes version")
    minors: dict[str, str] = _read("index.json")["minors"]
    wanted = int(m.group(1))
    known = sorted(minors, key=lambda v: int(v.split(".")[1]))
    older = [v for v in known if int(v.split(".")[1]) <= wanted]
    return minors[older[-1] if older else known[0]]


@cache
def load(dataset: str) -> Policy:
    """The built-in roles and bindings of a dataset (read once per process)."""
    data = _read(f"{dataset}.json")
    roles, bindings = builtin(data)
    return Policy(dataset, data["source"], roles, bindings)
