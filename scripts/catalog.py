"""Write the example fleet's catalog into docs/catalog.md, between its markers, from the
real CLI (see scripts/catalog); `--check` exits 1 if the file is out of date."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "catalog.md"
START, END = "<!-- catalog:start -->", "<!-- catalog:end -->"


def catalog() -> str:
    """`hydrate catalog --format markdown` of the example fleet, with no HYDRATE_ settings
    from the caller but HYDRATE_CACHE_DIR (the cache changes how fast, never what): without
    it, an empty cache of its own."""
    with tempfile.TemporaryDirectory(prefix="hydrate-catalog-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "HYDRATE_"))}
        env["HYDRATE_CACHE_DIR"] = os.environ.get("HYDRATE_CACHE_DIR") or tmp
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "--repo", str(ROOT), "catalog", "--format", "markdown"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        sys.exit(f"catalog: hydrate catalog failed (exit {proc.returncode}):\n{proc.stderr}")
    return proc.stdout


def main() -> None:
    doc = DOC.read_text()
    if START not in doc or END not in doc:
        sys.exit(f"catalog: {DOC.relative_to(ROOT)} lacks the markers {START} and {END}")
    start, end = doc.index(START) + len(START), doc.index(END)
    new = f"{doc[:start]}\n{catalog()}{doc[end:]}"
    if "--check" in sys.argv[1:]:
        if new != doc:
            sys.exit(f"catalog: out of date: {DOC.relative_to(ROOT)}; run scripts/catalog")
        return
    DOC.write_text(new)
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
