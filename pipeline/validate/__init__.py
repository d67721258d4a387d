"""Stage 3, nothing wrong reaches a cluster: rendered objects → findings. Schemas per
Kubernetes version and from rendered CRDs, policy rules with waivers, capacity per
cluster, the source file and line of each finding, and SARIF.

May import: `pipeline.access` (the tenant policy's rules), `pipeline.render`, `pipeline.config`
and the base modules.
"""
