"""Rules for the kustomization files hydrate hands to kustomize.

Kustomize can fetch remote bases and run Helm itself; at render time hydrate allows
neither (no network, helm runs through hydrate so its inputs are keyed and cached).
"""

from __future__ import annotations

import posixpath
from typing import Any

from pipeline.errors import ConfigError

NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_REF_KEYS = ("resources", "components", "bases", "crds")
_FORBIDDEN = {
    "helmCharts": "hydrate runs Helm itself: make this a package with type: helm",
    "helmChartInflationGenerator": "hydrate runs Helm itself: make this a package with type: helm",
    "helmGlobals": "hydrate runs Helm itself: make this a package with type: helm",
}


def is_remote(ref: str) -> bool:
    return "://" in ref or ref.startswith(("git@", "github.com/", "gitlab.com/", "ssh:"))


def check(path: str, data: Any, *, component: bool, root: str) -> None:
    """ConfigError if the kustomization at `path` is of the wrong kind or reaches outside
    `root` (the package or layer directory it belongs to)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping (a kustomization)")
    kind = data.get("kind", "Kustomization")
    if component and kind != "Component":
        raise ConfigError(
            f"{path}: kind: {kind}: an overlay layer must be a Component "
            "(apiVersion: kustomize.config.k8s.io/v1alpha1, kind: Component)"
        )
    if not component and kind != "Kustomization":
        raise ConfigError(f"{path}: kind: {kind}: a package's kustomization must be a Kustomization")
    for key, why in _FORBIDDEN.items():
        if key in data:
            raise ConfigError(f"{path}: {key}: not allowed ({why})")
    for key in _REF_KEYS:
        refs = data.get(key) or []
        if not isinstance(refs, list):
            raise ConfigError(f"{path}: {key}: expected a list")
        for ref in refs:
            if not isinstance(ref, str):
                raise ConfigError(f"{path}: {key}: expected a list of paths, got {ref!r}")
            if is_remote(ref):
                raise ConfigError(
                    f"{path}: {key}: {ref}: remote resources are not allowed "
                    "(no network at render time); vendor it into the repository"
                )
            target = posixpath.normpath(posixpath.join(posixpath.dirname(path), ref))
            if ref.startswith("/") or not (target == root or target.startswith(root + "/")):
                raise ConfigError(
                    f"{path}: {key}: {ref}: leaves the package directory; "
                    f"a package and each layer must be self-contained within {root}"
                )
