"""Validation as the gate of every render, publish and promotion: a Validator for a
tree's policy (today by HYDRATE_NOW's clock), and a report turned into a stop (error
findings) or one warning line (warnings)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping

from pipeline import clock
from pipeline.config import policy as policy_mod
from pipeline.config.model import Inventory
from pipeline.config.source import Tree
from pipeline.errors import ValidationError
from pipeline.render.cache import Cache
from pipeline.validate.check import Validator
from pipeline.validate.findings import Report
from pipeline.validate.formats import finding_line
from pipeline.version import engine_digest
from pipeline.words import counted

SHOWN_ERRORS = 10


def validator(tree: Tree, inv: Inventory, cache: Cache | None,
              environ: Mapping[str, str]) -> Validator:
    """A Validator for `tree`'s policy; ConfigError at once for a bad policy or a class
    hydrate has no schemas for. Cached findings are keyed by the engine and the schemas."""
    data = importlib.metadata.version("kubernetes-validate")
    return Validator(tree, inv, policy_mod.load(tree, memo=cache), today=clock.now(environ).date(),
                     cache=cache, engine=f"{engine_digest()}/{data}")


def enforce(report: Report, warn: Callable[[str], None] | None) -> Report:
    """ValidationError listing the error findings; one warning line counting the warnings."""
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
    if (report.warnings or report.waived) and warn is not None:
        counts = [counted(len(report.warnings), "warning")] if report.warnings else []
        if report.waived:
            rules = sorted({w.finding.rule for w in report.waived})
            counts.append(f"{counted(len(report.waived), 'waived error')} ({', '.join(rules)}: "
                          "the API server rejects these objects)")
        warn(f"validation: {', '.join(counts)} (`hydrate validate` lists them)")
    return report
