"""From a finding to the line that produced it."""

from __future__ import annotations

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
