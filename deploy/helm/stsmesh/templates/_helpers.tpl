{{/* Labels: the recommended set (https://helm.sh/docs/chart_best_practices/labels/). The
selector labels stay app.kubernetes.io/name alone, as in deploy/base: selectors are immutable. */}}
{{- define "stsmesh.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "stsmesh.common" -}}
helm.sh/chart: {{ include "stsmesh.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "stsmesh.labels" -}}
app.kubernetes.io/name: stsmesh
{{ include "stsmesh.common" . }}
{{- end -}}

{{- define "stsmesh.perPodLabels" -}}
app.kubernetes.io/name: stsmesh-per-pod
{{ include "stsmesh.common" . }}
{{- end -}}

{{- define "stsmesh.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/* A webhook the apiserver cannot verify is skipped without a word under failurePolicy Ignore:
refuse to render one. */}}
{{- define "stsmesh.checkTrust" -}}
{{- if and .Values.webhook.create (not .Values.webhook.caBundle) (not .Values.certManager.enabled) -}}
{{- fail "webhook.caBundle is empty and certManager.enabled is false: the apiserver could not verify the webhook. Set --set-file webhook.caBundle=certs/ca.crt (from `stsmesh certs`), or --set certManager.enabled=true, or --set webhook.create=false and run `stsmesh register` yourself." -}}
{{- end -}}
{{- end -}}
