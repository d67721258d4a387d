"""The OCI output's parts against a real registry (tests/ociregistry.py): the artifact
layout, the client's logins and refusals, credentials from Docker's config.json and a
credential helper, TLS with a custom CA, and the moving tag's compare-and-swap."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from pipeline.config.model import Environment, Oci
from pipeline.sinks import ledger
from pipeline.sinks.oci import artifact, login, publishing
from pipeline.sinks.oci.client import Client, LoginRefused, Refused, RegistryError
from tests.gitserver import make_certificate
from tests.ociregistry import PASSWORD, USER, Registry

FILES = {"kustomization.yaml": b"resources: [app]\n", "app/kustomization.yaml": b"x: 1\n",
         "app/deployment-web.yaml": b"kind: Deployment\n"}
WHEN = "2026-05-01T10:00:00Z"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "registry") as r:
        yield r


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "registry", login=True) as r:
        yield r


def _target(registry: Registry, who: login.Login | None = None, tag: str = "dev",
            layer: str = "flux") -> publishing.Target:
    oci = Oci(registry.host, "fleet", tag, "flux" if layer == "flux" else "oci")
    env = Environment("dev", "env/dev", None, oci=oci)
    target = publishing.Target(env, oci, Client(registry.host, who or login.Login()))
    target.connect(["s1"])
    return target


def test_the_layer_is_the_same_bytes_for_the_same_files_in_any_order() -> None:
    one = artifact.layer(FILES)
    two = artifact.layer(dict(reversed(list(FILES.items()))))
    assert one == two
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(one))) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app", "app/deployment-web.yaml",
                                         "app/kustomization.yaml", "kustomization.yaml"]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    assert {m.name: stat.S_IMODE(m.mode) for m in members}["app"] == 0o755
    assert {m.name: stat.S_IMODE(m.mode) for m in members}["kustomization.yaml"] == 0o644
    changed = artifact.layer({**FILES, "kustomization.yaml": b"resources: []\n"})
    assert changed != one


def test_the_manifest_has_fluxs_media_types_and_the_provenance() -> None:
    packed = artifact.pack(FILES, "flux", "https://git.example/fleet", "a" * 40, WHEN, "dev", "s1")
    doc = json.loads(packed.manifest)
    assert doc["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert doc["config"]["mediaType"] == "application/vnd.cncf.flux.config.v1+json"
    assert [la["mediaType"] for la in doc["layers"]] == [
        "application/vnd.cncf.flux.content.v1.tar+gzip"]
    assert doc["annotations"]["org.opencontainers.image.revision"] == "a" * 40
    assert doc["annotations"]["org.opencontainers.image.source"] == "https://git.example/fleet"
    assert doc["annotations"]["org.opencontainers.image.created"] == WHEN
    assert packed.digest == artifact.digest(packed.manifest)
    again = artifact.pack(FILES, "flux", "https://git.example/fleet", "a" * 40, WHEN, "dev", "s1")
    assert again == packed
    argo = artifact.pack(FILES, "oci", "https://git.example/fleet", "a" * 40, WHEN, "dev", "s1")
    assert json.loads(argo.manifest)["layers"][0]["mediaType"] == (
        "application/vnd.oci.image.layer.v1.tar+gzip")


def _wanted(names: list[str]) -> dict[str, tuple[str, str | None]]:
    return {n: ("b" * 40, n) for n in names}


def test_stamp_uploads_each_distinct_blob_once_and_mounts_the_rest(registry: Registry) -> None:
    target = _target(registry)
    names = [f"store-{i}" for i in range(6)]
    # Three clusters with the same files: one layer, uploaded once; the config blob is
    # the same everywhere.
    files = {n: FILES if i < 3 else {**FILES, "kustomization.yaml": n.encode()}
             for i, n in enumerate(names)}
    found, pushed = publishing.stamp(target, _wanted(names), files.__getitem__, {}, "src", WHEN)
    assert sorted(pushed.artifacts) == names
    assert pushed.uploaded == 5  # 4 layers and 1 config
    assert pushed.mounted == 2 * len(names) - 5
    assert registry.blobs_on_disk() == 5 + len(names)  # and one manifest each
    for name in names:
        repo = f"fleet/{name}"
        assert registry.resolve(repo, "b" * 40) == found[name].digest  # the immutable tag
        layer = json.loads(registry.get(f"{repo}/manifests/{found[name].digest}",
                                        artifact.MANIFEST).content)["layers"][0]["digest"]
        assert layer == artifact.digest(artifact.layer(files[name]))
    # Again, with what the ledger would now record: nothing to push.
    recorded = {n: ledger.Cluster("b" * 40, n, found[n]) for n in names}
    again, nothing = publishing.stamp(target, _wanted(names), files.__getitem__, recorded, "src",
                                      "2026-05-02T00:00:00Z")
    assert again == found
    assert nothing.artifacts == ()
    assert nothing.uploaded == 0


def test_a_rerun_adopts_what_a_stopped_run_pushed(registry: Registry) -> None:
    target = _target(registry)
    first, _ = publishing.stamp(target, _wanted(["s1"]), lambda _: FILES, {}, "src", WHEN)
    # The run stopped before its ledger commit; the next one, later, makes the same files.
    later, pushed = publishing.stamp(target, _wanted(["s1"]), lambda _: FILES, {}, "src",
                                     "2026-05-01T11:00:00Z")
    assert later == first
    assert pushed.adopted == ("s1",)
    assert pushed.uploaded == 0


def test_a_source_tag_holding_other_files_is_left_alone(registry: Registry) -> None:
    target = _target(registry)
    first, _ = publishing.stamp(target, _wanted(["s1"]), lambda _: FILES, {}, "src", WHEN)
    other = {**FILES, "kustomization.yaml": b"resources: [other]\n"}
    second, pushed = publishing.stamp(target, _wanted(["s1"]), lambda _: other, {}, "src", WHEN)
    assert pushed.untagged == ("s1",)
    assert registry.resolve("fleet/s1", "b" * 40) == first["s1"].digest  # never moved
    assert registry.manifest("fleet/s1", second["s1"].digest)  # there, by its digest


def _ledger(found: dict[str, ledger.Artifact]) -> ledger.Ledger:
    return ledger.Ledger("dev", "env/dev", "argocd", ledger.Source("src", "b" * 40, "s"),
                         {n: ledger.Cluster("b" * 40, n, a) for n, a in found.items()})


def _other(target: publishing.Target, name: str, text: bytes) -> ledger.Artifact:
    found, _ = publishing.stamp(target, {name: ("c" * 40, "x")},
                                lambda _: {**FILES, "kustomization.yaml": text}, {}, "src", WHEN)
    return found[name]


def test_sync_moves_tags_and_stops_at_a_tag_moved_between_read_and_write(
        registry: Registry, tmp_path: Path) -> None:
    target = _target(registry)
    repo = pygit2.init_repository(str(tmp_path / "repo"), bare=True)
    first, _ = publishing.stamp(target, _wanted(["s1", "s2"]), lambda _: FILES, {}, "src", WHEN)
    done = publishing.sync(target, _ledger(first), None, repo)
    assert done.created == ("s1", "s2")
    assert registry.resolve("fleet/s1", "dev") == first["s1"].digest
    second = _other(target, "s1", b"resources: [two]\n")
    third = _other(target, "s1", b"resources: [three]\n")
    led = _ledger({"s1": second, "s2": first["s2"]})

    def meanwhile() -> None:  # another writer, after hydrate read the tag
        registry.tag("fleet/s1", "dev", third.digest)

    with pytest.raises(publishing.TagMoved) as caught:
        publishing.sync(target, led, _ledger(first), repo, between=meanwhile)
    assert str(caught.value).startswith(
        f"fleet/s1:dev moved while hydrate was moving it (from {first['s1'].digest[:19]}… to "
        f"{third.digest[:19]}…; the ledger records {second.digest[:19]}…)")
    assert registry.resolve("fleet/s1", "dev") == third.digest  # the other writer's stays
    # Run again: the tag goes where the ledger says, and the report says it was put back.
    done = publishing.sync(target, led, _ledger(first), repo)
    assert done.restored == ("s1",)
    assert done.moved == ()
    assert registry.resolve("fleet/s1", "dev") == second.digest
    assert registry.resolve("fleet/s2", "dev") == first["s2"].digest


def test_a_tag_moved_by_hand_is_put_back_and_named(registry: Registry, tmp_path: Path) -> None:
    target = _target(registry)
    repo = pygit2.init_repository(str(tmp_path / "repo"), bare=True)
    first, _ = publishing.stamp(target, _wanted(["s1"]), lambda _: FILES, {}, "src", WHEN)
    other, _ = publishing.stamp(target, {"s1": ("c" * 40, "x")},
                                lambda _: {**FILES, "a.yaml": b"a\n"}, {}, "src", WHEN)
    publishing.sync(target, _ledger(first), None, repo)
    registry.tag("fleet/s1", "dev", other["s1"].digest)
    assert [(d.cluster, d.tag) for d in publishing.drift(target, _ledger(first))] == [
        ("s1", other["s1"].digest)]
    done = publishing.sync(target, _ledger(first), _ledger(first), repo)
    assert done.restored == ("s1",)
    assert publishing.drift(target, _ledger(first)) == []


def test_logins_wrong_missing_and_right(guarded: Registry) -> None:
    right = Client(guarded.host, login.Login(USER, PASSWORD, False, "HYDRATE_OCI_TOKEN"))
    right.connect("fleet/s1")
    with pytest.raises(LoginRefused) as wrong:
        Client(guarded.host, login.Login(USER, "nope", False, "HYDRATE_OCI_TOKEN")).connect("x")
    assert str(wrong.value) == (f"registry {guarded.host} refused the login of user 'fleet-bot' "
                                "from HYDRATE_OCI_TOKEN: check the password or token (and "
                                "that it may push)")
    assert "nope" not in str(wrong.value)
    with pytest.raises(LoginRefused, match="asks for a login and hydrate has none"):
        Client(guarded.host, login.Login()).connect("x")


def test_a_read_only_registry_refuses_a_push_in_its_words(tmp_path: Path) -> None:
    with Registry(tmp_path / "ro", readonly=True) as r:
        c = Client(r.host, login.Login())
        c.connect("fleet/s1")
        with pytest.raises(Refused) as caught:
            c.put_blob("fleet/s1", artifact.digest(b"x"), b"x")
    assert str(caught.value).startswith(f"registry {r.host} refused to push to fleet/s1")
    assert "405" in str(caught.value)


def test_a_registry_that_is_down_is_one_clear_error(tmp_path: Path) -> None:
    r = Registry(tmp_path / "down")
    with pytest.raises(RegistryError) as caught:
        Client(r.host, login.Login()).connect("x")
    assert str(caught.value) == (f"registry {r.host}: cannot connect (connection refused); is it "
                                 "running, and reachable from here?")


def test_tls_with_a_custom_ca_and_no_plain_http_fallback_off_loopback(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    with Registry(tmp_path / "tls", tls=(cert, key)) as r:
        with pytest.raises(RegistryError, match="set HYDRATE_OCI_CA_FILE"):
            Client(r.host, login.Login()).connect("x")
        trusted = Client(r.host, login.Login(), login.ca_bundle({"HYDRATE_OCI_CA_FILE": str(cert)}))
        trusted.connect("x")
        assert trusted.scheme == "https"
    with Registry(tmp_path / "plain") as plain:
        c = Client(plain.host, login.Login())
        c.connect("x")
        assert c.scheme == "http"  # loopback: allowed
    assert not login.loopback("registry.example.com:5000")
    assert login.loopback("[::1]:5000")
    assert login.loopback("localhost")
    assert login.loopback(
        "127.0.0.2:80")


def _config(tmp_path: Path, doc: object) -> dict[str, str]:
    folder = tmp_path / "docker"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(doc))
    return {"DOCKER_CONFIG": str(folder)}


def test_credentials_from_the_environment_and_dockers_config(tmp_path: Path) -> None:
    host = "registry.example.com"
    environ = _config(tmp_path, {"auths": {f"https://{host}": {
        "auth": base64.b64encode(b"robot:tok3n").decode()}}})
    found = login.find(host, environ)
    assert (found.username, found.secret, found.source) == (
        "robot", "tok3n", f"{tmp_path}/docker/config.json auths.https://{host}")
    assert "tok3n" not in repr(found)
    env_token = login.find(host, {**environ, "HYDRATE_OCI_TOKEN": "t", "HYDRATE_OCI_USER": "u"})
    assert (env_token.username, env_token.secret, env_token.source) == ("u", "t",
                                                                        "HYDRATE_OCI_TOKEN")
    assert login.find("other.example.com", environ).anonymous
    with pytest.raises(login.LoginError, match="not base64 of user:password"):
        login.find(host, _config(tmp_path, {"auths": {host: {"auth": "bm9jb2xvbg=="}}}))


def test_a_credential_helper_is_asked_as_docker_asks_it(tmp_path: Path, guarded: Registry,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-testpass"
    asked = tmp_path / "asked"
    helper.write_text("#!/bin/sh\n"
                      f"[ \"$1\" = get ] || exit 1\ncat > {asked}\n"
                      f"printf '{{\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}'\n")
    helper.chmod(0o755)
    environ = _config(tmp_path, {"credHelpers": {guarded.host: "testpass"}})
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    found = login.find(guarded.host, environ)
    assert asked.read_text() == guarded.host
    assert found.source == f"docker-credential-testpass ({tmp_path}/docker/config.json credHelpers)"
    Client(guarded.host, found).connect("fleet/x")  # the helper's login works
    store = _config(tmp_path, {"credsStore": "missing-helper"})
    with pytest.raises(login.LoginError, match="docker-credential-missing-helper is not on PATH"):
        login.find(guarded.host, store)


def test_a_registry_with_a_token_service(tmp_path: Path) -> None:
    from tests.ociregistry import TokenServer

    tokens = TokenServer(tmp_path).start()
    try:
        with Registry(tmp_path / "tokens", tokens=tokens) as r:
            with pytest.raises(LoginRefused, match="refused the login of user 'fleet-bot'"):
                Client(r.host, login.Login(USER, "nope", False, "HYDRATE_OCI_TOKEN")).connect("x")
            target = _target(r, login.Login(USER, PASSWORD, False, "HYDRATE_OCI_TOKEN"))
            names = ["s1", "s2"]
            found, pushed = publishing.stamp(target, _wanted(names), lambda _: FILES, {}, "src",
                                             WHEN)
            assert pushed.uploaded == 2  # the layer and config once; s2 mounts them
            assert pushed.mounted == 2
            repo = pygit2.init_repository(str(tmp_path / "repo"), bare=True)
            publishing.sync(target, _ledger(found), None, repo)
            assert publishing.drift(target, _ledger(found)) == []
            # One token per repository scope, and the mount's asks to pull from the source.
            scopes = {" ".join(s) for s in tokens.issued}
            assert "repository:fleet/s2:pull,push repository:fleet/s1:pull" in scopes
            assert "repository:fleet/s1:pull" in scopes  # status reads with pull alone
            anonymous = Client(r.host, login.Login())
            with pytest.raises(LoginRefused, match="asks for a login and hydrate has none"):
                anonymous.connect("fleet/s1")
    finally:
        tokens.stop()
