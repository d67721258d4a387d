"""Install the pinned helm and kubectl (kustomize) for scripts/bootstrap.

The pins live in pipeline/pins.py, the logic in pipeline/render/toolinstall.py (standard
library only); `hydrate tools install` is the same for an installed hydrate. Quiet when
nothing changes.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.render import toolinstall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, required=True, help="folder to place binaries in")
    parser.add_argument("--cache", type=Path, required=True, help="download cache folder")
    args = parser.parse_args()
    say = lambda line: print(f"install_tools: {line}", file=sys.stderr)  # noqa: E731
    try:
        placed = toolinstall.install(args.dest, os.environ, cache=args.cache, say=say)
    except PipelineError as e:
        sys.exit(f"install_tools: error: {e}")
    for p in placed:
        if p.how != "present":
            say(p.describe())


if __name__ == "__main__":
    main()
