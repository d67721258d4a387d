"""hydrate: render dry GitOps configuration into hydrated manifests per cluster."""

__version__ = "0.1.0"
