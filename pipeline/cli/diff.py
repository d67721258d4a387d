"""`hydrate diff`: what a change does to the rendered manifests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli.group import cli, cluster_option, env_option, jobs_option
from pipeline.commands.context import Context
from pipeline.errors import PipelineError


@cli.command()
@click.option("--base", metavar="REV", help="The revision to compare against (e.g. origin/main).")
@click.option("--head", default="HEAD", show_default=True, metavar="REV",
              help="The revision with the change.")
@env_option
@cluster_option
@click.option("--against-branch", is_flag=True,
              help="Compare HEAD's render with what the environment branches hold "
                   "(what a publish or promotion would change) instead of --base.")
@click.option("--remote", metavar="NAME|URL", help="With --against-branch: read this remote's branches.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here instead of stdout.")
@click.option("--report-url", metavar="URL",
              help="Where the full report is, named in markdown when diffs are cut.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the JSON result to this file (same run, same redaction).")
@click.option("--full-markdown", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the markdown without the comment size limit to this file.")
@click.option("--exit-code", is_flag=True,
              help="Exit 0 when nothing changed, 1 when something did, 2 or above on errors.")
@jobs_option
@click.pass_obj
def diff(ctx: Context, base: str | None, head: str, envs: tuple[str, ...],
         clusters: tuple[str, ...], against_branch: bool, remote: str | None, fmt: str,
         output: Path | None, report_url: str | None, json_file: Path | None,
         full_markdown: Path | None, exit_code: bool, jobs: int) -> None:
    """Show what a change does to the rendered manifests of every cluster.

    Renders both revisions from git (never the working tree), compares them object by
    object and reports, per environment and class, what changed: identical changes on
    many clusters are shown once, risky changes are flagged first, Secret values never
    appear. Formats: text (coloured on a terminal), markdown (one GitHub comment, at
    most 65,536 characters) and json (the full result).

    Exit status: 0 on success (with --exit-code: 0 no change, 1 changes), 1 on errors
    (with --exit-code: 2, also when a revision fails to render).
    """
    from pipeline.commands import diff as diff_mod
    from pipeline.review import diffviews
    from pipeline.sinks import places

    if bool(base) == against_branch:
        raise click.UsageError("give either --base REV or --against-branch")
    files = {"--json": json_file, "--full-markdown": full_markdown, "--output": output}
    for option, path in files.items():  # refused before the work, not after it
        if path is not None:
            places.claim_file(path, what=option, repo=ctx.repo)
    try:
        result = diff_mod.run(ctx, diff_mod.DiffOptions(base, head, envs, clusters, against_branch,
                                                        remote, jobs))
    except PipelineError as e:
        if not exit_code:
            raise
        click.echo(f"hydrate: error: {e}", err=True)
        sys.exit(2)
    if fmt == "json":
        text = diffviews.to_json(result)
    elif fmt == "markdown":
        text = diffviews.to_markdown(result, report=report_url or "the JSON report (`--format json`)")
    else:
        colour = output is None and sys.stdout.isatty()
        text = diffviews.to_text(result, (lambda t, c: click.style(t, fg=c or None, bold=c == "bold"))
                                 if colour else (lambda t, _: t))
    if json_file is not None:
        places.write_file(json_file, diffviews.to_json(result).encode(), what="--json", repo=ctx.repo)
    if full_markdown is not None:
        places.write_file(full_markdown, diffviews.to_markdown(result, limit=1 << 62).encode(),
                          what="--full-markdown", repo=ctx.repo)
    if output is not None:
        places.write_file(output, text.encode(), what="--output", repo=ctx.repo)
        click.echo(f"{diffviews.headline(result)} → {output}", err=True)
    else:
        click.echo(text, nl=False)
    if result.error:
        if not output and fmt != "text":
            click.echo(f"hydrate: error: {result.error.splitlines()[0]}", err=True)
        sys.exit(2 if exit_code else 1)
    if exit_code and result.changed:
        sys.exit(1)
