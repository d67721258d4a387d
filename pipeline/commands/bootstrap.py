"""`hydrate bootstrap`: the objects an operator applies once so that the environment's
agent (Argo CD or Flux) reads its branch."""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from pipeline.commands.context import Context, load_inventory
from pipeline.config import yamlio
from pipeline.config.model import Environment
from pipeline.config.source import open_repository
from pipeline.errors import PipelineError
from pipeline.sinks import agents, agenturl
from pipeline.sinks.credentials import local_path
from pipeline.sinks.oci import artifact


class OptionError(PipelineError):
    """A flag that does not apply, or one that is missing: the CLI shows it as a usage
    error (exit 2)."""


@dataclass(frozen=True)
class BootstrapOptions:
    env: str
    cluster: str | None = None
    repo_url: str | None = None
    destination: str | None = None  # Argo CD: cluster name; default the in-cluster server
    secret: str | None = None  # Flux: secret with the git credentials


def _agent_options(env: Environment, opts: BootstrapOptions) -> None:
    """Refuse the options `env`'s agent would silently ignore."""
    if env.agent == "flux":
        if opts.cluster is None:
            raise OptionError(f"environment {env.name} is applied by Flux, which runs in each "
                              "cluster: give --cluster")
        if opts.destination:
            raise OptionError(f"--destination is for Argo CD; environment {env.name} is applied "
                              "by Flux, which runs in the cluster it applies to")
    elif opts.secret:
        raise OptionError(f"--secret is for Flux; environment {env.name} is applied by Argo CD, "
                          "which takes git credentials from its own repository secrets "
                          "(argocd repo add)")


def agent_url(repo: pygit2.Repository) -> str:
    """The URL agents clone env branches from: the origin remote's, if agents can reach it."""
    url = repo.remotes["origin"].url if "origin" in repo.remotes.names() else None
    if not url:
        raise OptionError("no --repo-url, and the repository has no origin remote: give "
                          "--repo-url URL, the URL agents clone the env branches from")
    if local_path(url) is not None:
        raise OptionError(f"the origin remote is a local path ({url}), which agents in the "
                          "clusters cannot clone: give --repo-url URL")
    try:
        return agenturl.check(url, "the origin remote")
    except agenturl.UrlError as e:
        raise OptionError(f"{e} (or give --repo-url URL)") from None


def bootstrap(ctx: Context, opts: BootstrapOptions) -> str:
    """`hydrate bootstrap`: the objects an operator applies once, as YAML."""
    _, inv = load_inventory(ctx)
    env = inv.environment(opts.env)
    cluster = inv.cluster(opts.cluster) if opts.cluster else None
    if cluster is not None and cluster.environment != env.name:
        raise PipelineError(f"cluster {cluster.name} is in environment {cluster.environment}, "
                            f"not {env.name}")
    _agent_options(env, opts)
    if env.oci is not None:
        return _oci(env, opts, cluster.name if cluster else None,
                    sorted(c.name for c in inv.clusters.values() if c.environment == env.name))
    try:
        url = (agenturl.check(opts.repo_url, "--repo-url") if opts.repo_url is not None
               else agent_url(open_repository(ctx.repo)))
        if env.agent == "flux":
            url = agenturl.for_flux(url, "--repo-url" if opts.repo_url is not None
                                    else "the origin remote")
    except agenturl.UrlError as e:
        raise OptionError(str(e)) from None
    if env.agent == "flux":
        assert cluster is not None  # _agent_options asks for it
        docs = agents.flux_source_and_root(env, cluster.name, url, opts.secret)
    elif cluster is None:
        docs = [agents.argocd_applicationset(env, url)]
    else:
        dest = ({"name": opts.destination} if opts.destination
                else {"server": "https://kubernetes.default.svc"})
        docs = [agents.argocd_application(env, cluster.name, url, dest)]
    return yamlio.dump_all(docs)


def _oci(env: Environment, opts: BootstrapOptions, cluster: str | None,
         clusters: list[str]) -> str:
    """An OCI environment: the agents pull each cluster's artifact at the moving tag, from
    the environment's repository or the mirror `--repo-url` names."""
    assert env.oci is not None
    repository = (opts.repo_url or env.oci.repository).removeprefix("oci://").rstrip("/")
    if "://" in repository:
        raise OptionError(f"--repo-url {opts.repo_url}: environment {env.name} publishes to an "
                          "OCI registry; give the repository agents pull from as "
                          "host[/path] or oci://host[/path] (a mirror of "
                          f"{env.oci.repository})")
    if env.agent == "flux":
        assert cluster is not None  # _agent_options asks for it
        return yamlio.dump_all(agents.flux_oci_source_and_root(env, cluster, repository,
                                                                opts.secret, env.oci.plain_http))
    if cluster is None:
        docs = [agents.argocd_oci_applicationset(env, repository, clusters)]
    else:
        dest = ({"name": opts.destination} if opts.destination
                else {"server": "https://kubernetes.default.svc"})
        docs = [agents.argocd_oci_application(env, cluster, repository, dest)]
    note = ""
    if env.oci.layer == "flux":
        note = ("# Argo CD's repo-server reads an OCI layer only of a media type it allows: add\n"
                f"# {artifact.LAYERS['flux']} to its ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES,\n"
                "# or set `layerMediaType: oci` on the environment (docs/output.md).\n")
    return note + yamlio.dump_all(docs)
