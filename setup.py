"""Build hook: the wheel ships hydrate's example fleet as pipeline/example/.

The repository keeps one copy of the example (fleet/, bases/, overlays/ at its top, where
`hydrate` run from a clone finds it); `build_py` copies it into the build tree, so
`hydrate init --from-example` works from an installed wheel. Everything else is in
setup.cfg.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

EXAMPLE = ("fleet", "bases", "overlays")


class BuildWithExample(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the repository itself
            return
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "pipeline" / "example"
        missing = [name for name in EXAMPLE if not (root / name).is_dir()]
        if missing:
            raise SystemExit(f"setup.py: the example fleet is incomplete in {root} (no "
                             f"{', '.join(missing)}/): build from a clone or a complete sdist")
        shutil.rmtree(target, ignore_errors=True)
        for name in EXAMPLE:
            shutil.copytree(root / name, target / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithExample})
