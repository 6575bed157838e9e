{{/*
In-cluster addresses of the components: http://<prefix>-<component>:<its main port>, the
names and ports every chart of the release agrees on (myretail.componentFullname,
myretail.ports), so a subchart rendered on its own points where the umbrella's would. A
component that is switched off can be replaced by an external one: global.qdrant.url,
global.redis.url.
  {{ include "myretail.url" (dict "component" "inference" "context" .) }}
*/}}
{{- define "myretail.url" -}}
{{- printf "http://%s:%s" (include "myretail.componentFullname" .) (include "myretail.port" (dict "component" .component)) -}}
{{- end -}}

{{- define "myretail.url.qdrant" -}}
{{- $global := .Values.global | default dict -}}
{{- $qdrant := $global.qdrant | default dict -}}
{{- $qdrant.url | default (include "myretail.url" (dict "component" "qdrant" "context" .)) -}}
{{- end -}}

{{/* redis://[:$(REDIS_PASSWORD)@]host:port/0; $(REDIS_PASSWORD) is expanded by the kubelet. */}}
{{- define "myretail.url.redis" -}}
{{- $global := .Values.global | default dict -}}
{{- $redis := $global.redis | default dict -}}
{{- if $redis.url -}}
{{- $redis.url -}}
{{- else -}}
{{- $auth := ternary ":$(REDIS_PASSWORD)@" "" (not (empty (include "myretail.secretRef" (dict "ref" $redis.password "devKey" "redis-password" "context" .)))) -}}
{{- printf "redis://%s%s:%s/0" $auth (include "myretail.componentFullname" (dict "component" "redis" "context" .)) (include "myretail.port" (dict "component" "redis")) -}}
{{- end -}}
{{- end -}}
