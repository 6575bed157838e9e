{{/*
In-cluster addresses of the components (ports from docs/contracts.md). A component that is
switched off can be replaced by an external one: global.qdrant.url, global.redis.url.
*/}}
{{- define "myretail.url.inference" -}}
{{- printf "http://%s:8000" (include "myretail.componentFullname" (dict "component" "inference" "context" .)) -}}
{{- end -}}

{{- define "myretail.url.ragApi" -}}
{{- printf "http://%s:8080" (include "myretail.componentFullname" (dict "component" "rag-api" "context" .)) -}}
{{- end -}}

{{- define "myretail.url.qdrant" -}}
{{- $global := .Values.global | default dict -}}
{{- $qdrant := $global.qdrant | default dict -}}
{{- $qdrant.url | default (printf "http://%s:6333" (include "myretail.componentFullname" (dict "component" "qdrant" "context" .))) -}}
{{- end -}}

{{/* redis://[:$(REDIS_PASSWORD)@]host:6379/0; $(REDIS_PASSWORD) is expanded by the kubelet. */}}
{{- define "myretail.url.redis" -}}
{{- $global := .Values.global | default dict -}}
{{- $redis := $global.redis | default dict -}}
{{- if $redis.url -}}
{{- $redis.url -}}
{{- else -}}
{{- $auth := ternary ":$(REDIS_PASSWORD)@" "" (not (empty (include "myretail.secretRef" (dict "ref" $redis.password "devKey" "redis-password" "context" .)))) -}}
{{- printf "redis://%s%s:6379/0" $auth (include "myretail.componentFullname" (dict "component" "redis" "context" .)) -}}
{{- end -}}
{{- end -}}
