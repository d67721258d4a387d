"""What changed between two renders of the example fleet, for a reviewer: per package and
kind, the objects added, removed and changed, and on how many clusters (used by
scripts/refresh-golden; reads files only, with PyYAML)."""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import yaml


def _objects(root: Path) -> dict[tuple[str, str, str], bytes]:
    """(env/cluster, package, file) → the file's bytes, for every object file."""
    found: dict[tuple[str, str, str], bytes] = {}
    for path in sorted(root.glob("*/*/*/*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        env, cluster, package = path.parts[-4:-1]
        found[(f"{env}/{cluster}", package, path.name)] = path.read_bytes()
    return found


def _kind(data: bytes) -> str:
    return str((yaml.safe_load(data) or {}).get("kind", "?"))


def summary(old: Path, new: Path) -> list[str]:
    before, after = _objects(old), _objects(new)
    counts: dict[tuple[str, str], dict[str, set[tuple[str, str]]]] = defaultdict(
        lambda: {"added": set(), "removed": set(), "changed": set()})
    for key in before.keys() | after.keys():
        cluster, package, name = key
        if key not in before:
            what, kind = "added", _kind(after[key])
        elif key not in after:
            what, kind = "removed", _kind(before[key])
        elif before[key] != after[key]:
            what, kind = "changed", _kind(after[key])
        else:
            continue
        counts[(package, kind)][what].add((cluster, name))
    if not counts:
        return ["golden: no object changed"]
    lines = [f"{'package':<20} {'kind':<28} {'added':>6} {'removed':>8} {'changed':>8}  clusters"]
    for (package, kind), by in sorted(counts.items()):
        clusters = {c for keys in by.values() for c, _ in keys}
        lines.append(f"{package:<20} {kind:<28} {len(by['added']):>6} {len(by['removed']):>8} "
                     f"{len(by['changed']):>8}  {len(clusters)}")
    return lines


if __name__ == "__main__":
    print("\n".join(summary(Path(sys.argv[1]), Path(sys.argv[2]))))
