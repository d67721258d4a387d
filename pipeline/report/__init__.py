"""Ways to see the fleet: the package graph (later also the catalog and the HTML report).

May import: `pipeline.review` and every stage below it.
"""
