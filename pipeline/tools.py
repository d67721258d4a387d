"""The one way hydrate runs helm and kustomize.

Binaries are looked up once: `HYDRATE_HELM` / `HYDRATE_KUSTOMIZE`, then the folder of
the running Python (where `scripts/bootstrap` puts the pinned ones), then PATH.
`kubectl` serves as kustomize (`kubectl kustomize DIR`). Every run gets an argv list (no
shell), a timeout, and a hermetic environment: a private HOME and Helm folders, no
GIT_*/HELM_*/KUBE* variables, and a proxy that goes nowhere, so no render can reach the
network.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ToolError

DEAD_PROXY = "http://127.0.0.1:9"  # discard port: any network attempt fails at once
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True)
class Tool:
    name: str  # "helm" or "kustomize"
    argv: tuple[str, ...]  # how to invoke it, e.g. ("/x/kubectl", "kustomize")
    version: str

    @property
    def id(self) -> str:
        """Name and version: part of every render key."""
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class Toolset:
    helm: Tool
    kustomize: Tool


def _candidates(name: str, environ: Mapping[str, str]) -> list[str]:
    found = []
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        found.append(str(here))
    on_path = shutil.which(name, path=environ.get("PATH", os.defpath))
    if on_path:
        found.append(on_path)
    return found


def find_helm(environ: Mapping[str, str]) -> str:
    override = environ.get("HYDRATE_HELM")
    if override:
        return override
    found = _candidates("helm", environ)
    if not found:
        raise ToolError("helm not found: run scripts/bootstrap, or set HYDRATE_HELM to a helm binary")
    return found[0]


def find_kustomize(environ: Mapping[str, str]) -> tuple[str, ...]:
    override = environ.get("HYDRATE_KUSTOMIZE")
    if override:
        return _kustomize_argv(override)
    for name in ("kustomize", "kubectl"):
        found = _candidates(name, environ)
        if found:
            return _kustomize_argv(found[0])
    raise ToolError("kustomize not found (nor kubectl): run scripts/bootstrap, "
                    "or set HYDRATE_KUSTOMIZE to a kustomize or kubectl binary")


def _kustomize_argv(path: str) -> tuple[str, ...]:
    return (path, "kustomize") if Path(path).name.startswith("kubectl") else (path, "build")


def hermetic_env(home: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of every tool run: only what the tools need, nothing leaks in."""
    return {
        "PATH": environ.get("PATH", os.defpath),
        "HOME": str(home),
        "TMPDIR": environ.get("TMPDIR", "/tmp"),
        "LANG": "C.UTF-8",
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(home / "kubeconfig"),
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "NO_PROXY": "",
    }


def run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
        timeout: float = DEFAULT_TIMEOUT, what: str = "") -> bytes:
    """Run `argv` and return its stdout; ToolError (with command and stderr) otherwise."""
    shown = display(argv)
    prefix = f"{what}: " if what else ""
    try:
        proc = subprocess.run(list(argv), cwd=cwd, env=dict(env), capture_output=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        if not cwd.is_dir():
            raise ToolError(f"{prefix}working directory {cwd} does not exist") from None
        raise ToolError(f"{prefix}{argv[0]}: no such program (run scripts/bootstrap, "
                        "or set HYDRATE_HELM / HYDRATE_KUSTOMIZE)") from None
    except PermissionError:
        raise ToolError(f"{prefix}{argv[0]}: not executable") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{prefix}{shown}: timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip() or "(no output on stderr)"
        detail = "\n".join(f"    {line}" for line in _excerpt(stderr.splitlines()))
        raise ToolError(f"{prefix}{Path(argv[0]).name} failed (exit {proc.returncode})\n"
                        f"  command: {shown}\n  stderr:\n{detail}")
    return proc.stdout


def _excerpt(lines: list[str], head: int = 12, tail: int = 4) -> list[str]:
    """The start of a long stderr (where Go puts the panic) and its end."""
    lines = [line for line in lines if line.strip()]
    if len(lines) <= head + tail:
        return lines
    return [*lines[:head], f"... ({len(lines) - head - tail} more lines)", *lines[-tail:]]


def display(argv: Sequence[str]) -> str:
    return shlex.join([Path(argv[0]).name, *argv[1:]])


def _identity(path: str) -> str:
    """Path, size and mtime of the binary a path resolves to: changes when it is replaced."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def _versions(memo: Path | None) -> dict[str, str]:
    if memo is None:
        return {}
    try:
        data = json.loads(memo.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def discover(environ: Mapping[str, str], home: Path, memo: Path | None = None) -> Toolset:
    """Find helm and kustomize and ask each for its version. With `memo` (a file in the
    cache directory), versions are remembered per binary (path, size, mtime)."""
    env = hermetic_env(home, environ)
    known = _versions(memo)
    helm_path = find_helm(environ)
    kz = find_kustomize(environ)
    try:
        ids = {"helm": _identity(helm_path), "kustomize": _identity(kz[0])}
    except OSError:
        ids = {}
    helm_version = known.get(ids.get("helm", "-"))
    if helm_version is None:
        helm_version = run([helm_path, "version", "--template", "{{.Version}}"], cwd=home,
                           env=env, timeout=30, what="helm version").decode().strip()
    kz_version = known.get(ids.get("kustomize", "-"))
    if kz_version is None:
        if kz[1] == "kustomize":  # kubectl
            out = run([kz[0], "version", "--client", "-o", "json"], cwd=home, env=env,
                      timeout=30, what="kubectl version")
            kz_version = str(json.loads(out).get("kustomizeVersion", "unknown"))
        else:
            kz_version = run([kz[0], "version"], cwd=home, env=env, timeout=30,
                             what="kustomize version").decode().strip()
        kz_version = kz_version.split("@")[0].removeprefix("kustomize/")
    if memo is not None and ids:
        fresh = {**known, ids["helm"]: helm_version, ids["kustomize"]: kz_version}
        if fresh != known:
            try:
                memo.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
                tmp.write_text(json.dumps(fresh, indent=1, sort_keys=True))
                os.replace(tmp, memo)
            except OSError:
                pass  # the memo only saves time
    return Toolset(Tool("helm", (helm_path,), helm_version), Tool("kustomize", kz, kz_version))
