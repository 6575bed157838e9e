{{/*
Pod-level settings every workload shares: service account, pull secrets, security context
and scheduling. GPU components (gpu.enabled) get global.gpu.nodeSelector and
global.gpu.tolerations added to their own, and nvidia.com/gpu in their resources.
  spec:
    {{- include "myretail.podSpec" . | nindent 6 }}
*/}}
{{- define "myretail.podSpec" -}}
serviceAccountName: {{ include "myretail.serviceAccountName" . }}
automountServiceAccountToken: false
{{- include "myretail.imagePullSecrets" . }}
securityContext:
  {{- include "myretail.podSecurityContext" . | nindent 2 }}
{{- include "myretail.scheduling" . }}
{{- with .Values.terminationGracePeriodSeconds }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
{{- end -}}

{{- define "myretail.gpuEnabled" -}}
{{- if and .Values.gpu .Values.gpu.enabled -}}true{{- end -}}
{{- end -}}

{{- define "myretail.scheduling" -}}
{{- $global := .Values.global | default dict -}}
{{- $gpu := $global.gpu | default dict -}}
{{- $nodeSelector := dict -}}
{{- $tolerations := list -}}
{{- if include "myretail.gpuEnabled" . -}}
{{- $nodeSelector = deepCopy ($gpu.nodeSelector | default dict) -}}
{{- $tolerations = $gpu.tolerations | default list -}}
{{- end -}}
{{- $nodeSelector = mergeOverwrite $nodeSelector (deepCopy (.Values.nodeSelector | default dict)) -}}
{{- $tolerations = concat $tolerations (.Values.tolerations | default list) -}}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- tpl (toYaml .) $ | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* Container resources; GPU components get nvidia.com/gpu (gpu.count) as request and limit. */}}
{{- define "myretail.resources" -}}
{{- $resources := deepCopy (required (printf "%s: resources are required" (include "myretail.name" .)) .Values.resources) -}}
{{- if include "myretail.gpuEnabled" . -}}
{{- $count := .Values.gpu.count | default 1 -}}
{{- $_ := set $resources "limits" (merge (dict "nvidia.com/gpu" $count) ($resources.limits | default dict)) -}}
{{- $_ := set $resources "requests" (merge (dict "nvidia.com/gpu" $count) ($resources.requests | default dict)) -}}
{{- end -}}
{{- toYaml $resources -}}
{{- end -}}

{{/*
HTTP probes from values: probes.startup / readiness / liveness, each {path, ...probe fields}.
A probe set to null (or without path) is left out.
*/}}
{{- define "myretail.httpProbes" -}}
{{- $probes := .Values.probes | default dict -}}
{{- range $kind := list "startup" "readiness" "liveness" }}
{{- with get $probes $kind }}
{{- if .path }}
{{ $kind }}Probe:
  httpGet:
    path: {{ .path }}
    port: {{ .port | default "http" }}
  {{- toYaml (omit . "path" "port") | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Writable emptyDir volumes for a read-only root: (dict "dirs" (list (dict "name" "tmp" "sizeLimit" "1Gi"))) */}}
{{- define "myretail.emptyDirVolumes" -}}
{{- range .dirs }}
- name: {{ .name }}
  emptyDir:
    {{- with .medium }}
    medium: {{ . }}
    {{- end }}
    sizeLimit: {{ .sizeLimit | default "1Gi" }}
{{- end }}
{{- end -}}
