"""From a finding to the line that produced it."""

from __future__ import annotations

from typing import Any

from pipeline.validate.findings import Source
from pipeline.validate.sources import Lines, steps

FILES = {
    "bases/app/deploy.yaml": b"""apiVersion: v1
kind: Service
metadata:
  name: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx
        securityContext:
          privileged: true
""",
    "bases/app/chart/templates/deploy.yaml": b"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "{{ .Values.image }}"
""",
    "overlays/classes/pop/app/extra.yaml.j2": b"""kind: ConfigMap
metadata:
  name: extra-{{ cluster.name }}
data:
  {% if true %}key: value{% endif %}
""",
}


def test_field_paths_become_steps() -> None:
    assert steps("spec.template.spec.containers[0].image") == \
        ["spec", "template", "spec", "containers", 0, "image"]
    assert steps("") == []


def test_yaml_files_are_walked_to_the_deepest_field_they_spell_out() -> None:
    lines = Lines(FILES.get)
    at = "spec.template.spec.containers[0].securityContext.privileged"
    assert lines.find("bases/app/deploy.yaml", "Deployment", "web", at) == Source("bases/app/deploy.yaml", 17)
    # A field the file does not have (set by a patch): the deepest one it does have.
    assert lines.find("bases/app/deploy.yaml", "Deployment", "web", "spec.replicas") == \
        Source("bases/app/deploy.yaml", 10)
    # Kustomize prefixed the name: the only Deployment whose name is part of it.
    assert lines.find("bases/app/deploy.yaml", "Deployment", "store-web", "") == \
        Source("bases/app/deploy.yaml", 6)
    assert lines.find("bases/app/deploy.yaml", "Service", "web", "") == Source("bases/app/deploy.yaml", 1)


def test_templates_are_searched_for_the_key() -> None:
    lines = Lines(FILES.get)
    path = "bases/app/chart/templates/deploy.yaml"
    assert lines.find(path, "Deployment", "web", "spec.template.spec.containers[0].image") == Source(path, 10)
    assert lines.find(path, "Deployment", "web", "spec.template.spec.hostNetwork") == Source(path, 7)
    assert lines.find(path, "Deployment", "web", "") == Source(path, 1)


def test_a_jinja_layer_file_is_found_under_its_template_name() -> None:
    lines = Lines(FILES.get)
    found = lines.find("overlays/classes/pop/app/extra.yaml", "ConfigMap", "extra-store-1", "data")
    assert found == Source("overlays/classes/pop/app/extra.yaml.j2", 4)


def test_unknown_origins() -> None:
    lines = Lines(FILES.get)
    assert lines.find(None, "Deployment", "web", "spec") is None
    assert lines.find("gone.yaml", "Deployment", "web", "spec") == Source("gone.yaml", 1)


def test_a_generated_object_points_at_its_generator() -> None:
    files = {"overlays/clusters/s/app/kustomization.yaml":
             b"kind: Component\nsecretGenerator:\n- name: other\n- name: creds\n  literals: [a=b]\n"}
    lines = Lines(files.get)
    path = "overlays/clusters/s/app/kustomization.yaml"
    assert lines.find(path, "Secret", "creds-cf85kd65mm", "data") == Source(path, 4)
    assert lines.find(path, "Secret", "unknown-cf85kd65mm", "data") == Source(path, 1)


def test_a_path_outside_the_repository_gives_no_source() -> None:
    def read(path: str) -> bytes | None:
        if ".." in path.split("/"):
            raise ValueError(f"{path}: path leaves the repository")
        return None

    assert Lines(read).find("bases/x/../../../etc/passwd", "Secret", "s", "data") is None


CHART = "bases/app/chart/templates"
TEMPLATES = {
    # A container that only some stores run, inside an if: the text is no plain YAML.
    f"{CHART}/deploy.yaml": b"""apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
spec:
  template:
    spec:
      containers:
      {{- if .Values.printer.enabled }}
      - name: printer
        image: "{{ .Values.printer.image }}"
        env:
        - name: app
          value: "1"
      {{- end }}
      - name: app
        image: "{{ .Values.image }}"
        securityContext:
          privileged: true
""",
    # The pod comes from a named template in another file.
    f"{CHART}/statefulset.yaml": b"""apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .Release.Name }}
spec:
  serviceName: db
  template:
    metadata:
      labels: {app: db}
    spec:
      {{- include "app.pod" . | nindent 6 }}
""",
    f"{CHART}/_pod.tpl": b"""{{- define "app.fullname" -}}
{{ .Release.Name }}
{{- end }}

{{- define "app.pod" -}}
serviceAccountName: db
containers:
  - name: db
    image: "postgres:latest"
    ports:
      - containerPort: 5432
  - name: exporter
    image: {{ .Values.exporter.image }}
    securityContext:
      {{- include "app.security" . | nindent 6 }}
{{- end }}

{{- define "app.security" -}}
runAsUser: 0
privileged: true
{{- end }}
""",
    f"{CHART}/configs.yaml": b"""apiVersion: v1
kind: ConfigMap
metadata:
  name: first
data:
  key: a
---
apiVersion: v1
kind: Secret
metadata:
  name: second
data:
  key: Yg==
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: second
  namespace: {{ .Release.Namespace }}
data:
  key: b
""",
    f"{CHART}/roles.yaml": b"""{{- range $ns := list "shop" "backoffice" }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: reader
  namespace: {{ $ns }}
rules: []
{{- end }}
""",
    "bases/app/roles.yaml": b"""apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
  namespace: shop
roleRef: {kind: Role, name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: reader
  namespace: backoffice
roleRef: {kind: ClusterRole, name: cluster-admin}
subjects: []
""",
}


def _listing(folder: str) -> list[str]:
    return sorted(p.removeprefix(f"{folder}/") for p in TEMPLATES if p.startswith(f"{folder}/"))


def _deploy(*names: str) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": n} for n in names]}}}}


def test_list_items_in_a_template_are_found_by_position_and_by_name() -> None:
    lines = Lines(TEMPLATES.get, _listing)
    path = f"{CHART}/deploy.yaml"
    # Both containers rendered: [1] is the app container, whose image is on line 17.
    assert lines.find(path, "Deployment", "web", "spec.template.spec.containers[1].image") == Source(path, 17)
    assert lines.find(path, "Deployment", "web", "spec.template.spec.containers[0].image") == Source(path, 11)
    privileged = "spec.template.spec.containers[1].securityContext.privileged"
    both = _deploy("printer", "app")
    assert lines.find(path, "Deployment", "web", privileged, body=both) == Source(path, 19)
    # Printing off: the app container is [0] of the rendered object; its name finds it
    # (not the env var of the same name inside the printer container).
    assert lines.find(path, "Deployment", "web", "spec.template.spec.containers[0].image",
                      body=_deploy("app")) == Source(path, 17)


def test_a_field_in_an_included_template_points_into_it() -> None:
    lines = Lines(TEMPLATES.get, _listing)
    pod = "spec.template.spec.containers"
    tpl = f"{CHART}/_pod.tpl"
    found = lines.find(f"{CHART}/statefulset.yaml", "StatefulSet", "db", f"{pod}[0].image")
    assert found == Source(tpl, 9)
    assert lines.find(f"{CHART}/statefulset.yaml", "StatefulSet", "db", f"{pod}[1].image") == Source(tpl, 13)
    # An include inside the included template.
    assert lines.find(f"{CHART}/statefulset.yaml", "StatefulSet", "db",
                      f"{pod}[1].securityContext.privileged") == Source(tpl, 20)
    # What the base template spells out stays there.
    assert lines.find(f"{CHART}/statefulset.yaml", "StatefulSet", "db", "spec.serviceName") == \
        Source(f"{CHART}/statefulset.yaml", 6)
    # Without a way to list the chart's files, the include line is as far as it goes.
    assert Lines(TEMPLATES.get).find(f"{CHART}/statefulset.yaml", "StatefulSet", "db", f"{pod}[0].image") == \
        Source(f"{CHART}/statefulset.yaml", 10)


def test_two_objects_of_one_kind_and_name_are_told_apart_by_namespace() -> None:
    lines = Lines(TEMPLATES.get, _listing)
    path = "bases/app/roles.yaml"
    assert lines.find(path, "RoleBinding", "reader", "roleRef", "backoffice") == Source(path, 13)
    assert lines.find(path, "RoleBinding", "reader", "roleRef", "shop") == Source(path, 6)


def test_the_document_of_a_multi_document_template_is_found_by_kind_and_name() -> None:
    lines = Lines(TEMPLATES.get, _listing)
    path = f"{CHART}/configs.yaml"
    assert lines.find(path, "ConfigMap", "second", "data.key") == Source(path, 21)
    assert lines.find(path, "ConfigMap", "first", "data.key") == Source(path, 6)
    assert lines.find(path, "Secret", "second", "data.key") == Source(path, 13)
