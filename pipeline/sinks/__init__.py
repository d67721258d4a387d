"""Stage 4, where rendered clusters go: an output directory (written all or nothing),
environment branches and the agents' layouts on them, remotes, the fan-in of shards, and
OCI registries (`oci/`: one artifact per cluster, the branch kept as the ledger).

May import: `pipeline.validate`, `pipeline.render`, `pipeline.config` and the base modules.
"""
