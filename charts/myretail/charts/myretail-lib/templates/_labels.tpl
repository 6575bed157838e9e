{{/*
Labels. app.kubernetes.io/name is the component (inference, rag-api, ...) or, for hook and
test pods, what they do (model-tag-check, helm-test), so a Service never selects them.
app.kubernetes.io/component says what kind of thing the object is (server, job, hook, test).
*/}}

{{/* Standard labels of the calling component. */}}
{{- define "myretail.labels" -}}
{{- include "myretail.labelsFor" (dict "name" (include "myretail.name" .) "context" .) -}}
{{- end -}}

{{/* Selector labels of the calling component (name + instance; never change after install). */}}
{{- define "myretail.selectorLabels" -}}
{{- include "myretail.selectorLabelsFor" (dict "name" (include "myretail.name" .) "context" .) -}}
{{- end -}}

{{/* Standard labels for a given name: (dict "name" "helm-test" "role" "test" "context" $). */}}
{{- define "myretail.labelsFor" -}}
helm.sh/chart: {{ include "myretail.chart" .context }}
{{ include "myretail.selectorLabelsFor" . }}
app.kubernetes.io/component: {{ .role | default "server" }}
app.kubernetes.io/part-of: myretail
app.kubernetes.io/version: {{ .context.Chart.AppVersion | default .context.Chart.Version | quote }}
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end -}}

{{- define "myretail.selectorLabelsFor" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
{{- end -}}

{{/*
metadata of a namespaced object of the calling component:
  {{ include "myretail.metadata" (dict "name" $name "role" "job" "annotations" $a "context" .) }}
name defaults to the component's fullname, role to "server".
*/}}
{{- define "myretail.metadata" -}}
name: {{ .name | default (include "myretail.fullname" .context) }}
namespace: {{ .context.Release.Namespace }}
labels:
  {{- include "myretail.labelsFor" (dict "name" (.labelName | default (include "myretail.name" .context)) "role" .role "context" .context) | nindent 2 }}
{{- with .annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
