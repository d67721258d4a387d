"""Ways to see the fleet: the package graph (text, dot, JSON, SVG), the catalog of
packages, and the static HTML report (`site` with its Jinja2 templates).

May import every stage before it: `pipeline.promote`, `pipeline.review`, `pipeline.sinks`,
`pipeline.validate`, `pipeline.render`, `pipeline.config` and the base modules.
"""
