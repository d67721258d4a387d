"""Stage 2, from inventory to rendered objects: the package graph, materialising each
(cluster, package) input, running helm and kustomize once per distinct input (cached),
post-processing, what a change affects, and the shards of a CI matrix; and finding and
installing the pinned helm and kustomize (`tools`, `toolinstall`).

May import: `pipeline.config` and the base modules.
"""
