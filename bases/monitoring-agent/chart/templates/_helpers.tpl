{{- define "monitoring-agent.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Common labels; call with (dict "ctx" $ "component" "name"). */}}
{{- define "monitoring-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: monitoring
{{ include "monitoring-agent.selectorLabels" . }}
{{- end -}}

{{- define "monitoring-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- end -}}

{{- define "monitoring-agent.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65534
runAsGroup: 65534
fsGroup: 65534
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "monitoring-agent.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* One scrape job; called with (dict "job" . "root" $). */}}
{{- define "monitoring-agent.scrapeJob" -}}
{{- $job := .job -}}
- job_name: {{ required "every scrape job needs a name" $job.name }}
  scrape_interval: {{ $job.interval | default .root.Values.agent.scrapeInterval }}
  {{- if $job.metricsPath }}
  metrics_path: {{ $job.metricsPath }}
  {{- end }}
  {{- if eq ($job.scheme | default "http") "https" }}
  scheme: https
  tls_config:
    ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    insecure_skip_verify: true
  authorization:
    credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
  {{- end }}
  kubernetes_sd_configs:
  - role: {{ $job.role }}
    {{- if $job.selector }}
    selectors:
    - role: {{ $job.role }}
      label: {{ $job.selector }}
    {{- end }}
  relabel_configs:
  {{- if $job.annotated }}
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
    regex: "true"
    action: keep
  - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
    regex: ([^:]+)(?::\d+)?;(\d+)
    replacement: $1:$2
    target_label: __address__
  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
    regex: (.+)
    target_label: __metrics_path__
  {{- end }}
  {{- if eq $job.role "pod" }}
  - source_labels: [__meta_kubernetes_namespace]
    target_label: namespace
  - source_labels: [__meta_kubernetes_pod_name]
    target_label: pod
  {{- end }}
  {{- if eq $job.role "node" }}
  - source_labels: [__meta_kubernetes_node_name]
    target_label: node
  {{- end }}
{{- end -}}
