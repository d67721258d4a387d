"""`hydrate init`: start a configuration repository."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from pipeline.cli.group import cli
from pipeline.words import counted


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--from-example", is_flag=True,
              help="Copy hydrate's example fleet (stores, data centres, edge sites) instead "
                   "of the small start.")
@click.option("--force", is_flag=True,
              help="Initialise a directory that is not empty: add the files that are missing, "
                   "keep every file that exists (listed).")
@click.option("--hydrate-requirement", "requirement", metavar="SPEC",
              help="The pip requirement the workflows install hydrate with "
                   "[default: hydrate-gitops==<this version>]; e.g. a wheel URL or "
                   "'hydrate-gitops @ git+https://…@v0.1.0'. (`hydrate` on the package "
                   "index is another project: refused.)")
def init(directory: Path, from_example: bool, force: bool, requirement: str | None) -> None:
    """Create a configuration repository in DIRECTORY.

    It holds fleet/ (three environments with promotion gates, one class, one cluster),
    bases/ (a Kustomize and a local Helm package), an overlay, fleet/policy.yaml, the
    GitHub Actions workflows (render and publish on push, diff and validate on pull
    requests, promote, verify) which install hydrate pinned by
    .github/hydrate-requirements.txt, a README and a .gitignore. It renders and
    validates as created. DIRECTORY becomes a git repository (branch main) unless it is
    inside one already.

    DIRECTORY must be new or empty (a .git folder is fine); with --force, files that
    exist are kept and only the missing ones are written, after the result (kept and
    new files together) loads as hydrate render loads it: a kept file that is broken is
    named and nothing is written. In a folder of an existing repository, the workflows
    are not written (GitHub runs only the repository root's). Nothing is written on
    error; a file, link, FIFO or device at DIRECTORY is refused.
    """
    from pipeline.commands.init import InitOptions
    from pipeline.commands.init import init as run

    done = run(InitOptions(directory, from_example, force, requirement))
    click.echo(f"initialised {done.directory}: {counted(len(done.written), 'file')} written"
               + (f", {len(done.kept)} kept as they were" if done.kept else "")
               + (", new git repository (branch main)" if done.git == "created" else ""))
    for path in done.kept:
        click.echo(f"  kept {path}")
    if done.workflows_skipped is not None:
        click.echo(f"workflows not written: {done.directory} is a folder of the git repository "
                   f"{done.workflows_skipped}, and GitHub runs only the workflows in "
                   f"{done.workflows_skipped / '.github/workflows'}; see hydrate's docs/install.md "
                   "(a configuration in a folder of a repository)")
    here = directory.resolve() == Path.cwd().resolve()
    click.echo("\nnext:\n"
               + ("" if here else f"  cd {shlex.quote(str(directory))}\n") +
               "  git add -A && git commit -m 'Start the fleet configuration'\n"
               "  hydrate render                 # rendered/<env>/<cluster>/\n"
               f"  hydrate explain {done.cluster} {done.package}\n"
               "  git remote add origin URL && git push -u origin main\n"
               "  hydrate publish --remote origin --push\n"
               "  hydrate bootstrap --env dev    # the Argo CD ApplicationSet to apply once\n"
               "see hydrate's docs/getting-started.md for the whole path")
