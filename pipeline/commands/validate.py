"""`hydrate validate`, and the validation every render, publish and promotion runs
before anything is written."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import clock
from pipeline.commands.context import Context
from pipeline.config import policy as policy_mod
from pipeline.config.model import Inventory
from pipeline.config.source import Tree
from pipeline.errors import ValidationError
from pipeline.render.cache import Cache
from pipeline.render.engine import ClusterRender
from pipeline.validate.check import Validator
from pipeline.validate.findings import Report
from pipeline.validate.formats import finding_line
from pipeline.version import engine_digest
from pipeline.words import counted

SHOWN_ERRORS = 10


@dataclass(frozen=True)
class ValidateOptions:
    envs: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    jobs: int = os.cpu_count() or 1


def validator(ctx: Context, tree: Tree, inv: Inventory, cache: Cache | None) -> Validator:
    """A Validator for `tree`'s policy, today by HYDRATE_NOW's clock."""
    data = importlib.metadata.version("kubernetes-validate")
    return Validator(tree, inv, policy_mod.load(tree), today=clock.now(ctx.environ).date(),
                     cache=cache, engine=f"{engine_digest()}/{data}")


def check(ctx: Context, tree: Tree, inv: Inventory, renders: Sequence[ClusterRender],
          cache: Cache | None, whole_fleet: bool) -> Report:
    """Validate `renders`; ValidationError listing the error findings, a warning line
    counting the warnings."""
    report = validator(ctx, tree, inv, cache).run(renders, whole_fleet=whole_fleet)
    if report.errors:
        shown = [finding_line(f) + (f" (clusters: {', '.join(f.clusters[:3])}"
                                    f"{', …' if len(f.clusters) > 3 else ''})" if f.clusters else "")
                 for f in report.errors[:SHOWN_ERRORS]]
        more = len(report.errors) - len(shown)
        raise ValidationError(
            f"validation found {counted(len(report.errors), 'error')}; nothing was written\n  "
            + "\n  ".join(shown) + (f"\n  … and {more} more" if more else "")
            + "\n  (`hydrate validate` lists every finding; fleet/policy.yaml sets severities "
              "and waivers)")
    if report.warnings and ctx.warn is not None:
        ctx.warn(f"validation: {counted(len(report.warnings), 'warning')} "
                 "(`hydrate validate` lists them)")
    return report


def run(ctx: Context, opts: ValidateOptions) -> tuple[Report, Inventory]:
    """`hydrate validate`: render the selected clusters of the working tree and check them."""
    from pipeline.commands.render import render_fleet
    from pipeline.config import inventory as inventory_mod

    tree = ctx.tree()
    inv = inventory_mod.load(tree)
    cache = ctx.cache()
    result = render_fleet(ctx, tree, inv, opts.envs, opts.clusters, opts.jobs, cache,
                          validate=False).fleet
    report = validator(ctx, tree, inv, cache).run(
        result.clusters, whole_fleet=not opts.envs and not opts.clusters)
    return report, inv
