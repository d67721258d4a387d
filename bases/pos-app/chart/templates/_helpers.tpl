{{- define "pos-app.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pos-app.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pos-app.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "pos-app.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: retail
retail.example.com/store-id: {{ include "pos-app.storeId" . | quote }}
{{- end -}}

{{- define "pos-app.storeId" -}}
{{- required "storeId is required (the store number, e.g. \"0042\")" .Values.storeId | toString -}}
{{- end -}}
