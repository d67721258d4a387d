"""What pull-based agents need: the cluster layout on the branch, and the objects an
operator applies once (`hydrate bootstrap`).

* Argo CD (default): the cluster directory is the render output as is; packages are
  ordered by their `argocd.argoproj.io/sync-wave` annotations.
* Flux: the cluster root lists one Flux `Kustomization` per package (in `_flux/`), each
  applying its package directory with `dependsOn` from the dependency graph and
  `wait: true`, so Flux applies a package only once its dependencies are healthy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.config import yamlio
from pipeline.config.model import Environment
from pipeline.render.graph import Edge
from pipeline.sinks import output
from pipeline.sinks.oci import artifact

if TYPE_CHECKING:
    from pipeline.render.engine import ClusterRender

FLUX_DIR = "_flux"  # package names are DNS labels, so no package directory is called this
FLUX_NS = "flux-system"
ARGOCD_NS = "argocd"
SOURCE_NAME = "hydrate"
# kustomize-controller labels every object it applies with its Kustomization's name
# (`kustomize.toolkit.fluxcd.io/name`), and a label value holds at most 63 characters.
LABEL_VALUE_MAX = 63


def flux_name(package: str) -> str:
    """The name of the package's Flux Kustomization: `hydrate-<package>`, or, when that
    would not fit in a label value, the package name cut and a stable hash of all of it."""
    name = f"hydrate-{package}"
    if len(name) <= LABEL_VALUE_MAX:
        return name
    digest = hashlib.sha256(package.encode()).hexdigest()[:8]
    keep = LABEL_VALUE_MAX - len("hydrate-") - len(digest) - 1
    return f"hydrate-{package[:keep].rstrip('-')}-{digest}"


def flux_kustomization(cluster: str, package: str, edges: Sequence[Edge],
                       env: Environment) -> dict[str, Any]:
    # An edge to a package's CRDs alone (they have a wave of their own: see graph) is no
    # dependency here: Flux applies a Kustomization's CRDs first and retries the objects
    # that need another's, and a dependsOn on the whole package could close a cycle.
    deps = sorted({e.dependency for e in edges if e.dependent == package and not e.crds_only})
    spec: dict[str, Any] = {
        "interval": "10m",
        "retryInterval": env.retry.backoff,
        "timeout": "5m",
        # In an OCI artifact the cluster's directory is the artifact's root.
        "path": f"./{package}" if env.oci else f"./clusters/{cluster}/{package}",
        "prune": True,
        "wait": True,
        "sourceRef": {"kind": _source_kind(env), "name": SOURCE_NAME},
    }
    if deps:
        spec["dependsOn"] = [{"name": flux_name(d)} for d in deps]
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": flux_name(package), "namespace": FLUX_NS,
                     "labels": {"hydrate.dev/environment": env.name}},
        "spec": spec,
    }


def _source_kind(env: Environment) -> str:
    return "OCIRepository" if env.oci else "GitRepository"


def cluster_files(render: ClusterRender, env: Environment) -> dict[str, bytes]:
    """The cluster's files on the env branch, in the layout of `env`'s agent."""
    return layout(env, render.cluster.name, output.cluster_files(render), render.plan.edges)


def layout(env: Environment, cluster: str, files: Mapping[str, bytes],
           edges: Sequence[Edge]) -> dict[str, bytes]:
    """A cluster's render output (`output.cluster_files`) in the layout of `env`'s agent."""
    found = dict(files)
    if env.agent != "flux":
        return found
    names = sorted({path.split("/", 1)[0] for path in files if "/" in path})
    for name in names:
        found[f"{FLUX_DIR}/{name}.yaml"] = yamlio.dump(
            flux_kustomization(cluster, name, edges, env)).encode()
    found["kustomization.yaml"] = output.kustomization(f"{FLUX_DIR}/{n}.yaml" for n in names)
    return found


def _sync_policy(env: Environment) -> dict[str, Any]:
    # Argo CD does not retry a failed automatic sync of the same revision unless told to:
    # one failure (a webhook not ready yet) would leave the cluster unsynced until the
    # next commit.
    retry = env.retry
    return {"automated": {"prune": True, "selfHeal": True},
            "syncOptions": ["ServerSideApply=true", "PruneLast=true"],
            "retry": {"limit": retry.limit,
                      "backoff": {"duration": retry.backoff, "factor": retry.factor,
                                  "maxDuration": retry.max_backoff}}}


def argocd_application(env: Environment, cluster: str, repo_url: str,
                       destination: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"{cluster}", "namespace": ARGOCD_NS,
                     "labels": {"hydrate.dev/environment": env.name},
                     "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": env.branch,
                       "path": f"clusters/{cluster}"},
            "destination": dict(destination),
            "syncPolicy": _sync_policy(env),
        },
    }


def argocd_applicationset(env: Environment, repo_url: str) -> dict[str, Any]:
    """One Application per directory in clusters/, each sent to the Argo CD cluster
    registered under the directory's name.

    A directory that leaves the branch deletes its Application, but not what it applied:
    with `preserveResourcesOnDeletion` (and no finalizers in the template) the controller
    does not give the Applications Argo CD's resources finalizer. A cluster moved to
    another environment is then adopted by that environment's ApplicationSet instead of
    being emptied first; retiring a cluster's objects is done on purpose."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": f"hydrate-{env.name}", "namespace": ARGOCD_NS},
        "spec": {
            "syncPolicy": {"preserveResourcesOnDeletion": True},
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"git": {"repoURL": repo_url, "revision": env.branch,
                                    "directories": [{"path": "clusters/*"}]}}],
            "template": {
                "metadata": {"name": "{{.path.basename}}",
                             "labels": {"hydrate.dev/environment": env.name}},
                "spec": {
                    "project": "default",
                    "source": {"repoURL": repo_url, "targetRevision": env.branch,
                               "path": "{{.path.path}}"},
                    "destination": {"name": "{{.path.basename}}"},
                    "syncPolicy": _sync_policy(env),
                },
            },
        },
    }


def flux_source_and_root(env: Environment, cluster: str, repo_url: str,
                         secret: str | None) -> list[dict[str, Any]]:
    """`repo_url`: as `agenturl.for_flux` gives it."""
    repo_spec: dict[str, Any] = {"interval": "1m", "url": repo_url,
                                 "ref": {"branch": env.branch}}
    if secret:
        repo_spec["secretRef"] = {"name": secret}
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": SOURCE_NAME, "namespace": FLUX_NS}, "spec": repo_spec},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": SOURCE_NAME, "namespace": FLUX_NS},
         "spec": {"interval": "10m", "retryInterval": env.retry.backoff,
                  "path": f"./clusters/{cluster}", "prune": True,
                  "sourceRef": {"kind": "GitRepository", "name": SOURCE_NAME}}},
    ]


def oci_url(repository: str, cluster: str) -> str:
    """What agents pull a cluster's artifact from: `oci://<repository>/<cluster>`."""
    return f"oci://{repository.removeprefix('oci://').rstrip('/')}/{cluster}"


def flux_oci_source_and_root(env: Environment, cluster: str, repository: str,
                             secret: str | None, insecure: bool) -> list[dict[str, Any]]:
    """An `OCIRepository` on the cluster's artifact at the moving tag, and the root
    Kustomization of the artifact (`repository`: where agents pull from, a mirror maybe)."""
    assert env.oci is not None
    spec: dict[str, Any] = {"interval": "1m", "url": oci_url(repository, cluster),
                            "ref": {"tag": env.oci.tag},
                            "layerSelector": {"mediaType": artifact.LAYERS[env.oci.layer],
                                              "operation": "extract"}}
    if secret:
        spec["secretRef"] = {"name": secret}
    if insecure:
        spec["insecure"] = True
    return [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
         "metadata": {"name": SOURCE_NAME, "namespace": FLUX_NS}, "spec": spec},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": SOURCE_NAME, "namespace": FLUX_NS},
         "spec": {"interval": "10m", "retryInterval": env.retry.backoff, "path": "./",
                  "prune": True, "sourceRef": {"kind": "OCIRepository", "name": SOURCE_NAME}}},
    ]


def argocd_oci_application(env: Environment, cluster: str, repository: str,
                           destination: Mapping[str, str]) -> dict[str, Any]:
    """An Application on the cluster's artifact at the moving tag."""
    assert env.oci is not None
    app = argocd_application(env, cluster, oci_url(repository, cluster), destination)
    app["spec"]["source"] = {"repoURL": oci_url(repository, cluster),
                             "targetRevision": env.oci.tag, "path": "."}
    return app


def argocd_oci_applicationset(env: Environment, repository: str,
                              clusters: Sequence[str]) -> dict[str, Any]:
    """One Application per cluster of the environment (a list generator: a registry has
    no directories to walk), each on its artifact at the moving tag and sent to the Argo CD
    cluster registered under the cluster's name."""
    assert env.oci is not None
    appset = argocd_applicationset(env, repository)
    spec = appset["spec"]
    spec["generators"] = [{"list": {"elements": [{"cluster": c} for c in sorted(clusters)]}}]
    template = spec["template"]
    template["metadata"]["name"] = "{{.cluster}}"
    template["spec"]["source"] = {"repoURL": oci_url(repository, "{{.cluster}}"),
                                  "targetRevision": env.oci.tag, "path": "."}
    template["spec"]["destination"] = {"name": "{{.cluster}}"}
    return appset
