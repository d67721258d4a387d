"""Who can do what, where: the RBAC of each rendered cluster, decided as the API server's
RBAC authorizer decides it.

The road: a cluster's rendered Roles, ClusterRoles and bindings plus Kubernetes' built-in
ones for its class's version (`bootstrap`, data generated from Kubernetes' own test data)
→ roles with aggregation resolved and bindings (`model`, `authorizer`) → each subject's
grants, with the binding and role that give them (`authorizer.grants`) → across the fleet,
identical grants on many clusters once (`fleet`) → the tenant policy of
fleet/policy.yaml `access:` as raw hits for validation (`policy`), what a change gains
and loses (`changes`), and text and JSON (`views`).
The tenant policy's rule ids and texts are data in `rules`, which validation imports
at start-up without the rest.

May import: `pipeline.render`, `pipeline.config` and the base modules. `pipeline.validate`,
`pipeline.review`, `pipeline.report` and the commands build on it.
"""
