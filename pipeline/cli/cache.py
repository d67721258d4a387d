"""`hydrate cache info|prune`: inspecting and bounding the render cache."""

from __future__ import annotations

import click

from pipeline.cli.group import cli
from pipeline.commands.context import Context
from pipeline.words import counted, size


@cli.group()
def cache() -> None:
    """Inspect and bound the render cache (see --cache-dir)."""


@cache.command("info")
@click.pass_obj
def cache_info(ctx: Context) -> None:
    """Where the cache is, how many entries and bytes it holds."""
    from pipeline.commands import cache as cache_mod

    found = cache_mod.info(ctx)
    click.echo(f"{found.root}: {counted(found.entries, 'entry', 'entries')}, {size(found.bytes)}")


@cache.command("prune")
@click.option("--max-size", default="2G", show_default=True, metavar="SIZE",
              help="Keep at most this much (500M, 2G, ...), evicting the least recently used.")
@click.option("--older-than", metavar="DAYS", type=click.FloatRange(min=0),
              help="Also drop entries unused for this many days.")
@click.pass_obj
def cache_prune(ctx: Context, max_size: str, older_than: float | None) -> None:
    """Evict least recently used entries until the cache fits in --max-size."""
    from pipeline.commands import cache as cache_mod

    try:
        limit = cache_mod.parse_size(max_size)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--max-size") from None
    done = cache_mod.prune(ctx, cache_mod.PruneOptions(limit, older_than))
    click.echo(f"{done.root}: removed {counted(done.removed, 'entry', 'entries')} ({size(done.freed)}), "
               f"{size(done.kept)} kept")
