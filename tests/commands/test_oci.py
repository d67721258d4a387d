"""An environment of the example fleet switched to OCI, end to end: the real CLI, real
git, the real distribution registry on 127.0.0.1 (tests/ociregistry.py), and what was
pushed pulled back by digest as an agent would, extracted and built by `kubectl
kustomize`."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import subprocess
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from pipeline.cli import main
from pipeline.render import tools
from pipeline.sinks.oci import client as client_mod
from tests.conftest import Result, branch_files, commit_all, hydrate, replace_in, shared_cache
from tests.ociregistry import PASSWORD, USER, Registry

T0 = "2026-11-30T08:00:00Z"
DEV = ("dc-lab-1", "edge-lab", "office-lab", "store-lab")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "registry") as r:
        yield r


def to_oci(repo: pygit2.Repository, host: str, env: str = "dev", extra: str = "") -> str:
    """Switch `env` of the example fleet to the registry at `host` (the documented edit)."""
    path = Path(repo.workdir) / "fleet/environments.yaml"
    anchor = {"dev": "  branch: env/dev\n", "staging": "- name: staging\n",
              "prod": "- name: prod\n"}[env]
    replace_in(path, anchor, f"{anchor}  oci: {{repository: {host}/fleet{extra}}}\n")
    return str(commit_all(repo, f"{env} publishes to an OCI registry"))


def run(repo: pygit2.Repository, *args: str, now: str = T0,
        env: dict[str, str] | None = None) -> Result:
    return hydrate("--repo", repo.workdir, *args, env={"HYDRATE_NOW": now, **(env or {})})


def ok(result: Result) -> str:
    assert result.code == 0, result.out + result.err
    return result.out


def ledger_of(repo: pygit2.Repository, env: str = "dev") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(branch_files(repo, f"env/{env}")[".hydrate/metadata.json"])
    return data


def pulled(registry: Registry, repository: str, digest: str) -> dict[str, bytes]:
    """The files of the artifact `digest`, pulled and extracted as Flux does."""
    manifest = registry.manifest(repository, digest)
    layers = manifest["layers"]
    assert isinstance(layers, list)
    assert len(layers) == 1
    data = registry.blob(repository, layers[0]["digest"])
    files = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        for member in tar.getmembers():
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name] = extracted.read()
    return files


def _kustomize(toolset: tools.Toolset, folder: Path) -> str:
    proc = subprocess.run([*toolset.kustomize.argv, str(folder)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_an_oci_environment_gets_one_artifact_per_cluster_equal_to_the_render(
        example_repo: pygit2.Repository, registry: Registry, toolset: tools.Toolset,
        tmp_path: Path) -> None:
    source = to_oci(example_repo, registry.host)
    out = ok(run(example_repo, "publish"))
    assert f"{registry.host}/fleet: 4 artifacts pushed (" in out
    assert "tag dev: 4 created" in out
    led = ledger_of(example_repo)
    rendered = tmp_path / "rendered"
    ok(run(example_repo, "render", "--env", "dev", "--out", str(rendered)))
    for cluster in DEV:
        entry = led["clusters"][cluster]
        art = entry["artifact"]
        assert art == {"repository": f"{registry.host}/fleet/{cluster}", "digest": art["digest"],
                       "revision": source, "created": T0}
        repository = f"fleet/{cluster}"
        assert registry.resolve(repository, "dev") == art["digest"]  # the moving tag
        assert registry.resolve(repository, source) == art["digest"]  # the immutable one
        manifest = registry.manifest(repository, art["digest"])
        assert manifest["annotations"] == {
            "org.opencontainers.image.created": T0,
            "org.opencontainers.image.revision": source,
            "org.opencontainers.image.source": example_repo.workdir.rstrip("/"),
            "dev.hydrate.environment": "dev", "dev.hydrate.cluster": cluster}
        files = pulled(registry, repository, art["digest"])
        on_disk = {str(p.relative_to(rendered / "dev" / cluster)): p.read_bytes()
                   for p in (rendered / "dev" / cluster).rglob("*") if p.is_file()}
        assert files == on_disk == branch_files(example_repo, "env/dev", f"clusters/{cluster}/")
        folder = tmp_path / "pulled" / cluster
        for name, data in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        assert _kustomize(toolset, folder) == _kustomize(toolset, rendered / "dev" / cluster)
    # A publish that changes nothing pushes nothing.
    blobs = registry.blobs_on_disk()
    again = ok(run(example_repo, "publish", now="2026-11-30T09:00:00Z"))
    assert "no artifact to push" in again
    assert "every cluster's is on the ledger's digest" in again
    assert registry.blobs_on_disk() == blobs
    # One site changed: only its artifact is pushed and only its tag moves.
    before = {c: registry.resolve(f"fleet/{c}", "dev") for c in DEV}
    replace_in(Path(example_repo.workdir) / "fleet/clusters/store-lab.yaml", '"9000"', '"9001"')
    changed = str(commit_all(example_repo, "Renumber the lab store"))
    third = ok(run(example_repo, "publish", now="2026-11-30T10:00:00Z"))
    assert "1 artifact pushed (1 blob uploaded, 0 mounted" in third, third
    assert "tag dev: 1 moved" in third
    after = {c: registry.resolve(f"fleet/{c}", "dev") for c in DEV}
    assert [c for c in DEV if after[c] != before[c]] == ["store-lab"]
    led = ledger_of(example_repo)
    assert led["clusters"]["store-lab"]["artifact"]["revision"] == changed
    assert led["clusters"]["edge-lab"]["artifact"]["revision"] == source  # kept, not pushed
    assert registry.resolve("fleet/store-lab", changed) == after["store-lab"]


def test_a_wrong_password_is_one_error_and_records_nothing(example_repo: pygit2.Repository,
                                                           tmp_path: Path) -> None:
    with Registry(tmp_path / "guarded", login=True) as guarded:
        to_oci(example_repo, guarded.host)
        wrong = run(example_repo, "publish", env={"HYDRATE_OCI_USER": USER,
                                                  "HYDRATE_OCI_TOKEN": "not-the-password"})
        assert wrong.code == 1
        assert wrong.err.strip().splitlines() == [
            f"hydrate: error: registry {guarded.host} refused the login of user 'fleet-bot' "
            "from HYDRATE_OCI_TOKEN: check the password or token (and that it may push)"]
        assert "not-the-password" not in wrong.out + wrong.err
        assert "refs/heads/env/dev" not in example_repo.references
        assert guarded.get("_catalog").json() == {"repositories": []}
        none = run(example_repo, "publish")
        assert none.code == 1
        assert "asks for a login and hydrate has none" in none.err
        right = ok(run(example_repo, "publish", env={"HYDRATE_OCI_USER": USER,
                                                     "HYDRATE_OCI_TOKEN": PASSWORD}))
        assert "tag dev: 4 created" in right
        assert PASSWORD not in right


def test_docker_config_json_logs_in(example_repo: pygit2.Repository, tmp_path: Path) -> None:
    import base64

    with Registry(tmp_path / "guarded", login=True) as guarded:
        to_oci(example_repo, guarded.host)
        folder = tmp_path / "docker"
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"auths": {guarded.host: {
            "auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}}}))
        out = ok(run(example_repo, "publish", env={"DOCKER_CONFIG": str(folder)}))
        assert "tag dev: 4 created" in out


def test_a_refused_push_is_one_clear_error_and_records_nothing(
        example_repo: pygit2.Repository, tmp_path: Path) -> None:
    with Registry(tmp_path / "ro", readonly=True) as ro:
        to_oci(example_repo, ro.host)
        refused = run(example_repo, "publish")
    assert refused.code == 1
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1, refused.err
    assert lines[0].startswith(f"hydrate: error: registry {ro.host} refused to push to fleet/")
    assert "405" in lines[0]
    assert "refs/heads/env/dev" not in example_repo.references


@contextlib.contextmanager
def _in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    """The real CLI's entry point in this process (so a test can make the registry go down
    at a chosen request)."""
    monkeypatch.setenv("HYDRATE_CACHE_DIR", shared_cache())
    for name in list(os.environ):
        if name.startswith(("GIT_", "HYDRATE_")) and name != "HYDRATE_CACHE_DIR":
            monkeypatch.delenv(name)

    def cli(repo: pygit2.Repository, *args: str, now: str = T0) -> Result:
        monkeypatch.setenv("HYDRATE_NOW", now)
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(["--repo", repo.workdir, *args])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
        return Result(code, out.getvalue(), err.getvalue())

    yield cli


def _down_after(monkeypatch: pytest.MonkeyPatch, registry: Registry, method: str,
                calls: int, when: Callable[[tuple[Any, ...]], bool] = lambda _: True) -> None:
    """Stop the registry for real once `calls` calls of Client.`method` (that `when`
    selects) went through. Those calls are made one at a time, so that "went through"
    means done."""
    real = getattr(client_mod.Client, method)
    seen = [0]
    one = threading.Lock()

    def wrapped(self: client_mod.Client, *args: Any) -> Any:
        if not when(args):
            return real(self, *args)
        with one:
            seen[0] += 1
            if seen[0] > calls:
                registry.stop()
            return real(self, *args)

    monkeypatch.setattr(client_mod.Client, method, wrapped)


def test_the_registry_down_mid_publish_records_nothing_and_a_rerun_finishes(
        example_repo: pygit2.Repository, registry: Registry,
        monkeypatch: pytest.MonkeyPatch) -> None:
    to_oci(example_repo, registry.host)
    with _in_process(monkeypatch) as cli:
        # Down after two clusters' manifests went in: some clusters pushed, some not.
        _down_after(monkeypatch, registry, "put_manifest", 2)
        failed = cli(example_repo, "publish")
        assert failed.code == 1, failed
        assert "cannot connect" in failed.err
        assert "refs/heads/env/dev" not in example_repo.references  # the ledger: nothing
        monkeypatch.undo()
    registry.start()
    half = [c for c in DEV if registry.resolve(f"fleet/{c}", str(example_repo.head.target))]
    assert 0 < len(half) < len(DEV)
    with _in_process(monkeypatch) as cli:
        done = cli(example_repo, "publish", now="2026-11-30T08:30:00Z")
    assert done.code == 0, done
    assert f"{len(half)} from an earlier run" in done.out
    led = ledger_of(example_repo)
    for cluster in DEV:
        digest = led["clusters"][cluster]["artifact"]["digest"]
        assert registry.resolve(f"fleet/{cluster}", "dev") == digest
        assert registry.manifest(f"fleet/{cluster}", digest)


def test_the_registry_down_after_the_ledger_landed_then_a_rerun_moves_the_tags(
        example_repo: pygit2.Repository, registry: Registry,
        monkeypatch: pytest.MonkeyPatch) -> None:
    to_oci(example_repo, registry.host)
    with _in_process(monkeypatch) as cli:
        # Down at the first write of a moving tag: the artifacts are in, the commit lands.
        _down_after(monkeypatch, registry, "put_manifest", 0, lambda args: args[1] == "dev")
        failed = cli(example_repo, "publish")
        monkeypatch.undo()
    assert failed.code == 1
    head = str(example_repo.references["refs/heads/env/dev"].target)
    assert f"the ledger commit {head[:7]} stays on env/dev; run the command again" in failed.err
    registry.start()
    led = ledger_of(example_repo)
    for cluster in DEV:  # every digest the ledger records is in the registry
        assert registry.manifest(f"fleet/{cluster}", led["clusters"][cluster]["artifact"]["digest"])
        assert registry.resolve(f"fleet/{cluster}", "dev") is None
    again = ok(run(example_repo, "publish", now="2026-11-30T08:30:00Z"))
    assert "no change, no commit" in again
    assert "tag dev: 4 created" in again
    assert str(example_repo.references["refs/heads/env/dev"].target) == head


def test_status_shows_a_tag_moved_by_hand_and_publish_puts_it_back(
        example_repo: pygit2.Repository, registry: Registry) -> None:
    ok(run(example_repo, "publish"))  # to the branch alone, then switched
    to_oci(example_repo, registry.host)
    assert (f"registry {registry.host}/fleet: the branch records no artifact there yet"
            in ok(run(example_repo, "status")))
    switched = ok(run(example_repo, "publish"))
    assert "4 artifacts pushed" in switched  # no cluster changed, but each gets its artifact
    first = ledger_of(example_repo)["clusters"]["store-lab"]["artifact"]["digest"]
    replace_in(Path(example_repo.workdir) / "fleet/clusters/store-lab.yaml", '"9000"', '"9001"')
    commit_all(example_repo, "Renumber the lab store")
    ok(run(example_repo, "publish", now="2026-11-30T09:00:00Z"))
    replace_in(Path(example_repo.workdir) / "fleet/clusters/store-lab.yaml", '"9001"', '"9002"')
    commit_all(example_repo, "Renumber the lab store again")
    ok(run(example_repo, "publish", now="2026-11-30T09:10:00Z"))
    second = ledger_of(example_repo)["clusters"]["store-lab"]["artifact"]["digest"]
    assert ok(run(example_repo, "status")).count("every cluster's tag is on the ledger's digest") == 1
    registry.tag("fleet/store-lab", "dev", first)  # someone retags by hand, two back
    status = ok(run(example_repo, "status"))
    assert (f"registry {registry.host}/fleet: drift: 1 tag not on the ledger's digest "
            f"(store-lab at {first[:19]}…, the ledger records {second[:19]}…)") in status
    fixed = ok(run(example_repo, "publish", now="2026-11-30T09:30:00Z"))
    assert "tag dev: 1 put back (moved by hand)" in fixed
    assert "put back: store-lab" in fixed
    assert registry.resolve("fleet/store-lab", "dev") == second
    registry.stop()  # status still answers, and says it could not read the registry
    down = ok(run(example_repo, "status"))
    assert (f"registry {registry.host}/fleet: cannot read the tags (registry {registry.host}: "
            "cannot connect (connection refused)") in down


def test_bootstrap_points_flux_and_argo_cd_at_the_moving_tag(
        example_repo: pygit2.Repository) -> None:
    to_oci(example_repo, "registry.example.com", extra="")
    flux_env = Path(example_repo.workdir) / "fleet/environments.yaml"
    argo = ok(run(example_repo, "bootstrap", "--env", "dev", "--cluster", "store-lab"))
    assert "ARGOCD_REPO_SERVER_OCI_LAYER_MEDIA_TYPES" in argo
    assert ("    path: .\n    repoURL: oci://registry.example.com/fleet/store-lab\n"
            "    targetRevision: dev\n") in argo
    appset = ok(run(example_repo, "bootstrap", "--env", "dev"))
    assert "- cluster: store-lab" in appset
    assert "repoURL: oci://registry.example.com/fleet/{{.cluster}}" in appset
    mirror = ok(run(example_repo, "bootstrap", "--env", "dev", "--cluster", "store-lab",
                    "--repo-url", "oci://mirror.store-lab.local/fleet"))
    assert "repoURL: oci://mirror.store-lab.local/fleet/store-lab" in mirror
    replace_in(flux_env, "  oci: {repository: registry.example.com/fleet}\n",
               "  agent: flux\n  oci: {repository: registry.example.com/fleet, "
               "layerMediaType: oci}\n")
    commit_all(example_repo, "dev is applied by Flux")
    flux = ok(run(example_repo, "bootstrap", "--env", "dev", "--cluster", "store-lab"))
    docs = [d for d in flux.split("---\n") if d.strip()]
    assert "kind: OCIRepository" in docs[0]
    assert "url: oci://registry.example.com/fleet/store-lab" in docs[0]
    assert "ref:\n    tag: dev" in docs[0]
    assert "mediaType: application/vnd.oci.image.layer.v1.tar+gzip" in docs[0]
    assert "kind: Kustomization" in docs[1]
    assert "path: ./\n" in docs[1]
    assert "kind: OCIRepository" in docs[1]


def _clusters(repo: pygit2.Repository, env: str) -> list[str]:
    return sorted(p.stem for p in (Path(repo.workdir) / "fleet/clusters").glob("*.yaml")
                  if f"environment: {env}\n" in p.read_text())


def test_promotion_waves_move_only_their_tags_and_rollback_moves_them_back(
        example_repo: pygit2.Repository, registry: Registry) -> None:
    to_oci(example_repo, registry.host, "staging")
    first = to_oci(example_repo, registry.host, "prod")
    staging, prod = _clusters(example_repo, "staging"), _clusters(example_repo, "prod")
    ok(run(example_repo, "publish"))
    ok(run(example_repo, "verify", "--env", "dev", "--check", "smoke", "--state", "success",
           now="2026-11-30T08:40:00Z"))
    out = ok(run(example_repo, "promote", "--to", "staging", now="2026-11-30T08:45:00Z"))
    assert f"tag staging: {len(staging)} created" in out
    was = {c: ledger_of(example_repo, "staging")["clusters"][c]["artifact"]["digest"]
           for c in staging}
    assert {c: registry.resolve(f"fleet/{c}", "staging") for c in staging} == was
    # A second source on staging, then a rollback: the tags go back to the very digests
    # the ledger recorded (nothing packed or rendered again).
    replace_in(Path(example_repo.workdir) / "fleet/classes/pop.yaml", "posReplicas: 2",
               "posReplicas: 3")
    second = str(commit_all(example_repo, "Three POS replicas"))
    ok(run(example_repo, "publish", now="2026-11-30T10:00:00Z"))
    ok(run(example_repo, "verify", "--env", "dev", "--check", "smoke", "--state", "success",
           now="2026-11-30T10:05:00Z"))
    ok(run(example_repo, "promote", "--to", "staging", now="2026-11-30T11:00:00Z"))
    moved = {c: registry.resolve(f"fleet/{c}", "staging") for c in staging}
    changed = sorted(c for c in staging if moved[c] != was[c])
    assert changed == ["store-0006"]  # the one pop store of staging
    assert registry.resolve("fleet/store-0006", second) == moved["store-0006"]
    back = ok(run(example_repo, "rollback", "--env", "staging", "--reason", "tills freeze",
                  now="2026-11-30T11:30:00Z"))
    assert "tag staging: 1 moved" in back
    assert "no artifact to push" in back
    assert {c: registry.resolve(f"fleet/{c}", "staging") for c in staging} == was
    # prod, in waves: the canary's tag alone, then the early wave's; the rest untouched.
    ok(run(example_repo, "verify", "--env", "staging", "--check", "smoke", "--state", "success",
           now="2026-12-01T11:50:00Z"))
    catalog = registry.get("_catalog").json()
    dry = ok(run(example_repo, "promote", "--to", "prod", "--dry-run",
                 now="2026-12-01T12:00:00Z"))
    assert "dry run: 1 cluster" in dry
    assert registry.get("_catalog").json() == catalog  # a dry run pushes nothing
    canary = ok(run(example_repo, "promote", "--to", "prod", now="2026-12-01T12:00:00Z"))
    assert f"promote {first[:7]} staging → prod, wave canary (1 of 3)" in canary
    assert "tag prod: 1 created" in canary
    tags = {c: registry.resolve(f"fleet/{c}", "prod") for c in prod}
    assert [c for c in prod if tags[c]] == ["store-0001"]
    ok(run(example_repo, "verify", "--env", "prod", "--wave", "canary", "--check", "smoke",
           "--state", "success", now="2026-12-01T14:05:00Z"))
    early = ok(run(example_repo, "promote", "--to", "prod", now="2026-12-01T14:10:00Z"))
    assert "wave early (2 of 3)" in early
    led = ledger_of(example_repo, "prod")
    wave = sorted(led["rollout"]["waves"][1]["clusters"])
    after = {c: registry.resolve(f"fleet/{c}", "prod") for c in prod}
    assert sorted(c for c in prod if after[c]) == sorted(["store-0001", *wave])
    assert after["store-0001"] == tags["store-0001"]  # the canary's tag did not move
    assert f"tag prod: {len(wave)} created" in early
    for c in ["store-0001", *wave]:
        assert after[c] == led["clusters"][c]["artifact"]["digest"]


def test_a_flux_environment_on_oci_applies_the_artifact_it_pulled(
        example_repo: pygit2.Repository, registry: Registry, toolset: tools.Toolset,
        tmp_path: Path) -> None:
    path = Path(example_repo.workdir) / "fleet/environments.yaml"
    replace_in(path, "  branch: env/dev\n", "  branch: env/dev\n  agent: flux\n")
    to_oci(example_repo, registry.host)
    ok(run(example_repo, "publish"))
    digest = ledger_of(example_repo)["clusters"]["store-lab"]["artifact"]["digest"]
    files = pulled(registry, "fleet/store-lab", digest)
    flux = {k: v.decode() for k, v in files.items() if k.startswith("_flux/")}
    assert flux
    for name, text in flux.items():
        package = name.removeprefix("_flux/").removesuffix(".yaml")
        assert f"path: ./{package}\n" in text
        assert "sourceRef:\n    kind: OCIRepository\n    name: hydrate\n" in text
        assert (package + "/kustomization.yaml") in files
    folder = tmp_path / "pulled"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    built = _kustomize(toolset, folder)
    assert built.count("kind: Kustomization\n") == len(flux)
