"""`hydrate bootstrap`: what an operator applies once so the agent follows an env branch."""

from __future__ import annotations

import click

from pipeline.cli.group import cli
from pipeline.commands.context import Context


@cli.command()
@click.option("--env", "env", required=True, metavar="ENV", help="The environment.")
@click.option("--cluster", metavar="CLUSTER",
              help="One cluster (required for Flux). Argo CD without it: an ApplicationSet.")
@click.option("--repo-url", metavar="URL",
              help="URL agents clone the branches from. Default: the origin remote's URL. "
                   "An OCI environment: the repository agents pull from (a site's mirror); "
                   "default: its oci.repository.")
@click.option("--destination", metavar="NAME",
              help="Argo CD: the destination cluster's name (default: the in-cluster server).")
@click.option("--secret", metavar="NAME", help="Flux: secret with the git credentials.")
@click.pass_obj
def bootstrap(ctx: Context, env: str, cluster: str | None, repo_url: str | None,
              destination: str | None, secret: str | None) -> None:
    """Print what an operator applies once so the agent follows an env branch.

    Argo CD: an Application for --cluster, or an ApplicationSet with a git directory
    generator over clusters/* for the whole environment. Flux: a GitRepository on the
    env branch and the root Kustomization of the cluster's directory. Options the
    environment's agent does not use are refused. An environment with `oci:` gets the
    same on its artifacts at the moving tag: Flux an OCIRepository, Argo CD an OCI
    source (an ApplicationSet with a list of the clusters).
    """
    from pipeline.commands import bootstrap as bootstrap_mod

    try:
        text = bootstrap_mod.bootstrap(ctx, bootstrap_mod.BootstrapOptions(
            env, cluster, repo_url, destination, secret))
    except bootstrap_mod.OptionError as e:
        raise click.UsageError(str(e)) from None
    click.echo(text, nl=False)
