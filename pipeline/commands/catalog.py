"""`hydrate catalog`: the fleet's packages, rendered once to learn their CRDs."""

from __future__ import annotations

from pipeline.commands import render as render_mod
from pipeline.commands.context import Context, load_inventory
from pipeline.report import catalog as catalog_mod


def catalog(ctx: Context, jobs: int) -> catalog_mod.Catalog:
    """The catalog of the working tree's packages. The whole fleet is rendered (not
    validated; the cache makes it cheap) for the CRDs each package renders and uses."""
    tree, inv = load_inventory(ctx)
    rendered = render_mod.render_fleet(ctx, tree, inv, (), (), jobs, validate=False)
    return catalog_mod.build(tree, inv, rendered.fleet.clusters, rendered.tools)
