{{/* The objects' name: the release name when it already names the chart. */}}
{{- define "outbox-shipper.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* What selects this release's pods (Deployment, Service, PDB, affinity). */}}
{{- define "outbox-shipper.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The pods' labels. */}}
{{- define "outbox-shipper.podLabels" -}}
{{ include "outbox-shipper.selectorLabels" . }}
app.kubernetes.io/component: shipper
{{- end -}}

{{/* Every object's labels: the pods' and Helm's own two. */}}
{{- define "outbox-shipper.labels" -}}
{{ include "outbox-shipper.podLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "outbox-shipper.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* The drain must end before the kubelet kills the container. */}}
{{- define "outbox-shipper.checkGrace" -}}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add (int .Values.drainTimeout) 10 | int) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed drainTimeout (%v) by at least 10 s" .Values.terminationGracePeriodSeconds .Values.drainTimeout) -}}
{{- end -}}
{{- end -}}
