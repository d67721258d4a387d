"""hydrate: render dry GitOps configuration into hydrated manifests per cluster."""

__version__ = "0.1.0"
# The name on the package index (`pip install hydrate-gitops`): `hydrate` there is another
# project. The command stays `hydrate`, the import package `pipeline`.
DISTRIBUTION = "hydrate-gitops"
