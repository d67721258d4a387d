"""Post-processing: where each object came from (Helm's `# Source:`, Kustomize's origin
annotation), and that the annotation never reaches the output."""

from __future__ import annotations

import re

import pytest

from pipeline.errors import RenderError
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


HOOK = b"""---
# Source: shop/templates/migrate.yaml
apiVersion: batch/v1
kind: Job
metadata:
  generateName: migrate-
  annotations: {helm.sh/hook: pre-upgrade}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: "m:1"}]}}}
"""


def test_a_hook_with_generate_name_gets_a_stable_name() -> None:
    # Kustomize (and so every agent reading the output) needs a name; the API server
    # would pick a random suffix, hydrate a stable one.
    (job,) = parse_output(HOOK, "c/p").docs
    name = job["metadata"]["name"]
    assert re.fullmatch(r"migrate-[bcdfghjklmnpqrstvwxz2456789]{5}", name)
    assert job["metadata"]["generateName"] == "migrate-"
    assert parse_output(HOOK, "c/p").docs[0]["metadata"]["name"] == name
    other = HOOK.replace(b'"m:1"', b'"m:2"')
    assert parse_output(other, "c/p").docs[0]["metadata"]["name"] != name
    argo = HOOK.replace(b"helm.sh/hook: pre-upgrade", b"argocd.argoproj.io/hook: PreSync")
    assert parse_output(argo, "c/p").docs[0]["metadata"]["name"].startswith("migrate-")


def test_generate_name_outside_a_hook_is_one_line() -> None:
    plain = HOOK.replace(b"  annotations: {helm.sh/hook: pre-upgrade}\n", b"")
    with pytest.raises(RenderError) as e:
        parse_output(plain, "store-1/shop")
    assert str(e.value) == (
        "store-1/shop: shop/templates/migrate.yaml: Job with generateName 'migrate-' and no name: "
        "GitOps agents apply objects by name and cannot apply it except as a hook; give it a "
        "metadata.name, or make it a hook (helm.sh/hook or argocd.argoproj.io/hook annotation)")
    nameless = b"---\n# Source: shop/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"
    with pytest.raises(RenderError, match=r"^store-1/shop: shop/templates/cm.yaml has an object "
                                          r"\(ConfigMap\) without metadata.name$"):
        parse_output(nameless, "store-1/shop")
