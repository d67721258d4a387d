"""Where hydrate's example fleet is: in a clone, the repository's own fleet/, bases/ and
overlays/ beside pipeline/; in an installed wheel, the copy setup.py puts into
pipeline/example/ at build time (the repository holds one copy only)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pipeline.errors import PipelineError

PARTS = ("fleet", "bases", "overlays")


def example_root() -> Path:
    """The directory holding the example's fleet/, bases/ and overlays/."""
    package = resources.files("pipeline")
    if isinstance(package, Path):
        clone = package.parent
        if (clone / "fleet" / "environments.yaml").is_file() and all(
                (clone / part).is_dir() for part in PARTS):
            return clone
    shipped = package / "example"
    if isinstance(shipped, Path) and (shipped / "fleet" / "environments.yaml").is_file():
        return shipped
    raise PipelineError(f"the example fleet is not in this installation of hydrate ({package}): "
                        "install hydrate from a wheel built by its setup.py, or run it from a clone")
