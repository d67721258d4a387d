"""Argo CD and Flux: the branch layout for Flux, and `hydrate bootstrap`, validated
against the agents' CRD schemas (tests/data/crds/)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pygit2
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pipeline.config import yamlio
from pipeline.render import tools
from pipeline.sinks import agents
from tests.conftest import BYPASS, ROOT, branch_files, commit_all, hydrate, replace_in

SCHEMAS = ROOT / "tests" / "data" / "crds"
URL = "https://github.com/example/fleet-config.git"


def validate(obj: dict[str, Any]) -> None:
    group, _, version = obj["apiVersion"].rpartition("/")
    schema = json.loads((SCHEMAS / f"{group}_{version}_{obj['kind']}.json").read_text())
    common = json.loads((SCHEMAS / "common.json").read_text())
    registry = Registry().with_resource(
        "common.json", Resource.from_contents(common, default_specification=DRAFT202012))
    jsonschema.Draft202012Validator(schema, registry=registry).validate(obj)


def _bootstrap(repo: str, *args: str) -> list[dict[str, Any]]:
    result = hydrate("--repo", repo, "bootstrap", "--repo-url", URL, *args)
    assert result.code == 0, result.err
    return [d for d in yamlio.load_all(result.out) if d]


def test_schemas_reject_mistakes() -> None:
    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "x", "namespace": "argocd"},
           "spec": {"project": "default", "destination": {"server": "s"},
                    "source": {"repoURL": URL, "path": "p", "targetRevison": "env/dev"}}}
    with pytest.raises(jsonschema.ValidationError, match="targetRevison"):
        validate(app)
    repo = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "x"}, "spec": {"interval": "1 minute", "url": URL}}
    with pytest.raises(jsonschema.ValidationError, match="1 minute"):
        validate(repo)


def test_argocd_application_and_applicationset(example_repo: pygit2.Repository) -> None:
    (app,) = _bootstrap(example_repo.workdir, "--env", "prod", "--cluster", "store-0001")
    validate(app)
    assert app["kind"] == "Application"
    assert app["spec"]["source"] == {"repoURL": URL, "targetRevision": "env/prod",
                                     "path": "clusters/store-0001"}
    assert app["spec"]["destination"] == {"server": "https://kubernetes.default.svc"}
    (appset,) = _bootstrap(example_repo.workdir, "--env", "staging")
    validate(appset)
    git = appset["spec"]["generators"][0]["git"]
    assert git == {"repoURL": URL, "revision": "env/staging", "directories": [{"path": "clusters/*"}]}
    assert appset["spec"]["template"]["spec"]["destination"] == {"name": "{{.path.basename}}"}


def test_bootstrap_errors(example_repo: pygit2.Repository) -> None:
    wrong_env = hydrate("--repo", example_repo.workdir, "bootstrap", "--env", "dev", "--cluster",
                        "store-0001", "--repo-url", URL)
    assert wrong_env.code == 1
    assert "cluster store-0001 is in environment prod, not dev" in wrong_env.err


@pytest.fixture
def flux_repo(example_repo: pygit2.Repository) -> pygit2.Repository:
    envs = Path(example_repo.workdir) / "fleet/environments.yaml"
    envs.write_text(envs.read_text().replace(
        "- name: staging\n", "- name: staging\n  agent: flux\n"))
    commit_all(example_repo, "Staging is applied by Flux")
    return example_repo


def test_flux_layout_on_the_branch(flux_repo: pygit2.Repository, remote: pygit2.Repository,
                                   tmp_path: Path, toolset: tools.Toolset) -> None:
    result = hydrate("--repo", flux_repo.workdir, "publish", *BYPASS, "--env", "staging", "--env", "dev",
                     "--remote", remote.path, "--push")
    assert result.code == 0, result.err
    files = branch_files(remote, "env/staging", "clusters")
    root = yamlio.load(files["store-0006/kustomization.yaml"])
    packages = ["cert-manager", "cert-manager-issuers", "ingress", "log-shipper",
                "monitoring-agent", "namespaces", "pos-app", "rbac-baseline"]
    assert root["resources"] == [f"_flux/{p}.yaml" for p in packages]
    flux = {p: yamlio.load(files[f"store-0006/_flux/{p}.yaml"]) for p in packages}
    for package, obj in flux.items():
        validate(obj)
        assert obj["metadata"] == {"name": f"hydrate-{package}", "namespace": "flux-system",
                                   "labels": {"hydrate.dev/environment": "staging"}}
        assert obj["spec"]["path"] == f"./clusters/store-0006/{package}"
        assert obj["spec"]["wait"] is True
        assert f"store-0006/{package}/kustomization.yaml" in files
    deps = {p: [d["name"] for d in o["spec"].get("dependsOn", [])] for p, o in flux.items()}
    assert deps["namespaces"] == []
    assert deps["ingress"] == ["hydrate-cert-manager", "hydrate-namespaces"]  # with the CRD edge
    assert deps["pos-app"] == ["hydrate-ingress", "hydrate-namespaces"]
    # Flux applies the ClusterIssuer only once cert-manager (its webhook) is healthy.
    assert deps["cert-manager-issuers"] == ["hydrate-cert-manager"]
    # What Flux's root Kustomization applies: exactly the per-package Kustomizations.
    out = tmp_path / "branch"
    for rel, data in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    built = tools.run([*toolset.kustomize.argv, str(out / "store-0006")], cwd=out,
                      env=tools.hermetic_env(tmp_path, os.environ))
    assert sorted(d["metadata"]["name"] for d in yamlio.load_all(built) if d) == sorted(
        f"hydrate-{p}" for p in packages)
    # The branch's README says how it differs from `hydrate render`, and that is so.
    readme = remote.revparse_single("env/staging").peel(pygit2.Commit).tree["README.md"]
    text = " ".join(remote[readme.id].data.decode().split())
    assert ("holds these manifests, except for the Flux layout: on this branch each cluster "
            "directory also has `_flux/<package>.yaml`, and its root `kustomization.yaml` lists "
            "those files instead of the package directories") in text
    rendered = tmp_path / "rendered"
    assert hydrate("--repo", flux_repo.workdir, "render", "--env", "staging", "--out",
                   rendered).code == 0
    plain = {str(p.relative_to(rendered / "staging")): p.read_bytes()
             for p in (rendered / "staging").rglob("*") if p.is_file()}
    branch = branch_files(remote, "env/staging", "clusters")
    differ = {p for p in plain.keys() | branch.keys() if plain.get(p) != branch.get(p)}
    assert {p.split("/", 1)[1].split("/")[0] for p in differ} == {"_flux", "kustomization.yaml"}
    # Argo CD environments keep the plain layout.
    dev = branch_files(remote, "env/dev", "clusters")
    assert yamlio.load(dev["edge-lab/kustomization.yaml"])["resources"][0] == "namespaces"
    assert not any("/_flux/" in p for p in dev)


def test_flux_bootstrap(flux_repo: pygit2.Repository) -> None:
    docs = _bootstrap(flux_repo.workdir, "--env", "staging", "--cluster", "store-0006",
                      "--secret", "fleet-deploy-key")
    assert [d["kind"] for d in docs] == ["GitRepository", "Kustomization"]
    for doc in docs:
        validate(doc)
    assert docs[0]["spec"]["ref"] == {"branch": "env/staging"}
    assert docs[0]["spec"]["secretRef"] == {"name": "fleet-deploy-key"}
    assert docs[1]["spec"]["path"] == "./clusters/store-0006"
    # Flux takes ssh:// URLs only: the scp-like form git and GitHub show is rewritten.
    scp = _bootstrap(flux_repo.workdir, "--env", "staging", "--cluster", "store-0006",
                     "--repo-url", "git@github.com:acme/fleet.git")
    assert scp[0]["spec"]["url"] == "ssh://git@github.com/acme/fleet.git"
    no_cluster = hydrate("--repo", flux_repo.workdir, "bootstrap", "--env", "staging",
                         "--repo-url", URL)
    assert no_cluster.code == 2
    assert "applied by Flux, which runs in each cluster: give --cluster" in no_cluster.err


def test_bootstrap_refuses_options_the_agent_ignores(flux_repo: pygit2.Repository) -> None:
    secret = hydrate("--repo", flux_repo.workdir, "bootstrap", "--env", "prod", "--cluster",
                     "store-0001", "--secret", "fleet-deploy-key", "--repo-url", URL)
    assert secret.code == 2
    assert ("--secret is for Flux; environment prod is applied by Argo CD, which takes git "
            "credentials from its own repository secrets (argocd repo add)") in secret.err
    destination = hydrate("--repo", flux_repo.workdir, "bootstrap", "--env", "staging",
                          "--cluster", "store-0006", "--destination", "edge", "--repo-url", URL)
    assert destination.code == 2
    assert "--destination is for Argo CD; environment staging is applied by Flux" in destination.err


def test_bootstrap_needs_a_url_agents_can_clone(example_repo: pygit2.Repository,
                                                tmp_path: Path) -> None:
    repo = example_repo.workdir
    none = hydrate("--repo", repo, "bootstrap", "--env", "prod")
    assert none.code == 2
    assert ("no --repo-url, and the repository has no origin remote: give --repo-url URL, the "
            "URL agents clone the env branches from") in none.err
    example_repo.remotes.create("origin", str(tmp_path / "fleet.git"))
    local = hydrate("--repo", repo, "bootstrap", "--env", "prod")
    assert local.code == 2
    assert (f"the origin remote is a local path ({tmp_path / 'fleet.git'}), which agents in the "
            "clusters cannot clone: give --repo-url URL") in local.err
    example_repo.remotes.set_url("origin", "https://x-access-token:s3cret@github.com/acme/fleet.git")
    (appset,) = [d for d in yamlio.load_all(hydrate("--repo", repo, "bootstrap", "--env",
                                                    "prod").out) if d]
    assert appset["spec"]["generators"][0]["git"]["repoURL"] == "https://github.com/acme/fleet.git"


def test_a_flux_kustomization_does_not_wait_for_a_package_whose_crds_come_first() -> None:
    """A CRD edge from a package whose CRDs have their own wave (a cycle through CRDs alone)
    is no dependsOn: it would close the cycle in Flux; Flux retries until the CRDs land."""
    from pipeline.config.model import Environment
    from pipeline.render.graph import CRDS_ONLY, Edge

    env = Environment("dev", "env/dev", None, "flux")
    edges = [Edge("namespaces", "certs", "dependsOn"),
             Edge("certs", "mon", "crd Cert.certs.example.com" + CRDS_ONLY),
             Edge("mon", "certs", "crd Monitor.mon.example.com"),
             Edge("namespaces", "mon", "dependsOn")]
    certs = agents.flux_kustomization("dev-1", "certs", edges, env)
    mon = agents.flux_kustomization("dev-1", "mon", edges, env)
    assert certs["spec"]["dependsOn"] == [{"name": agents.flux_name("mon")},
                                          {"name": agents.flux_name("namespaces")}]
    assert mon["spec"]["dependsOn"] == [{"name": agents.flux_name("namespaces")}]


COPIED = json.loads((ROOT / "tests" / "data" / "agents" / "copied-names.json").read_text())


def copied_names_fit(obj: dict[str, Any]) -> None:
    """Every name of `obj` fits every place its agent copies it to (tests/data/agents)."""
    agent = "flux" if "fluxcd.io" in obj["apiVersion"] else "argocd"
    for copy in COPIED["copies"]:
        if (copy["agent"], copy["kind"]) != (agent, obj["kind"]):
            continue
        value = obj["metadata"].get(copy["field"].removeprefix("metadata."))
        if value is None:
            continue
        limit = COPIED["limits"][copy["limit"]]
        where = f"{obj['kind']} {copy['field']} {value!r} does not fit {copy['into']}"
        assert len(value) <= limit["maxLength"], f"{where} ({len(value)} characters)"
        assert re.fullmatch(limit["pattern"], value), where


LONG = "point-of-sale-receipt-printer-spooler-and-fiscal-archive-bridge"  # 63: the most a name may be


def test_every_agent_name_fits_where_the_agent_copies_it(flux_repo: pygit2.Repository,
                                                         remote: pygit2.Repository) -> None:
    assert len(LONG) == 63
    root = Path(flux_repo.workdir)
    (root / "bases" / LONG).mkdir()
    (root / "bases" / LONG / "package.yaml").write_text(
        f"name: {LONG}\ntype: kustomize\nnamespace: pos\ndependsOn: [namespaces]\n")
    (root / "bases" / LONG / "kustomization.yaml").write_text("resources: [config.yaml]\n")
    (root / "bases" / LONG / "config.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: spooler}\ndata: {copies: \"2\"}\n")
    replace_in(root / "fleet/classes/pop.yaml", "- pos-app\n", f"- pos-app\n- {LONG}\n")
    replace_in(root / "bases/pos-app/package.yaml", "dependsOn: [namespaces, ingress]",
               f"dependsOn: [namespaces, ingress, {LONG}]")
    commit_all(flux_repo, "A package with the longest name a package may have")
    result = hydrate("--repo", flux_repo.workdir, "publish", *BYPASS, "--env", "staging",
                     "--remote", remote.path, "--push")
    assert result.code == 0, result.err
    files = branch_files(remote, "env/staging", "clusters/store-0006/_flux")
    flux = {name.removesuffix(".yaml"): yamlio.load(data) for name, data in files.items()}
    for obj in flux.values():
        validate(obj)
        copied_names_fit(obj)
    long = flux[LONG]["metadata"]["name"]
    assert long.startswith("hydrate-point-of-sale-receipt-printer-spooler-")
    assert len(long) == 63
    # The other packages keep their names; the one that depends on it names it as it is.
    assert flux["pos-app"]["metadata"]["name"] == "hydrate-pos-app"
    assert {"name": long} in flux["pos-app"]["spec"]["dependsOn"]
    # Stable, and two long names that share their beginning stay apart.
    assert agents.flux_name(LONG) == long
    assert agents.flux_name(LONG[:-1] + "x") != long
    for obj in _bootstrap(flux_repo.workdir, "--env", "staging", "--cluster", "store-0006"):
        copied_names_fit(obj)


def test_bootstrap_refuses_urls_agents_cannot_clone_and_prints_no_token(
        flux_repo: pygit2.Repository, tmp_path: Path) -> None:
    repo = flux_repo.workdir
    for env, cluster in (("staging", ["--cluster", "store-0006"]), ("prod", [])):
        for url in ("git://github.com/acme/fleet.git", "ftp://files.acme.example/fleet.git",
                    "file:///srv/git/fleet.git", "HTTPS://github.com/acme/fleet.git",
                    "server:repos/fleet.git", str(tmp_path / "fleet.git")):
            refused = hydrate("--repo", repo, "bootstrap", "--env", env, *cluster, "--repo-url", url)
            assert refused.code == 2, (env, url, refused.out)
            assert refused.out == ""
            assert f"--repo-url {url}" in refused.err
    # Flux cannot say "relative to the SSH user's home" in an ssh:// URL: refused, with the
    # two forms that may be meant; Argo CD clones the scp form with git, as it is.
    home = hydrate("--repo", repo, "bootstrap", "--env", "staging", "--cluster", "store-0006",
                   "--repo-url", "git@server:repos/fleet.git")
    assert home.code == 2
    assert "ssh://git@server/repos/fleet.git if server is a git forge" in home.err
    (argocd,) = _bootstrap(repo, "--env", "prod", "--repo-url", "git@server:repos/fleet.git")
    assert argocd["spec"]["generators"][0]["git"]["repoURL"] == "git@server:repos/fleet.git"
    # A token in --repo-url is printed nowhere, as the origin's is not.
    token = hydrate("--repo", repo, "bootstrap", "--env", "prod", "--repo-url",
                    "https://x-access-token:s3cret@github.com/acme/fleet.git")
    assert token.code == 0
    assert "s3cret" not in token.out + token.err
    (appset,) = [d for d in yamlio.load_all(token.out) if d]
    validate(appset)
    assert appset["spec"]["template"]["spec"]["source"]["repoURL"] == URL.replace(
        "example/fleet-config", "acme/fleet")
    # An ssh origin keeps its user (the agent logs in as it), and Flux gets ssh://.
    flux_repo.remotes.create("origin", "ssh://git@github.com/acme/fleet.git")
    docs = [d for d in yamlio.load_all(hydrate("--repo", repo, "bootstrap", "--env", "staging",
                                               "--cluster", "store-0006").out) if d]
    validate(docs[0])
    assert docs[0]["spec"]["url"] == "ssh://git@github.com/acme/fleet.git"
    flux_repo.remotes.set_url("origin", "git://github.com/acme/fleet.git")
    origin = hydrate("--repo", repo, "bootstrap", "--env", "prod")
    assert origin.code == 2
    assert "the origin remote git://github.com/acme/fleet.git: agents clone" in origin.err
    assert "(or give --repo-url URL)" in origin.err


def test_agents_retry_a_failed_sync_with_back_off(flux_repo: pygit2.Repository,
                                                   remote: pygit2.Repository) -> None:
    """Argo CD does not retry a failed automatic sync of the same revision unless
    `syncPolicy.retry` says so; Flux retries every `retryInterval`."""
    repo = flux_repo.workdir
    (appset,) = _bootstrap(repo, "--env", "prod")
    (app,) = _bootstrap(repo, "--env", "prod", "--cluster", "store-0001")
    default = {"limit": 5, "backoff": {"duration": "30s", "factor": 2, "maxDuration": "5m"}}
    for obj, policy in ((appset, appset["spec"]["template"]["spec"]["syncPolicy"]),
                        (app, app["spec"]["syncPolicy"])):
        validate(obj)
        assert policy["retry"] == default
    # Per environment, in fleet/environments.yaml.
    replace_in(Path(repo) / "fleet/environments.yaml", "- name: prod\n",
               "- name: prod\n  retry: {limit: -1, backoff: 1m, factor: 3, maxBackoff: 1h}\n")
    replace_in(Path(repo) / "fleet/environments.yaml", "  agent: flux\n",
               "  agent: flux\n  retry: {backoff: 45s}\n")
    commit_all(flux_repo, "Retry prod without end, staging's Flux every 45s")
    (appset,) = _bootstrap(repo, "--env", "prod")
    validate(appset)
    assert appset["spec"]["template"]["spec"]["syncPolicy"]["retry"] == {
        "limit": -1, "backoff": {"duration": "1m", "factor": 3, "maxDuration": "1h"}}
    _source, root = _bootstrap(repo, "--env", "staging", "--cluster", "store-0006")
    assert root["spec"]["retryInterval"] == "45s"
    result = hydrate("--repo", repo, "publish", *BYPASS, "--env", "staging", "--remote",
                     remote.path, "--push")
    assert result.code == 0, result.err
    for name, data in branch_files(remote, "env/staging", "clusters/store-0006/_flux").items():
        obj = yamlio.load(data)
        validate(obj)
        assert obj["spec"]["retryInterval"] == "45s", name


DELETION = json.loads((ROOT / "tests" / "data" / "agents" / "argocd-applicationset-deletion.json")
                      .read_text())


def generated_finalizers(appset: dict[str, Any]) -> list[str]:
    """The finalizers Argo CD's ApplicationSet controller gives the Applications it makes
    (tests/data/agents/argocd-applicationset-deletion.json)."""
    template = appset["spec"]["template"]["metadata"].get("finalizers") or []
    preserve = (appset["spec"].get("syncPolicy") or {}).get("preserveResourcesOnDeletion")
    return template or ([] if preserve else [DELETION["resourcesFinalizer"]])


def test_a_cluster_leaving_an_applicationset_keeps_its_objects(example_repo: pygit2.Repository) -> None:
    """When a cluster's directory leaves the branch (moved to another environment, or
    removed), the ApplicationSet deletes its Application: without the resources finalizer
    that deletes nothing in the cluster."""
    (appset,) = _bootstrap(example_repo.workdir, "--env", "staging")
    validate(appset)
    assert appset["spec"]["syncPolicy"] == {"preserveResourcesOnDeletion": True}
    assert generated_finalizers(appset) == []
    # A single Application is deleted only by hand: then its objects go, on purpose.
    (app,) = _bootstrap(example_repo.workdir, "--env", "staging", "--cluster", "store-0006")
    assert app["metadata"]["finalizers"] == [DELETION["resourcesFinalizer"]]
