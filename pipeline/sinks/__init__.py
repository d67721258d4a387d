"""Stage 4, where rendered clusters go: an output directory (written all or nothing),
environment branches and the agents' layouts on them, remotes, and the fan-in of shards.

May import: `pipeline.validate`, `pipeline.render`, `pipeline.config` and the base modules.
"""
