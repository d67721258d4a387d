"""The one way hydrate runs helm and kustomize.

Binaries are looked up once (`locate`), in this order: `HYDRATE_HELM` /
`HYDRATE_KUSTOMIZE`; the folder of the running Python (where `scripts/bootstrap` puts the
pinned ones); the user tools directory (where `hydrate tools install` puts them:
HYDRATE_CACHE_DIR/tools, else e.g. ~/.cache/hydrate/tools); PATH. A folder earlier in
that order wins; inside one, `kustomize` before `kubectl`, which serves as kustomize
(`kubectl kustomize DIR`). Every run gets an argv list (no shell), a timeout, and a
hermetic environment: a private HOME and Helm folders, none of the caller's
GIT_*/HELM_*/KUBE* variables, a proxy that goes nowhere, and a git that allows no
transport and reads no system or global config. So no render reaches the network even if
a check of the configuration misses a remote reference: kustomize fetches remote bases
with `git fetch`, and files over HTTP(S) with Go's client, which obeys the proxy.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ToolError
from pipeline.render.toolinstall import user_tools_dir
from pipeline.words import counted

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


# Where binaries are looked for after the environment overrides, in this order.
PYTHON_FOLDER = "python folder"
USER_TOOLS = "user tools"
ON_PATH = "PATH"


@dataclass(frozen=True)
class Located:
    argv: tuple[str, ...]  # how to invoke it, e.g. ("/x/kubectl", "kustomize")
    origin: str  # HYDRATE_HELM / HYDRATE_KUSTOMIZE, PYTHON_FOLDER, USER_TOOLS or ON_PATH


def folders(environ: Mapping[str, str], python_dir: Path | None = None) -> tuple[tuple[str, Path], ...]:
    """The folders looked in (after the overrides, before PATH), with their names."""
    return ((PYTHON_FOLDER, python_dir or Path(sys.executable).parent),
            (USER_TOOLS, user_tools_dir(environ)))


def locate(tool: str, environ: Mapping[str, str], python_dir: Path | None = None) -> Located:
    """Where `tool` ("helm" or "kustomize") is taken from; ToolError when nowhere.
    `python_dir`: the running Python's folder unless given."""
    variable = f"HYDRATE_{tool.upper()}"
    override = environ.get(variable)
    if override:
        return Located(_argv(tool, override), variable)
    names = ("helm",) if tool == "helm" else ("kustomize", "kubectl")
    places = folders(environ, python_dir)
    for origin, folder in places:
        for name in names:
            candidate = folder / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return Located(_argv(tool, str(candidate)), origin)
    for name in names:
        found = shutil.which(name, path=environ.get("PATH", os.defpath))
        if found:
            return Located(_argv(tool, found), ON_PATH)
    wanted = "helm" if tool == "helm" else "kustomize (nor kubectl)"
    raise ToolError(f"{wanted} not found ({variable} unset; not in {places[0][1]}, {places[1][1]} "
                    f"or on PATH): run `hydrate tools install`, or set {variable} to a "
                    f"{' or '.join(names)} binary")


def _argv(tool: str, path: str) -> tuple[str, ...]:
    return (path,) if tool == "helm" else _kustomize_argv(path)


def _kustomize_argv(path: str) -> tuple[str, ...]:
    return (path, "kustomize") if Path(path).name.startswith("kubectl") else (path, "build")


# Go runtime settings for the tools: what the runtime accepts, and how to say it.
_GOGC = (re.compile(r"off|[0-9]+"), "off or a percentage such as 100")
_GOMEMLIMIT = (re.compile(r"off|[0-9]+(?:B|KiB|MiB|GiB|TiB)?"), "off or a size such as 1GiB or 512MiB")


def _go_setting(environ: Mapping[str, str], name: str, default: str,
                form: tuple[re.Pattern[str], str]) -> str:
    """A Go runtime setting for the tools; one the runtime would refuse (every tool run
    would die at its start) is an error here, saying what is allowed."""
    value = environ.get(name, default)
    if not form[0].fullmatch(value):
        raise ToolError(f"{name}={value!r}: not a value Go accepts; give {form[1]}")
    return value


def hermetic_env(home: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of every tool run: only what the tools need, nothing leaks in."""
    return {
        "PATH": environ.get("PATH", os.defpath),
        "HOME": str(home),
        "TMPDIR": environ.get("TMPDIR", "/tmp"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",  # a chart formatting a date prints the same on every machine
        # helm and kustomize are short-lived Go programs: collecting garbage only costs
        # them time. No collection until the heap nears the limit (same output).
        "GOGC": _go_setting(environ, "HYDRATE_GOGC", "off", _GOGC),
        "GOMEMLIMIT": _go_setting(environ, "HYDRATE_GOMEMLIMIT", "1GiB", _GOMEMLIMIT),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(home / "kubeconfig"),
        "HTTP_PROXY": DEAD_PROXY,
        "HTTPS_PROXY": DEAD_PROXY,
        "ALL_PROXY": DEAD_PROXY,
        "http_proxy": DEAD_PROXY,
        "https_proxy": DEAD_PROXY,
        "all_proxy": DEAD_PROXY,
        "NO_PROXY": "",
        "no_proxy": "",
        # Set but empty: git allows no transport at all (https, ssh, git, file), so it
        # refuses before it resolves a host name.
        "GIT_ALLOW_PROTOCOL": "",
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_SSH_COMMAND": "false",
        "GIT_SSH": "false",
        "GIT_TERMINAL_PROMPT": "0",
        # No url.insteadOf, credential helper or proxy from the machine's git config.
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


def run(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str],
        timeout: float = DEFAULT_TIMEOUT, what: str = "",
        places: Mapping[str, str] | None = None) -> bytes:
    """Run `argv` and return its stdout; ToolError otherwise: a first line that says it
    all (`what`, the tool, its error), then the command and stderr. `places` renames
    workspace paths (relative to `cwd`) in the message, e.g. to repository paths."""
    shown = display(argv)
    prefix = f"{what}: " if what else ""
    try:
        proc = subprocess.run(list(argv), cwd=cwd, env=dict(env), capture_output=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        if not cwd.is_dir():
            raise ToolError(f"{prefix}working directory {cwd} does not exist") from None
        raise ToolError(f"{prefix}{argv[0]}: no such program (run `hydrate tools install`, "
                        "or set HYDRATE_HELM / HYDRATE_KUSTOMIZE)") from None
    except PermissionError:
        raise ToolError(f"{prefix}{argv[0]}: not executable") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{prefix}{shown}: timed out after {timeout:.0f}s") from None
    if proc.returncode != 0:
        stderr = rename(proc.stderr.decode(errors="replace"), cwd, places or {})
        lines = [line for line in stderr.splitlines() if line.strip()]
        first = f"{prefix}{_name(argv)} failed (exit {proc.returncode}): {essential(lines)}"
        # The whole stderr, unless the first line already says all it does.
        detail = ("" if len(lines) < 2 and not first.endswith("(see stderr below)") else
                  "\n  stderr:\n" + "\n".join(f"    {line}" for line in _excerpt(lines)))
        raise ToolError(f"{first}\n  command: {shown}{detail}")
    return proc.stdout


def _name(argv: Sequence[str]) -> str:
    name = Path(argv[0]).name
    return f"{name} kustomize" if name.startswith("kubectl") and list(argv[1:2]) == ["kustomize"] else name


_ERROR_LINE = re.compile(r"^(?:error|fatal)\b:?\s*", re.I)
_PANIC_LINE = re.compile(r"^panic\b", re.I)
_FIRST_LINE_MAX = 600


def essential(lines: Sequence[str]) -> str:
    """The line of a tool's stderr that says what went wrong: its first error line
    (without the `Error:` prefix), a panic, or else its first line."""
    chosen = next((line.strip() for line in lines
                   if _ERROR_LINE.match(line.strip()) or _PANIC_LINE.match(line.strip())),
                  lines[0].strip() if lines else "(no output on stderr)")
    chosen = _ERROR_LINE.sub("", chosen, count=1) or chosen
    if len(chosen) > _FIRST_LINE_MAX:
        chosen = chosen[:_FIRST_LINE_MAX] + " ... (see stderr below)"
    return chosen


def rename(text: str, cwd: Path, places: Mapping[str, str]) -> str:
    """`text` with the workspace `cwd` dropped from paths and each workspace path in
    `places` replaced by its name (longest first, whole path segments only)."""
    for root in sorted({str(cwd), os.path.realpath(cwd)}, key=len, reverse=True):
        text = text.replace(root + "/", "").replace(root, ".")
    if not places:
        return text
    # One pass, longest first; a path, not a word: followed by a separator, a quote,
    # a colon or the line end.
    names = "|".join(re.escape(src) for src in sorted(places, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w./-])(?:{names})(?=[/'\"\\:)\]]|$)", re.M)
    return pattern.sub(lambda m: places[m.group(0)], text)


def _excerpt(lines: list[str], head: int = 12, tail: int = 4) -> list[str]:
    """The start of a long stderr (where Go puts the panic) and its end."""
    if len(lines) <= head + tail:
        return lines
    return [*lines[:head], f"... ({counted(len(lines) - head - tail, 'more line')})", *lines[-tail:]]


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


def version_of(tool: str, argv: Sequence[str], home: Path, environ: Mapping[str, str]) -> str:
    """The version `tool` ("helm" or "kustomize", invoked as `argv`) reports, e.g. v5.6.0."""
    env = hermetic_env(home, environ)
    if tool == "helm":
        return run([argv[0], "version", "--template", "{{.Version}}"], cwd=home, env=env,
                   timeout=30, what="helm version").decode().strip()
    if tuple(argv[1:]) == ("kustomize",):  # kubectl
        out = run([argv[0], "version", "--client", "-o", "json"], cwd=home, env=env,
                  timeout=30, what="kubectl version")
        try:
            version = str(json.loads(out).get("kustomizeVersion", "unknown"))
        except (ValueError, AttributeError):
            version = "unknown"
    else:
        version = run([argv[0], "version"], cwd=home, env=env, timeout=30,
                      what="kustomize version").decode().strip()
    return version.split("@")[0].removeprefix("kustomize/")


def discover(environ: Mapping[str, str], home: Path, memo: Path | None = None) -> Toolset:
    """Find helm and kustomize (`locate`) and ask each for its version. With `memo` (a
    file in the cache directory), versions are remembered per binary (path, size, mtime)."""
    known = _versions(memo)
    helm = locate("helm", environ).argv
    kz = locate("kustomize", environ).argv
    try:
        ids = {"helm": _identity(helm[0]), "kustomize": _identity(kz[0])}
    except OSError:
        ids = {}
    helm_version = known.get(ids.get("helm", "-"))
    if helm_version is None:
        helm_version = version_of("helm", helm, home, environ)
    kz_version = known.get(ids.get("kustomize", "-"))
    if kz_version is None:
        kz_version = version_of("kustomize", kz, home, environ)
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
    return Toolset(Tool("helm", helm, helm_version), Tool("kustomize", kz, kz_version))
