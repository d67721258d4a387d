"""Charts of our own that use what real upstream charts use, and a small fleet to render
them in (tests have no network: no chart is downloaded).

`vendored_chart` is shaped like kube-prometheus-stack or bitnami's charts: a subchart and
a library chart vendored under `charts/` next to a `.gitignore` that ignores `charts/*`,
objects gated on `.Capabilities.APIVersions`, CRDs in `crds/` and in `templates/`,
`values.schema.json`, a hook, `lookup` and `randAlphaNum` (off unless asked for).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import ROOT

SCAFFOLD = ROOT / "pipeline" / "scaffold"

CHART_YAML = """\
apiVersion: v2
name: vendored
version: 1.2.0
appVersion: "4.5.6"
dependencies:
- name: sub
  version: 0.3.0
- name: common
  version: 2.0.0
"""

VALUES = """\
replicaCount: 1
image:
  repository: registry.example/vendored
  tag: "4.5.6"
nodeSelector:
  kubernetes.io/os: linux
serviceMonitor:
  enabled: true
token:
  enabled: false
sub:
  greeting: hello
"""

SCHEMA = """\
{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "replicaCount": {"type": "integer", "minimum": 0},
    "image": {"type": "object", "additionalProperties": false,
              "properties": {"repository": {"type": "string"}, "tag": {"type": "string"}}}
  }
}
"""

# A container as the policy wants it (pinned image, requests, limit, not root).
CONTAINER = """\
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        resources:
          requests: {cpu: 10m, memory: 32Mi}
          limits: {memory: 64Mi}
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "common.fullname" . }}
  labels:
    {{- include "common.labels" . | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ include "common.fullname" . }}
  template:
    metadata:
      labels:
        app: {{ include "common.fullname" . }}
    spec:
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
      - name: app
""" + CONTAINER

# Gated on the cluster's API versions, as upstream charts gate their integrations.
CAPABILITIES = """\
{{- if and .Values.serviceMonitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") }}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "common.fullname" . }}
spec:
  selector:
    matchLabels:
      app: {{ include "common.fullname" . }}
  endpoints:
  - port: http
{{- end }}
{{- if .Capabilities.APIVersions.Has "autoscaling.k8s.io/v1/VerticalPodAutoscaler" }}
---
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata:
  name: {{ include "common.fullname" . }}
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "common.fullname" . }}
{{- end }}
"""

HOOK = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "common.fullname" . }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-delete-policy: before-hook-creation
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
""" + CONTAINER

# `lookup` finds nothing without a cluster (helm template); randAlphaNum is off by default.
LOOKUP = """\
{{- $existing := lookup "v1" "ConfigMap" .Release.Namespace "vendored-settings" }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "common.fullname" . }}-settings
data:
  found: {{ ternary "yes" "no" (not (empty $existing)) | quote }}
  {{- if .Values.token.enabled }}
  token: {{ randAlphaNum 16 | quote }}
  {{- end }}
"""

TEMPLATE_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""

CRDS_DIR_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
"""

WIDGET = """\
apiVersion: example.com/v1
kind: Widget
metadata:
  name: {{ include "common.fullname" . }}
spec:
  size: 3
"""

LIBRARY_HELPERS = """\
{{- define "common.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "common.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
"""

SUB_CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-sub
data:
  greeting: {{ .Values.greeting | quote }}
  global: {{ .Values.global | toJson | quote }}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def vendored_chart(chart: Path, *, gitignore: str | None = "charts/*\n") -> None:
    """The chart described above, in `chart` (its subcharts vendored as folders)."""
    write(chart, {
        "Chart.yaml": CHART_YAML,
        "values.yaml": VALUES,
        "values.schema.json": SCHEMA,
        "templates/deployment.yaml": DEPLOYMENT,
        "templates/capabilities.yaml": CAPABILITIES,
        "templates/hook.yaml": HOOK,
        "templates/settings.yaml": LOOKUP,
        "templates/gadget-crd.yaml": TEMPLATE_CRD,
        "templates/widget.yaml": WIDGET,
        "crds/widgets.yaml": CRDS_DIR_CRD,
        "charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.3.0\n",
        "charts/sub/values.yaml": "greeting: hi\n",
        "charts/sub/templates/configmap.yaml": SUB_CONFIGMAP,
        "charts/common/Chart.yaml": "apiVersion: v2\nname: common\nversion: 2.0.0\ntype: library\n",
        "charts/common/templates/_helpers.tpl": LIBRARY_HELPERS,
    })
    if gitignore is not None:
        (chart / ".gitignore").write_text(gitignore)


def small_fleet(root: Path, packages: tuple[str, ...] = ()) -> Path:
    """The fleet `hydrate init` makes (one class, one dev cluster), with `packages` added to
    the class; a package named here must be written into bases/ by the caller."""
    for name in ("fleet", "bases", "overlays"):
        shutil.copytree(SCAFFOLD / name, root / name)
    if packages:
        cls = root / "fleet/classes/standard.yaml"
        cls.write_text(cls.read_text().replace("packages: [namespaces, hello]",
                                               f"packages: [namespaces, hello, {', '.join(packages)}]"))
    return root


def helm_package(root: Path, name: str, *, namespace: str = "apps",
                 depends_on: tuple[str, ...] = ("namespaces",)) -> Path:
    """bases/<name>/package.yaml of a helm package whose chart is bases/<name>/chart."""
    deps = f"dependsOn: [{', '.join(depends_on)}]\n" if depends_on else ""
    write(root, {f"bases/{name}/package.yaml":
                 f"name: {name}\ntype: helm\nnamespace: {namespace}\n{deps}"})
    return root / "bases" / name / "chart"


def crd(group: str, kind: str) -> str:
    plural = kind.lower() + "s"
    return (f"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
            f"metadata:\n  name: {plural}.{group}\nspec:\n  group: {group}\n"
            f"  names: {{kind: {kind}, plural: {plural}, singular: {kind.lower()}, "
            f"listKind: {kind}List}}\n  scope: Namespaced\n  versions:\n  - name: v1\n"
            f"    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
            f"        type: object\n        x-kubernetes-preserve-unknown-fields: true\n")


def crd_cycle(root: Path) -> None:
    """Two kustomize packages, each rendering a CRD and an object of the other's: the
    cert-manager / monitoring-stack cycle through CRDs alone."""
    for name, own, other in (("certs", ("certs.example.com", "Cert"), ("mon.example.com", "Monitor")),
                             ("mon", ("mon.example.com", "Monitor"), ("certs.example.com", "Cert"))):
        write(root, {
            f"bases/{name}/package.yaml": f"name: {name}\ntype: kustomize\nnamespace: hello\n"
                                          "dependsOn: [namespaces]\n",
            f"bases/{name}/kustomization.yaml": "resources: [crd.yaml, uses.yaml]\n",
            f"bases/{name}/crd.yaml": crd(*own),
            f"bases/{name}/uses.yaml": f"apiVersion: {other[0]}/v1\nkind: {other[1]}\n"
                                       f"metadata:\n  name: from-{name}\nspec: {{}}\n",
        })
