{{/*
Ports: the one place they are written (default ports of docs/contracts.md and of the official
Qdrant and Redis images). Container ports, PORT variables, Services, NetworkPolicies, the
in-cluster URLs and the helm test pods all read them from here. The first port of a
component is its main one ("http" for the HTTP services).
*/}}
{{- define "myretail.ports.table" -}}
inference:
  - {name: http, port: 8000}
rag-api:
  - {name: http, port: 8080}
chatbot-ui:
  - {name: http, port: 7860}
  - {name: metrics, port: 9090}   # /metrics off the public port (METRICS_PORT)
qdrant:
  - {name: http, port: 6333}
  - {name: grpc, port: 6334}
redis:
  - {name: redis, port: 6379}
# Qdrant's peer-to-peer port (Raft consensus, shard transfers), opened only in distributed mode
# (qdrant.replicaCount > 1) and only between Qdrant's own pods: not one of the component's
# ports that its clients, its ClusterIP Service or other components' policies see.
qdrant-p2p:
  - {name: p2p, port: 6335}
{{- end -}}

{{/*
The ports of a component as a YAML list of {name, port}; the component defaults to the
calling chart (its chart name in kebab-case, as for object names):
  {{ include "myretail.ports" (dict "component" "qdrant") | fromYamlArray }}
  {{ include "myretail.ports" (dict "context" .) | fromYamlArray }}
*/}}
{{- define "myretail.ports" -}}
{{- $component := .component -}}
{{- if not $component -}}
{{- $component = .context.Chart.Name | kebabcase -}}
{{- end -}}
{{- $ports := get (include "myretail.ports.table" . | fromYaml) $component -}}
{{- if not $ports -}}
{{- fail (printf "myretail.ports: no ports for component %q" $component) -}}
{{- end -}}
{{- toYaml $ports -}}
{{- end -}}

{{/*
One port number: (dict "component" "qdrant" "name" "grpc"); name defaults to the main port.
*/}}
{{- define "myretail.port" -}}
{{- $ports := include "myretail.ports" . | fromYamlArray -}}
{{- $port := first $ports -}}
{{- with .name -}}
{{- $port = dict -}}
{{- range $ports -}}
{{- if eq .name $.name }}{{ $port = . }}{{ end -}}
{{- end -}}
{{- end -}}
{{- required (printf "myretail.port: no port named %q" (.name | default "")) $port.port | int -}}
{{- end -}}

{{/* The container's ports list of the calling component: {{ include "myretail.containerPorts" . | nindent 12 }} */}}
{{- define "myretail.containerPorts" -}}
{{- range include "myretail.ports" (dict "context" .) | fromYamlArray }}
- name: {{ .name }}
  containerPort: {{ .port | int }}
  protocol: TCP
{{- end }}
{{- end -}}
