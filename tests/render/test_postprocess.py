"""Post-processing: where each object came from (Helm's `# Source:`, Kustomize's origin
annotation), and that the annotation never reaches the output."""

from __future__ import annotations

from pipeline.render.postprocess import ORIGIN_ANNOTATION, Origin, parse_output, place

HELM = b"""---
# Source: shop/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
---
# Source: shop/templates/list.yaml
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
---
# Source: shop/charts/db/templates/svc.yaml
apiVersion: v1
kind: Service
metadata: {name: db}
"""

KUSTOMIZE = f"""apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    keep: "yes"
    {ORIGIN_ANNOTATION}: |
      path: package/config.yaml
  name: a
---
apiVersion: v1
kind: ConfigMap
metadata:
  annotations:
    {ORIGIN_ANNOTATION}: |
      configuredIn: layers/0-class/kustomization.yaml
      configuredBy:
        apiVersion: builtin
        kind: ConfigMapGenerator
  name: generated
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: untouched}}
""".encode()


def test_helm_sources_follow_each_document_and_list_items() -> None:
    out = parse_output(HELM, "c/p")
    names = [d["metadata"]["name"] for d in out.docs]
    assert list(zip(names, out.origins, strict=True)) == [
        ("a", "shop/templates/config.yaml"), ("db", "shop/charts/db/templates/svc.yaml"),
        ("b", "shop/templates/list.yaml"), ("c", "shop/templates/list.yaml")]


def test_kustomize_origins_are_read_and_removed() -> None:
    out = parse_output(KUSTOMIZE, "c/p")
    assert out.origins == ("package/config.yaml", "layers/0-class/kustomization.yaml", None)
    assert out.docs[0]["metadata"] == {"annotations": {"keep": "yes"}, "name": "a"}
    assert out.docs[1]["metadata"] == {"name": "generated"}  # no empty annotations left


def test_workspace_paths_map_to_the_longest_place() -> None:
    places = {"chart": "bases/shop/chart", "shop/templates": "bases/shop/chart/templates",
              "shop/charts": "bases/shop/chart/charts", "layers/0-class": "overlays/classes/pop/shop"}
    assert place("shop/templates/config.yaml", places) == "bases/shop/chart/templates/config.yaml"
    assert place("shop/charts/db/templates/svc.yaml", places) == \
        "bases/shop/chart/charts/db/templates/svc.yaml"
    assert place("layers/0-class/pdb.yaml", places) == "overlays/classes/pop/shop/pdb.yaml"
    assert place("layers/0-classic/pdb.yaml", places) is None  # a prefix of a name is no folder
    assert place(None, places) is None


def test_an_origin_memo_tells_places_apart() -> None:
    a = Origin({"layers/0-site": "overlays/sites/a/shop"})
    b = Origin({"layers/0-site": "overlays/sites/b/shop"})
    assert a.memo != b.memo
    assert a.memo == Origin({"layers/0-site": "overlays/sites/a/shop"}).memo


def test_the_kept_body_is_what_the_written_text_reads_as() -> None:
    from pipeline.config import yamlio
    from pipeline.render.postprocess import finish

    out = parse_output(HELM + b"---\n# Source: shop/templates/x.yaml\napiVersion: v1\nkind: ConfigMap\n"
                              b"metadata: {name: odd}\ndata: {a: 'yes', b: '0042', c: 1.10}\n", "c/p")
    found = finish(out, package="shop", namespace="shop", wave=2, scopes={}, where="c/p",
                   origins=tuple(f"bases/{o}" if o else None for o in out.origins))
    assert found
    for res in found:
        assert res.parsed is not None
        assert res.body == yamlio.load(res.text)  # validation judges exactly what is written
        assert res.body["metadata"]["annotations"]["hydrate.dev/package"] == "shop"
