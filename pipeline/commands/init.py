"""`hydrate init`: start a configuration repository.

The files come from the scaffold shipped in the package (`pipeline/scaffold/`): a fleet
of one class and one cluster, a Kustomize and a Helm package, an overlay, the CI
workflows and a README; or, with `from_example`, this project's example fleet. Every
file is prepared in memory before anything is written; a new directory appears whole
(built beside it and renamed), so an interrupted init leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import string
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import pygit2

from pipeline import DISTRIBUTION, __version__
from pipeline.errors import PipelineError
from pipeline.sinks import ondisk, places

REQUIREMENTS = ".github/hydrate-requirements.txt"
WORKFLOWS = ".github/workflows/"
CONFIG_DIRS = ("fleet", "bases", "overlays")
_TEMPLATES = ("README.md",)  # scaffold files with ${...} fields filled in


class InitError(PipelineError):
    """The directory cannot be initialised (not empty, not a directory, not writable)."""


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    from_example: bool = False
    force: bool = False  # initialise a non-empty directory; existing files are kept
    requirement: str | None = None  # the pip requirement CI installs; default hydrate-gitops==<this version>


@dataclass(frozen=True)
class Initialised:
    directory: Path
    written: tuple[str, ...]  # repository paths, sorted
    kept: tuple[str, ...]  # paths that existed and were left as they were (--force)
    git: str  # "created", "existing" (inside a repository already)
    cluster: str  # a cluster of the new fleet, for the next steps
    package: str  # a package of that cluster
    # The root of the repository the directory is a folder of (None: it is its own root):
    # then the workflows were not written (GitHub runs only <root>/.github/workflows).
    workflows_skipped: Path | None = None


def init(opts: InitOptions) -> Initialised:
    """Write the scaffold (or the example fleet) into `opts.directory`."""
    target = opts.directory
    places.claim_dir(target, what="init", stamp=None, filled_ok=True)  # no file, link, FIFO
    files, cluster, package = plan(opts)
    present = _entries(target)
    if present and not opts.force:
        shown = ", ".join(present[:5]) + (f" and {len(present) - 5} more" if len(present) > 5 else "")
        raise InitError(f"{target}: not empty ({shown}); choose a new directory, or give --force "
                        "to add the files that are missing (existing files are kept)")
    inside = pygit2.discover_repository(str(target if target.exists() else _existing_parent(target)))
    root = _work_tree(inside)
    skipped = None
    if root is not None and root != places.absolute(target).resolve():
        # GitHub runs only the workflows at the root of a repository, never a folder's.
        files = {p: c for p, c in files.items() if not p.startswith(WORKFLOWS)}
        skipped = root
    kept = tuple(p for p in files if present and os.path.lexists(target / p))
    added = {p: c for p, c in files.items() if p not in kept}
    if present:
        _refuse_escapes(target, list(added))
        _check_kept(target, added)
    try:
        if present:  # --force: file by file, each whole
            for path, data in added.items():
                _write(target, path, data)
            if inside is None:
                pygit2.init_repository(str(target), initial_head="main")
        else:
            _write_whole(target, files, git=inside is None)
    except OSError as e:
        raise InitError(f"{target}: cannot write: {e.strerror or e}") from None
    git = "existing" if inside is not None else "created"
    return Initialised(target, tuple(added), kept, git, cluster, package, skipped)


def _work_tree(git_dir: str | None) -> Path | None:
    """The root of the working tree of the repository at `git_dir` (None: none, or bare)."""
    if git_dir is None:
        return None
    workdir = pygit2.Repository(git_dir).workdir
    return Path(workdir).resolve() if workdir else None


def _check_kept(target: Path, added: dict[str, bytes]) -> None:
    """With --force, the files kept and the files added must load as one configuration,
    as `hydrate render` loads it: InitError naming what is wrong, before anything is
    written (a kept file is the user's to fix; hydrate never rewrites it)."""
    from pipeline.config import inventory as inventory_mod
    from pipeline.config.edits import Edited
    from pipeline.config.source import DirTree

    try:
        inventory_mod.load(Edited(DirTree(target), added))
    except PipelineError as e:
        raise InitError(f"{target}: the files kept would not load with the new ones: {e}; fix "
                        "that and run init --force again (nothing was written)") from None


def plan(opts: InitOptions) -> tuple[dict[str, bytes], str, str]:
    """Every file of the new repository (path → content), and a cluster and one of its
    packages to name in the next steps."""
    files = dict(_walk(resources.files("pipeline") / "scaffold", ""))
    if opts.from_example:
        from pipeline.example import example_root

        root = example_root()
        files = {p: c for p, c in files.items() if p.split("/", 1)[0] not in CONFIG_DIRS}
        for top in CONFIG_DIRS:
            files.update(_walk(root / top, f"{top}/"))
    cluster, package = _first_cluster(files)
    fields = {"cluster": cluster, "package": package}
    for path in _TEMPLATES:
        files[path] = string.Template(files[path].decode()).substitute(fields).encode()
    requirement = _requirement(opts.requirement)
    files[REQUIREMENTS] = (
        "# The hydrate release this repository renders with: the workflows install exactly\n"
        "# this (pip requirement syntax). Pull requests render with main's pin; after an\n"
        "# upgrade is merged, the next publish renders every cluster with the new version.\n"
        f"{requirement}\n").encode()
    return dict(sorted(files.items())), cluster, package


# A requirement's project name (PEP 508), and a wheel file's (PEP 427: `_` for `-`).
_NAME = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\]\s*)?(?:[@=<>!~;]|$)")
_WHEEL = re.compile(r"(?:.*/)?([A-Za-z0-9_.]+)-[^-/]+-[^/]*\.whl")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(given: str | None) -> str:
    """One pip requirement line for hydrate's distribution (a name, or a wheel file or URL):
    no option (`--index-url …`), no second line, and not `hydrate`, another project."""
    if given is None:
        return f"{DISTRIBUTION}=={__version__}"
    spec = given.strip()
    found = _NAME.match(spec) if not spec.startswith(("-", ".", "/")) else None
    wheel = _WHEEL.fullmatch(spec)
    name = found.group(1) if found else wheel.group(1) if wheel else ""
    example = (f"e.g. '{DISTRIBUTION}=={__version__}' or '{DISTRIBUTION} @ "
               f"https://…/{DISTRIBUTION.replace('-', '_')}-{__version__}-py3-none-any.whl'")
    if _normal(name) == "hydrate":
        raise InitError(f"--hydrate-requirement {given!r}: `hydrate` on the package index is "
                        f"another project; hydrate's distribution is {DISTRIBUTION}: {example}")
    if "\n" in spec or "\r" in spec or _normal(name) != DISTRIBUTION:
        raise InitError(f"--hydrate-requirement {given!r}: give one pip requirement for "
                        f"{DISTRIBUTION}, {example}")
    return spec


def _walk(node: Traversable, prefix: str) -> Iterator[tuple[str, bytes]]:
    for child in node.iterdir():
        if child.name == "__pycache__":
            continue
        path = f"{prefix}{child.name}"
        if child.is_dir():
            yield from _walk(child, f"{path}/")
        else:
            yield path, child.read_bytes()


def _first_cluster(files: dict[str, bytes]) -> tuple[str, str]:
    """The first cluster file of the fleet and the first package of its class (read with
    the plain YAML loader: the files are ours and are validated by the first render)."""
    import yaml

    clusters = sorted(p for p in files if p.startswith("fleet/clusters/") and p.endswith(".yaml"))
    if not clusters:
        raise InitError("the scaffold has no cluster (fleet/clusters/*.yaml); the package is incomplete")
    cluster = yaml.safe_load(files[clusters[0]])
    klass = yaml.safe_load(files.get(f"fleet/classes/{cluster['class']}.yaml", b"{}")) or {}
    packages = [*klass.get("packages", []), *(cluster.get("packages") or {}).get("add", [])]
    helm = [p for p in packages if b"type: helm" in files.get(f"bases/{p}/package.yaml", b"")]
    return str(cluster["name"]), str(next(iter(helm or packages), ""))


def _entries(target: Path) -> list[str]:
    """What the directory holds, besides a git repository (`git init` first is fine)."""
    if not target.exists():
        return []
    return sorted(e.name for e in target.iterdir() if e.name != ".git")


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def _refuse_escapes(target: Path, paths: list[str]) -> None:
    """With --force, every file must land where it says: not through a symlinked directory
    that leads elsewhere, and not below something that is not a directory."""
    root = target.resolve()
    for path in paths:
        parent = (target / path).parent
        if not parent.resolve().is_relative_to(root):
            raise InitError(f"{target / path}: its directory leads outside {target} (a symlink); "
                            "nothing was written")
        blocked = next((p for p in [parent, *parent.parents] if p.exists() and not p.is_dir()), None)
        if blocked is not None and blocked.is_relative_to(target):
            raise InitError(f"{blocked}: is a file, but {path} goes below it; move it away or "
                            "choose a new directory; nothing was written")


def _write(root: Path, path: str, data: bytes) -> None:
    """One file, whole or not at all."""
    dest = root / path
    dest.parent.mkdir(parents=True, exist_ok=True)
    ondisk.replace_file(dest, data)  # with the umask's mode


def _write_whole(target: Path, files: dict[str, bytes], git: bool) -> None:
    """A new or empty directory, filled whole or not at all: everything is built beside
    it, then renamed into place (the directory itself, or each of its top entries)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = places.new_dir(target.parent, f".{target.name}.init-")  # the umask's mode
    moved: list[Path] = []
    try:
        for path, data in files.items():
            _write(staging, path, data)
        if git:
            pygit2.init_repository(str(staging), initial_head="main")
        if not target.exists():
            staging.rename(target)
            return
        for entry in sorted(staging.iterdir()):
            dest = target / entry.name
            if dest.exists() or dest.is_symlink():
                raise InitError(f"{dest}: appeared while {target} was being initialised; nothing "
                                "was written")
            entry.rename(dest)
            moved.append(dest)
    except BaseException:
        for dest in moved:
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
