"""Which layer set a field: the Component patch or the values file a pull request would
touch, not the base file the object comes from."""

from __future__ import annotations

from typing import Any

from pipeline.validate.findings import Source
from pipeline.validate.layers import Object, Setters
from pipeline.validate.sources import Lines, item_names

DS = "spec.template.spec.containers[1].securityContext.privileged"
BODY = {"metadata": {"labels": {"app": "agent", "tier": "node"}},
        "spec": {"template": {"spec": {"containers": [{"name": "init"}, {"name": "agent"}]}}}}
AGENT = Object("apps", "v1", "DaemonSet", "monitoring", "node-agent", lambda: BODY)

FILES = {
    # A strategic merge patch, its own target.
    "overlays/classes/pop/agent/kustomization.yaml": b"""kind: Component
patches:
- path: privileged.yaml
- path: unrelated.yaml
""",
    "overlays/classes/pop/agent/privileged.yaml": b"""apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
spec:
  template:
    spec:
      containers:
      - name: agent
        securityContext:
          privileged: true
""",
    "overlays/classes/pop/agent/unrelated.yaml": b"""apiVersion: apps/v1
kind: DaemonSet
metadata: {name: node-agent}
spec: {template: {spec: {containers: [{name: agent, image: "agent:2"}]}}}
""",
    # An inline JSON 6902 patch with a target, in a later layer.
    "overlays/sites/lab/agent/kustomization.yaml": b"""kind: Component
patches:
- target:
    kind: DaemonSet
    name: node-.*
  patch: |-
    - op: replace
      path: /spec/template/spec/containers/1/image
      value: agent:3
    - op: add
      path: /spec/template/spec/containers/1/securityContext/privileged
      value: true
""",
    # A patch for another object, and one whose label selector does not match.
    "overlays/clusters/lab-1/agent/kustomization.yaml": b"""kind: Component
patches:
- target: {kind: DaemonSet, name: other}
  patch: |-
    - {op: add, path: /spec/template/spec/containers/1/securityContext/privileged, value: true}
- target: {kind: DaemonSet, labelSelector: "tier=cluster"}
  patch: |-
    - {op: add, path: /spec/template/spec/hostNetwork, value: true}
""",
    "bases/agent/chart/templates/ds.yaml": b"""spec:
  template:
    spec:
      containers:
      - name: agent
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        securityContext: {{- toYaml .Values.securityContext | nindent 10 }}
""",
    "bases/agent/values.yaml": b"image:\n  tag: 1.0.0\n",
    "overlays/classes/pop/agent/values.yaml": b"# pop\nimage: {tag: latest}\n",
    "overlays/sites/lab/agent/values.yaml.j2": b"""securityContext:
  {% if cluster.labels.debug %}
  privileged: true
  {% endif %}
""",
}
CLASS = "overlays/classes/pop/agent/kustomization.yaml"
SITE = "overlays/sites/lab/agent/kustomization.yaml"
CLUSTER = "overlays/clusters/lab-1/agent/kustomization.yaml"


def _setters() -> Setters:
    return Setters(FILES.get)


def test_the_last_patch_that_writes_the_field_set_it() -> None:
    names = item_names(BODY, DS)
    assert _setters().find(AGENT, DS, None, names, [CLASS], []) == \
        Source("overlays/classes/pop/agent/privileged.yaml", 11)
    # The site's inline JSON patch comes later: its operation's line in the kustomization.
    assert _setters().find(AGENT, DS, None, names, [CLASS, SITE], []) == Source(SITE, 10)
    # The cluster's patches select other objects: the site's still set it.
    assert _setters().find(AGENT, DS, None, names, [CLASS, SITE, CLUSTER], []) == Source(SITE, 10)


def test_patches_that_do_not_write_the_field_are_no_setter() -> None:
    names = item_names(BODY, DS)
    other = AGENT._replace(name="node-exporter")  # the site's target matches; the class's does not
    assert _setters().find(other, DS, None, names, [CLASS], []) is None
    assert _setters().find(AGENT, "spec.template.spec.hostNetwork", None, {}, [CLASS, CLUSTER], []) is None
    assert _setters().find(AGENT, "spec.template.spec.containers[1].image", None, names, [CLASS], []) == \
        Source("overlays/classes/pop/agent/unrelated.yaml", 4)


def _trace(field: str) -> Any:
    return Lines(FILES.get).trace("bases/agent/chart/templates/ds.yaml", "DaemonSet", "node-agent", field)


def test_the_last_values_file_that_sets_an_inserted_value_set_it() -> None:
    values = ["bases/agent/values.yaml", "overlays/classes/pop/agent/values.yaml"]
    image = "spec.template.spec.containers[0].image"
    # image: {tag: latest} in the class's values, a flow mapping.
    assert _setters().find(AGENT, image, _trace(image), {}, [], values) == \
        Source("overlays/classes/pop/agent/values.yaml", 2)
    assert _setters().find(AGENT, image, _trace(image), {}, [], values[:1]) == \
        Source("bases/agent/values.yaml", 2)
    # toYaml .Values.securityContext, and the field below it: the .j2 values of the site.
    privileged = "spec.template.spec.containers[0].securityContext.privileged"
    site = "overlays/sites/lab/agent/values.yaml.j2"
    assert _setters().find(AGENT, privileged, _trace(privileged), {}, [], [*values, site]) == Source(site, 3)
    # A field the template writes itself is set by no values file.
    assert _setters().find(AGENT, "spec.template.spec.containers[0].name",
                           _trace("spec.template.spec.containers[0].name"), {}, [], values) is None


def test_odd_patches_are_no_setter_and_no_crash() -> None:
    files = {
        "k/kustomization.yaml": b"""kind: Component
patches:
- target: {kind: DaemonSet, name: "node-["}
  patch: '[{op: add, path: /spec/template/spec/containers/1/securityContext/privileged, value: true}]'
- path: loop.yaml.j2
- path: ../../../etc/passwd
- path: missing.yaml
- patch: 42
""",
        "k/loop.yaml.j2": b"&a [*a]\n",
    }

    def read(path: str) -> bytes | None:
        if path.startswith(".."):
            raise ValueError(f"{path}: leaves the repository")
        return files.get(path)

    assert Setters(read).find(AGENT, DS, None, item_names(BODY, DS), ["k/kustomization.yaml"], []) is None
