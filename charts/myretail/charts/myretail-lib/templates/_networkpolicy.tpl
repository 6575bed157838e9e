{{/*
NetworkPolicy building blocks. The umbrella denies all traffic of the release's pods and
allows DNS; each component then allows exactly its own ingress and egress.
*/}}

{{/* A peer: the pods of one component of this release. (dict "name" "rag-api" "context" $) */}}
{{- define "myretail.networkPolicy.peer" -}}
- podSelector:
    matchLabels:
      {{- include "myretail.selectorLabelsFor" . | nindent 6 }}
{{- end -}}

{{/* The helm test pods of this release (they may reach every component). */}}
{{- define "myretail.networkPolicy.testPeer" -}}
{{- include "myretail.networkPolicy.peer" (dict "name" "helm-test" "context" .) -}}
{{- end -}}

{{/*
The TCP ports of a component (all of them, or only portName), as NetworkPolicy ports:
  (dict "component" "qdrant" "portName" "http"); without component: the calling chart's,
  (dict "context" .)
*/}}
{{- define "myretail.networkPolicy.ports" -}}
{{- range include "myretail.ports" . | fromYamlArray }}
{{- if or (not $.portName) (eq .name $.portName) }}
- {protocol: TCP, port: {{ .port | int }}}
{{- end }}
{{- end }}
{{- end -}}

{{/*
An ingress rule: these components of this release (and, with tests, the helm test pods) may
reach the calling component on its ports.
  {{ include "myretail.networkPolicy.ingressFrom" (dict "peers" (list "rag-api") "tests" true "context" .) }}
*/}}
{{- define "myretail.networkPolicy.ingressFrom" -}}
- from:
    {{- range .peers }}
    {{- include "myretail.networkPolicy.peer" (dict "name" . "context" $.context) | nindent 4 }}
    {{- end }}
    {{- if .tests }}
    {{- include "myretail.networkPolicy.testPeer" .context | nindent 4 }}
    {{- end }}
  ports:
    {{- include "myretail.networkPolicy.ports" (dict "context" .context) | nindent 4 }}
{{- end -}}

{{/*
An egress rule to one component of this release on its ports (or only portName):
  {{ include "myretail.networkPolicy.egressTo" (dict "component" "qdrant" "context" .) }}
*/}}
{{- define "myretail.networkPolicy.egressTo" -}}
- to:
    {{- include "myretail.networkPolicy.peer" (dict "name" .component "context" .context) | nindent 4 }}
  ports:
    {{- include "myretail.networkPolicy.ports" (dict "component" .component "portName" .portName) | nindent 4 }}
{{- end -}}

{{/* Egress to services outside the cluster (S3, STS, the Hugging Face hub, OpenAI, Bedrock). */}}
{{- define "myretail.networkPolicy.externalEgress" -}}
{{- $np := .Values.global.networkPolicy | default dict -}}
{{- $ext := $np.externalEgress | default dict -}}
- to:
    {{- range $ext.cidrs | default (list "0.0.0.0/0") }}
    - ipBlock:
        cidr: {{ . }}
        {{- with $ext.except }}
        except:
          {{- toYaml . | nindent 10 }}
        {{- end }}
    {{- end }}
  ports:
    {{- range $ext.ports | default (list 443) }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
{{- end -}}

{{/* Whether NetworkPolicies are rendered (global.networkPolicy.enabled). */}}
{{- define "myretail.networkPolicy.enabled" -}}
{{- $np := .Values.global.networkPolicy | default dict -}}
{{- if $np.enabled -}}true{{- end -}}
{{- end -}}
