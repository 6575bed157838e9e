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
