"""`hydrate validate`: schemas, policy and capacity findings for the rendered fleet."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline import __version__
from pipeline.cli.group import cli, cluster_option, env_option, jobs_option
from pipeline.commands.context import Context
from pipeline.words import counted


@cli.command()
@env_option
@cluster_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="text for people, json (docs/validation.md), sarif for "
                                      "code scanning.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here instead of stdout.")
@jobs_option
@click.pass_obj
def validate(ctx: Context, envs: tuple[str, ...], clusters: tuple[str, ...], fmt: str,
             output: Path | None, jobs: int) -> None:
    """Check what the working tree renders, before any cluster sees it.

    Every rendered object is checked against the OpenAPI schema of its class's
    kubernetesVersion (unknown fields and API versions the cluster does not serve are
    errors), custom resources against the CRD rendered for the same cluster, the
    policy rules and waivers of fleet/policy.yaml, and each cluster's requests against
    its class's capacity. Findings shared by many clusters are shown once, at the file
    and line that produced the object. render, publish and promote run the same checks
    and stop on errors.

    Exit status: 0 no error findings (warnings are shown), 1 error findings or errors.

    \b
    Examples:
      hydrate validate
      hydrate validate --cluster store-0001
      hydrate validate --format sarif --output hydrate.sarif
    """
    from pipeline.commands import validate as validate_mod
    from pipeline.sinks import places
    from pipeline.validate import formats

    if output is not None:  # refused before the work, not after it
        places.claim_file(output, what="--output", repo=ctx.repo)
    report = validate_mod.run(ctx, validate_mod.ValidateOptions(envs, clusters, jobs))
    if fmt == "json":
        text = formats.as_json(report)
    elif fmt == "sarif":
        text = formats.sarif(report, __version__)
    else:
        text = formats.text(report)
    if output is not None:
        # Written whole or not at all: a reader never sees half a report.
        places.write_file(output, text.encode(), what="--output", repo=ctx.repo)
        click.echo(f"wrote {output}: {counted(len(report.errors), 'error')}, "
                   f"{counted(len(report.warnings), 'warning')}",
                   err=True)
    else:
        sys.stdout.write(text)
    if report.errors:
        sys.exit(1)
