"""values.merge must give what Helm gives for successive -f files; the real helm decides."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.config import provenance, values, yamlio
from pipeline.config.schema import parse
from pipeline.render import tools

CHART_DEFAULTS = {
    "image": {"repository": "registry.example/pos", "tag": "1.0"},
    "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}},
    "nodeSelector": {"node-role.kubernetes.io/worker": ""},
    "tolerations": [{"key": "a"}],
    "replicas": 2,
}

LAYER_SETS: list[list[dict[str, Any]]] = [
    [{"replicas": 3}, {"image": {"tag": "1.1"}}],
    [{"nodeSelector": None}],  # null deletes the chart default
    [{"resources": {"limits": None}}, {"resources": {"requests": {"memory": "64Mi"}}}],
    [{"tolerations": [{"key": "b"}, {"key": "c"}]}, {"tolerations": []}],  # lists replace
    [{"image": None}, {"image": {"tag": "2.0"}}],  # a map after a null merges with defaults
    [{"image": {"tag": "2.0"}}, {"image": None}],
    [{"extra": {"a": 1}}, {"extra": {"b": None}}, {"extra": "scalar"}],
    [{"resources": {"limits": {"cpu": None}}}, {"resources": {"limits": {"memory": "2Gi"}}}],
]


def _probe_chart(path: Path, defaults: str) -> Path:
    """A chart whose only object shows its `.Values` as JSON."""
    (path / "templates").mkdir(parents=True)
    (path / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (path / "values.yaml").write_text(defaults)
    (path / "templates" / "values.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: values\n"
        "data:\n  values: {{ .Values | toJson | quote }}\n")
    return path


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _probe_chart(tmp_path_factory.mktemp("chart") / "probe", yamlio.dump(CHART_DEFAULTS))


def _rendered_values(toolset: tools.Toolset, chart: Path, files: list[Path], home: Path) -> Any:
    argv = [*toolset.helm.argv, "template", "probe", str(chart)]
    for f in files:
        argv += ["-f", str(f)]
    out = tools.run(argv, cwd=chart, env=tools.hermetic_env(home, os.environ))
    return json.loads(yamlio.load(out)["data"]["values"])


@pytest.mark.parametrize("layers", LAYER_SETS)
def test_merge_matches_successive_values_files(
        toolset: tools.Toolset, chart: Path, tmp_path: Path, layers: list[dict[str, Any]]) -> None:
    separate = []
    for i, layer in enumerate(layers):
        f = tmp_path / f"layer{i}.yaml"
        f.write_text(yamlio.dump(layer))
        separate.append(f)
    merged = tmp_path / "merged.json"
    merged.write_bytes(values.canonical(values.merge(*layers)))
    expected = _rendered_values(toolset, chart, separate, tmp_path)
    assert _rendered_values(toolset, chart, [merged], tmp_path) == expected


def test_null_survives_the_merge_so_helm_can_delete_the_default() -> None:
    assert values.merge({"a": {"b": 1}}, {"a": None}) == {"a": None}
    assert values.merge({"a": None}, {"a": {"b": 1}}) == {"a": {"b": 1}}


def test_canonical_is_independent_of_key_order() -> None:
    assert values.canonical({"b": 1, "a": {"d": 2, "c": 3}}) == values.canonical(
        {"a": {"c": 3, "d": 2}, "b": 1})


# Scalars YAML 1.1 and YAML 1.2 read differently, and a merge key: hydrate reads a values
# file as Helm does (YAML 1.1, like Kubernetes), so that the merged values it passes are
# exactly what `helm template -f` would have used.
TRICKY_VALUES = """\
enabled: on
country: NO
mode: 0755
modeYaml12: 0o17
big: 1_000
hex: 0x1F
eight: 08
time: 1:30
date: 2026-11-23
version: 1.10
base: &base {replicas: 2, image: {tag: "1.0"}}
merged:
  <<: *base
  replicas: 3
"""


def test_values_files_are_read_as_helm_reads_them(
        toolset: tools.Toolset, chart: Path, tmp_path: Path) -> None:
    raw = tmp_path / "values.yaml"
    raw.write_text(TRICKY_VALUES)
    ours = tmp_path / "values.json"
    ours.write_bytes(values.canonical(parse("values.yaml", raw.read_bytes())))
    expected = _rendered_values(toolset, chart, [raw], tmp_path)
    assert _rendered_values(toolset, chart, [ours], tmp_path) == expected
    assert expected["modeYaml12"] == 15
    assert expected["merged"]["replicas"] == 3


# --- The property: explain's computed values are Helm's -------------------------------------
# Random charts and stacks of values files, with nulls and nested maps on keys drawn from a
# small set so that layers collide. Helm gets the files as separate `-f` files (its own
# merge and coalescing decide); explain (`provenance.fold`, through `values.computed`)
# must give exactly the `.Values` Helm's templates see, and its history of each key the
# same final state.

_KEYS = st.sampled_from(["a", "b", "c", "d"])
_LEAVES = st.one_of(st.none(), st.integers(-3, 3), st.sampled_from(["s", "t", ""]),
                    st.lists(st.integers(0, 2), max_size=2))
_TREES = st.recursive(_LEAVES, lambda inner: st.dictionaries(_KEYS, inner, max_size=3),
                      max_leaves=8)
_MAPS = st.dictionaries(_KEYS, _TREES, max_size=4)


def _leaves(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    if isinstance(data, dict) and data:
        return [leaf for k, v in data.items() for leaf in _leaves(v, (*prefix, k))]
    return [(prefix, data)]


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(defaults=_MAPS, layers=st.lists(_MAPS, min_size=1, max_size=4))
def test_explains_values_are_the_values_helm_computes(
        toolset: tools.Toolset, tmp_path: Path, defaults: dict[str, Any],
        layers: list[dict[str, Any]]) -> None:
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    chart = _probe_chart(work / "chart", json.dumps(defaults))
    files = [provenance.ValuesFile("chart", "chart/values.yaml", defaults, {})]
    paths = []
    for i, layer in enumerate(layers):
        path = work / f"layer{i}.yaml"
        path.write_text(json.dumps(layer))
        paths.append(path)
        files.append(provenance.ValuesFile(f"layer{i}", path.name, layer, {}))
    helm = _rendered_values(toolset, chart, paths, work)

    folded = provenance.fold(files)
    assert provenance.plain(folded) == helm
    listed = list(provenance.entries(folded))
    for entry in listed:
        assert _at(helm, entry.key) == (None if entry.deleted else (entry.value,))
    shown = {e.key for e in listed if not e.deleted}
    for key, value in _leaves(helm):  # every leaf is listed (an empty map: it, or what went)
        assert not key or key in shown or (value == {} and any(
            e.deleted and e.key[:len(key)] == key for e in listed)), key
    for key, value in _leaves(helm):
        if key:
            last = provenance.history(files, key)[-1]
            assert (last.present, last.value) == (True, value), key


def _at(data: Any, key: tuple[Any, ...]) -> tuple[Any] | None:
    """(value,) at `key`, None when it is not there."""
    node = data
    for part in key:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return (node,)
