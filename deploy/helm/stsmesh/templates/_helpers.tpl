{{- define "stsmesh.labels" -}}
app.kubernetes.io/name: stsmesh
{{- end -}}
