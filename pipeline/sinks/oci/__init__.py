"""The OCI output: an environment's clusters as artifacts in a registry, one per cluster
(`<repository>/<cluster>`), for agents that pull (Flux's `OCIRepository`, Argo CD's OCI
sources) over thin links or through a site's mirror. The environment branch stays the
ledger: it records per cluster the source, the artifact's digest and the files.

* `artifact`: the deterministic layer, config and manifest (pure);
* `login`: where the credentials come from (environment, Docker's config.json and its
  credential helpers), TLS and the plain-HTTP rule;
* `client`: the distribution API over HTTP (blobs, cross-repository mounts, manifests,
  tags), with token and basic authentication;
* `publishing`: what publish, promote and rollback do with it: push what the ledger will
  record before it is recorded, then move the moving tags compare-and-swap.

May import: `pipeline.sinks.ledger`, `pipeline.config` and the base modules.
"""
