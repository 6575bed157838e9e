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

{{/*
Egress to services on the internet (S3, STS, the Hugging Face hub, OpenAI, Bedrock, catalog
URLs): global.networkPolicy.externalEgress. The catch-all cidrs (0.0.0.0/0, ::/0) leave out
the except ranges and vpcCidrs of their own address family (an except must lie inside its
cidr), so the rule never opens instance metadata, pods, nodes or the VPC.
*/}}
{{- define "myretail.networkPolicy.externalEgress" -}}
{{- $np := .Values.global.networkPolicy | default dict -}}
{{- $ext := $np.externalEgress | default dict -}}
{{- $notInternet := concat ($ext.except | default list) ($ext.vpcCidrs | default list) | uniq -}}
- to:
    {{- range $cidr := $ext.cidrs | default (list "0.0.0.0/0") }}
    {{- $except := list }}
    {{- if has $cidr (list "0.0.0.0/0" "::/0") }}
    {{- range $notInternet }}
    {{- if eq (contains ":" $cidr) (contains ":" .) }}
    {{- $except = append $except . }}
    {{- end }}
    {{- end }}
    {{- end }}
    - ipBlock:
        cidr: {{ $cidr }}
        {{- with $except }}
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
