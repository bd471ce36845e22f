{{/*
Labels of every object: the kustomize base's (app.kubernetes.io/part-of)
and Helm's own.
*/}}
{{- define "vigil.labels" -}}
app.kubernetes.io/part-of: vigil
{{ include "vigil.releaseLabels" . }}
{{- end }}

{{/* Helm's labels of a release's pods. */}}
{{- define "vigil.releaseLabels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The agent's pods' labels; its selector is the name alone, as in the base.
*/}}
{{- define "vigil.agentPodLabels" -}}
app.kubernetes.io/name: vigil-agent
app.kubernetes.io/component: agent
{{ include "vigil.releaseLabels" . }}
{{- end }}

{{- define "vigil.agentLabels" -}}
{{ include "vigil.agentPodLabels" . }}
app.kubernetes.io/part-of: vigil
{{- end }}

{{- define "vigil.collectorPodLabels" -}}
app.kubernetes.io/name: vigil-collector
app.kubernetes.io/component: collector
{{ include "vigil.releaseLabels" . }}
{{- end }}

{{- define "vigil.collectorLabels" -}}
{{ include "vigil.collectorPodLabels" . }}
app.kubernetes.io/part-of: vigil
{{- end }}

{{/*
An image reference from images.<name>: repository[:tag][@digest], the tag
defaulting to the chart's appVersion unless a digest alone is given.
*/}}
{{- define "vigil.image" -}}
{{- $img := index .root.Values.images .name -}}
{{- $tag := $img.tag -}}
{{- if and (not $tag) (not $img.digest) -}}
{{- $tag = .root.Chart.AppVersion -}}
{{- end -}}
{{- $img.repository -}}
{{- if $tag }}:{{ $tag }}{{ end -}}
{{- if $img.digest }}@{{ $img.digest }}{{ end -}}
{{- end }}

{{/* The collector's Service name as agents and certificates know it. */}}
{{- define "vigil.collectorHost" -}}
vigil-collector.{{ .Release.Namespace }}.svc
{{- end }}

{{/*
Refuses values that would deploy something broken, with the reason.
*/}}
{{- define "vigil.validate" -}}
{{- if and (gt (int .Values.collector.replicas) 1) (ne .Values.collector.store.type "postgres") -}}
{{- fail (printf "collector.replicas is %d but collector.store.type is %q: more than one collector replica needs collector.store.type=postgres (the embedded SQLite store has one writer, and its volume one pod)" (int .Values.collector.replicas) .Values.collector.store.type) -}}
{{- end -}}
{{- end }}

{{/* Whether any agent monitors or enforces (else every image learns). */}}
{{- define "vigil.judges" -}}
{{- $judges := ne .Values.mode.default "learn" -}}
{{- range $ns, $m := .Values.mode.namespaces -}}
{{- if ne $m "learn" }}{{ $judges = true }}{{ end -}}
{{- end -}}
{{- if $judges }}true{{ end -}}
{{- end }}

{{/* A list of strings as CEL string literals, comma-separated. */}}
{{- define "vigil.celStrings" -}}
{{- $q := list -}}
{{- range . }}{{ $q = append $q (printf "'%s'" .) }}{{ end -}}
{{- join ", " $q -}}
{{- end }}
