"""Round-trip edits of fleet files: the diff is exactly the intended lines."""

from __future__ import annotations

import difflib

import pytest

from pipeline.config.edits import Edited, Line, ListEdit, apply, changed_lines
from pipeline.config.source import DirTree
from pipeline.errors import ConfigError
from tests.conftest import ROOT

CLASS = """\
name: pop   # a retail store
description: 'Retail store: "pop"'
capacity: { cpu: "12", memory: 48Gi }
packages:
  # the platform first
  - namespaces
  - 'rbac-baseline'
  - ingress     # TLS by cert-manager
# store applications come from the catalog

vars:
  storeId: "0042"
  enabled: yes
"""

CLASS_PACKAGES = ("packages",)
ADD = ("packages", "add")
REMOVE = ("packages", "remove")


def _diff(before: str, after: str) -> list[str]:
    """The changed lines of a unified diff, without its headers and context."""
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_an_added_item_is_one_new_line_in_the_lists_own_style() -> None:
    after = apply("c.yaml", CLASS, [ListEdit(CLASS_PACKAGES, add=("pos-app",))])
    assert _diff(CLASS, after) == ["+  - pos-app"]
    # after the last item, before the comment that leads to the next key
    assert "  - ingress     # TLS by cert-manager\n  - pos-app\n# store applications" in after


def test_a_removed_item_takes_only_its_line_and_its_comments_stay() -> None:
    for name, line in (("ingress", "-  - ingress     # TLS by cert-manager"),
                       ("namespaces", "-  - namespaces"),
                       ("rbac-baseline", "-  - 'rbac-baseline'")):
        after = apply("c.yaml", CLASS, [ListEdit(CLASS_PACKAGES, remove=(name,))])
        assert _diff(CLASS, after) == [line], name


def test_the_last_item_removed_leaves_an_empty_list_in_a_class() -> None:
    text = "name: x\npackages:\n- a\n# about vars\nvars: {}\n"
    after = apply("c.yaml", text, [ListEdit(CLASS_PACKAGES, remove=("a",))])
    assert after == "name: x\npackages: []\n# about vars\nvars: {}\n"


def test_quoting_follows_the_items_and_what_yaml_readers_would_misread() -> None:
    quoted = "packages:\n- 'a'\n- 'b'\n"
    assert _diff(quoted, apply("c.yaml", quoted, [ListEdit(CLASS_PACKAGES, add=("c",))])) == [
        "+- 'c'"]
    plain = "packages: [a, b]\n"
    assert apply("c.yaml", plain, [ListEdit(CLASS_PACKAGES, add=("no", "0042"))]) == (
        'packages: [a, b, "no", "0042"]\n')


@pytest.mark.parametrize(("text", "edit", "expected"), [
    # a cluster without a change of its own gets one, in the file's flow style
    ("name: s\nlabels: {a: b}\nvars: {storeId: \"0001\"}\n", ListEdit(ADD, ("pg",), prune=True),
     ["+packages: {add: [pg]}"]),
    # ... or in block style, like its other mappings
    ("name: s\nlabels:\n  a: b\n", ListEdit(ADD, ("pg",), prune=True),
     ["+packages:", "+  add:", "+  - pg"]),
    ("name: s\npackages: {add: [a]}\n", ListEdit(ADD, ("pg",), prune=True),
     ["-packages: {add: [a]}", "+packages: {add: [a, pg]}"]),
    # an emptied list goes, and the mapping it leaves empty too
    ("name: s\n# why\npackages: {remove: [mesh]}\n", ListEdit(REMOVE, (), ("mesh",), True),
     ["-packages: {remove: [mesh]}"]),
    ("name: s\npackages: {add: [a], remove: [mesh]}\n", ListEdit(REMOVE, (), ("mesh",), True),
     ["-packages: {add: [a], remove: [mesh]}", "+packages: {add: [a]}"]),
    ("name: s\npackages:\n    add:\n      - a   # why\n      - b\n    remove: [z]\n",
     ListEdit(ADD, ("c",), prune=True), ["+      - c"]),
    ("name: s\npackages:\n  add:\n  - a\n  # keep\n  remove: [z]\n",
     ListEdit(ADD, (), ("a",), True), ["-  add:", "-  - a"]),
    # a line ruamel.yaml would respace is kept as written, unless it is the edited one
    ("name:   s\nlabels: { a: b }\npackages: { add: [ a ] }\n", ListEdit(ADD, ("c",), prune=True),
     ["-packages: { add: [ a ] }", "+packages: {add: [a, c]}"]),
    # nothing to do
    ("name: s\n", ListEdit(REMOVE, (), ("x",), True), []),
])
def test_cluster_changes(text: str, edit: ListEdit, expected: list[str]) -> None:
    assert _diff(text, apply("s.yaml", text, [edit])) == expected


def test_comments_and_everything_else_survive_several_edits() -> None:
    text = ("name: s  # the store\n# labels\nlabels: {country: 'de'}\n"
            "packages:\n  add: [a]   # pilot\n  remove: [b]\n# trailing\n")
    after = apply("s.yaml", text, [ListEdit(ADD, ("c",), prune=True),
                                   ListEdit(REMOVE, (), ("b",), True)])
    assert after == ("name: s  # the store\n# labels\nlabels: {country: 'de'}\n"
                     "packages:\n  add: [a, c] # pilot\n# trailing\n")


def test_every_example_file_round_trips_with_a_one_line_diff() -> None:
    tree = DirTree(ROOT)
    for name in tree.listdir("fleet/classes"):
        path = f"fleet/classes/{name}"
        text = tree.read(path).decode()
        after = apply(path, text, [ListEdit(CLASS_PACKAGES, add=("x",))])
        assert [(c.sign, c.text) for c in changed_lines(text, after)] == [("+", "- x")], path
    for name in tree.listdir("fleet/clusters"):
        path = f"fleet/clusters/{name}"
        text = tree.read(path).decode()
        after = apply(path, text, [ListEdit(ADD, ("x",), prune=True)])
        assert len([c for c in changed_lines(text, after) if c.sign == "+"]) == 1, path


def test_changed_lines_are_numbered_in_their_own_file() -> None:
    assert changed_lines("a\nb\nc\n", "a\nc\nd\n") == (Line("-", 2, "b"), Line("+", 3, "d"))


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^c.yaml: expected a mapping at the top$"):
        apply("c.yaml", "- a\n", [ListEdit(CLASS_PACKAGES, add=("x",))])
    with pytest.raises(ConfigError, match=r"^c.yaml: packages is not a list$"):
        apply("c.yaml", "packages: {a: 1}\n", [ListEdit(CLASS_PACKAGES, add=("x",))])


def test_an_edited_tree_reads_the_edited_files() -> None:
    tree = Edited(DirTree(ROOT), {"fleet/classes/pop.yaml": b"name: pop\n"})
    assert tree.read("fleet/classes/pop.yaml") == b"name: pop\n"
    assert tree.read("fleet/classes/edge.yaml") == (ROOT / "fleet/classes/edge.yaml").read_bytes()
    assert tree.blob_id("fleet/classes/pop.yaml") == "2028e3dd66c4cde8f08b67a807d562b25463f789"
    assert tree.listdir("fleet/classes") == DirTree(ROOT).listdir("fleet/classes")
