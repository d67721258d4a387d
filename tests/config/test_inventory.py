"""Inventory rules that need no render: which sites are taken for typos."""

from __future__ import annotations

import pytest

from pipeline.config.inventory import _SiteFolders

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
