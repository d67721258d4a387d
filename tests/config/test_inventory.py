"""Inventory rules that need no render: which sites are taken for typos."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import inventory as inventory_mod
from pipeline.config.inventory import _SiteFolders
from pipeline.config.source import DirTree
from pipeline.errors import ConfigError
from tests.conftest import copy_example, writing

FOLDERS = _SiteFolders.of(["fra", "lyon-plant", "store-0041", "mun", "hamburg-port"])


@pytest.mark.parametrize(("site", "typo_of"), [
    ("fraa", "fra"),
    ("lyon-plnt", "lyon-plant"),
    ("hamburg-prot", "hamburg-port"),
    ("stor-0041", "store-0041"),
    ("fra", None),  # has its folder
    ("store-0042", None),  # another store: differs only in digits
    ("store-041", None),
    ("muc", None),  # another city: too far from mun
    ("berlin", None),
])
def test_a_site_close_to_a_folder_is_a_typo_unless_only_digits_differ(
        site: str, typo_of: str | None) -> None:
    assert FOLDERS.typo_of(site) == typo_of


class _Counting:
    """A memo that counts what it is asked (the render cache's interface)."""

    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}
        self.hits = 0

    def get(self, key: str) -> bytes | None:
        found = self.entries.get(key)
        self.hits += found is not None
        return found

    def put(self, key: str, data: bytes) -> None:
        self.entries[key] = data


def test_checked_cluster_files_come_back_from_the_memo_until_a_byte_changes(tmp_path: Path) -> None:
    """One memo entry holds every checked cluster document (and one each the few other
    files); it is keyed by every path and byte (not by mtime), so an edit that keeps the
    size and the mtime is still seen."""
    from pipeline.config import inventory
    from pipeline.config.source import DirTree

    config = copy_example(tmp_path / "config")
    memo = _Counting()
    plain = inventory.load(DirTree(config))
    first = inventory.load(DirTree(config), memo=memo)
    others = 1 + len(plain.classes) + len(plain.packages)  # environments, classes, packages
    assert (len(memo.entries), memo.hits) == (1 + others, 0)
    again = inventory.load(DirTree(config), memo=memo)
    assert memo.hits == 1 + others
    assert again == first == plain

    path = config / "fleet/clusters/store-0001.yaml"
    stat = path.stat()
    text = path.read_text()
    assert "\nclass: pop\n" in text
    path.write_text(text.replace("\nclass: pop\n", "\nclazz: pop\n"))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(ConfigError, match=r"store-0001\.yaml:\d+: .*clazz"):
        inventory.load(DirTree(config), memo=memo)
    assert memo.hits == 1 + 2 * others  # the cluster files' entry missed


def test_a_memo_entry_of_the_wrong_shape_is_ignored(tmp_path: Path) -> None:
    from pipeline.config import inventory
    from pipeline.config.source import DirTree

    class Odd(_Counting):
        def get(self, key: str) -> bytes | None:
            return b'{"not": "a list"}'

    config = copy_example(tmp_path / "config")
    assert inventory.load(DirTree(config), memo=Odd()) == inventory.load(DirTree(config))


def test_environment_layers_apply_first_and_must_name_an_environment(example: Path) -> None:
    writing("overlays/environments/prod/pos-app/values.yaml", "replicaCount: 5\n")(example)
    writing("overlays/sites/store-0003/pos-app/values.yaml", "replicaCount: 4\n")(example)
    inv = inventory_mod.load(DirTree(example))
    layers = inv.layers_of(inv.clusters["store-0003"], "pos-app")
    assert [(layer.scope, layer.owner) for layer in layers] == [
        ("environments", "prod"), ("classes", "pop"), ("sites", "store-0003")]
    assert [layer.scope for layer in inv.layers_of(inv.clusters["store-0006"], "pos-app")] == [
        "classes", "sites"]  # a staging cluster: no prod layer
    writing("overlays/environments/prd/pos-app/values.yaml", "replicaCount: 5\n")(example)
    with pytest.raises(ConfigError, match=r"^overlays/environments/prd: no environment is named "
                                          r"'prd' \(did you mean 'prod'\?\); this layer would "
                                          r"never apply$"):
        inventory_mod.load(DirTree(example))


@pytest.mark.parametrize(("given", "message"), [
    ("{repository: fleet/images}", "'fleet/images' does not start with a registry host (a name "
     "with a dot or a port, or localhost), so 'fleet' would be read as a path on Docker Hub"),
    ("{repository: registry.example.com/Fleet}", "environments[0].oci.repository: "
     "'registry.example.com/Fleet' is not a registry host and repository path"),
    ("{repository: registry.example.com/fleet, tag: " + "a" * 40 + "}",
     "looks like a source commit: those tags are the immutable ones hydrate writes"),
    ("{repository: registry.example.com/fleet, layerMediaType: docker}",
     "environments[0].oci.layerMediaType"),
    ("{registry: registry.example.com}", "environments[0].oci"),
])
def test_an_oci_output_that_is_wrong_names_the_key(example: Path, given: str,
                                                   message: str) -> None:
    path = example / "fleet/environments.yaml"
    path.write_text(path.read_text().replace("  branch: env/dev\n",
                                             f"  branch: env/dev\n  oci: {given}\n"))
    with pytest.raises(ConfigError) as caught:
        inventory_mod.load(DirTree(example))
    assert message in str(caught.value)
    assert str(caught.value).startswith("fleet/environments.yaml:")


def test_an_oci_output_is_read_with_its_defaults(example: Path) -> None:
    path = example / "fleet/environments.yaml"
    path.write_text(path.read_text().replace(
        "  branch: env/dev\n", "  branch: env/dev\n  oci: {repository: oci://Registry.Example.com:5000/edge/fleet}\n"))
    dev = inventory_mod.load(DirTree(example)).environment("dev")
    assert dev.oci is not None
    assert (dev.oci.host, dev.oci.path, dev.oci.tag, dev.oci.layer, dev.oci.plain_http) == (
        "registry.example.com:5000", "edge/fleet", "dev", "flux", False)
    assert dev.oci.name("store-lab") == "edge/fleet/store-lab"
    assert inventory_mod.load(DirTree(example)).environment("prod").oci is None
