"""A values.schema.json violation names the layer that wrote the offending key."""

from __future__ import annotations

from pathlib import Path

from pipeline.render import schemaerrors
from tests.charts import helm_package, small_fleet, vendored_chart, write
from tests.conftest import hydrate

HELM = """\
Error: values don't meet the specifications of the schema(s) in the following chart(s):
vendored:
- at '/replicaCount': got string, want integer
- at '/image': validation failed
  - at '/image/tag': got number, want string
  - at '/image': additional properties 'extra', 'more' not allowed
sub:
- at '/a~1b': got string, want integer
"""


def test_helms_paths_are_values_keys() -> None:
    assert schemaerrors.offending(HELM, "vendored") == [
        (("replicaCount",), "got string, want integer"),
        (("image",), "validation failed"),
        (("image", "tag"), "got number, want string"),
        (("image", "extra"), "additional properties 'extra', 'more' not allowed"),
        (("image", "more"), "additional properties 'extra', 'more' not allowed"),
        (("sub", "a/b"), "got string, want integer"),
    ]


def test_the_error_names_the_layer_and_line_of_each_offending_key(tmp_path: Path) -> None:
    root = small_fleet(tmp_path / "config", ("vendored",))
    vendored_chart(helm_package(root, "vendored"), gitignore=None)
    write(root, {"bases/vendored/values.yaml": "replicaCount: 1\n",
                 "overlays/environments/dev/vendored/values.yaml": "# dev pins a build\nimage:\n"
                                                                   "  tag: 457\n  extra: x\n",
                 "overlays/clusters/dev-1/vendored/values.yaml": 'replicaCount: "2"\n'})
    result = hydrate("--repo", root, "render", "--out", tmp_path / "out")
    assert result.code == 1
    first = result.err.splitlines()[0]
    assert first.startswith("hydrate: error: dev-1/vendored: helm failed (exit 1): values don't meet "
                            "the specifications of the schema(s)")
    assert ("image.tag (got number, want string) is set by environment "
            "overlays/environments/dev/vendored/values.yaml:3") in first
    assert ("image.extra (additional properties 'extra' not allowed) is set by environment "
            "overlays/environments/dev/vendored/values.yaml:4") in first
    assert ("replicaCount (got string, want integer) is set by cluster "
            "overlays/clusters/dev-1/vendored/values.yaml:1") in first
