{{/*
Which existing Secrets a release cannot start without: the list the preflight hook checks
before anything is installed, so a missing one fails the install with the command that creates
it instead of pods stuck in CreateContainerConfigError. Keys of the chart-made dev Secret are
left out: the release creates that one itself.
*/}}

{{/*
The Secret keys ("name:key", one YAML list) the pods of one component need, from its own values
and global, called with that component's context:
  {{ include "myretail.secretRefs" . | fromYamlArray }}
Only what the component's pods actually use: OpenAI only for an OpenAI chat model or embeddings,
Redis only when the chat history is in Redis, the Hugging Face token only for a base model from
the hub (myretail.needsHub), the S3 keys only for the store's readers and writers.
*/}}
{{- define "myretail.secretRefs" -}}
{{- $global := .Values.global -}}
{{- $component := .Chart.Name | kebabcase -}}
{{- $refs := list -}}
{{- if has $component (list "qdrant" "rag-api" "catalog-restore") -}}
{{- $refs = append $refs (include "myretail.secretRef" (dict "ref" $global.qdrant.apiKey "devKey" "qdrant-api-key" "context" .)) -}}
{{- end -}}
{{- if eq $component "rag-api" -}}
{{- $refs = append $refs (include "myretail.secretRef" (dict "ref" .Values.adminToken "devKey" "admin-token" "context" .)) -}}
{{- if or (eq .Values.chat.provider "openai") (eq .Values.embeddings.provider "openai") -}}
{{- $refs = append $refs (include "myretail.secretRef" (dict "ref" .Values.chat.openai.apiKey "devKey" "openai-api-key" "context" .)) -}}
{{- end -}}
{{- end -}}
{{- if or (eq $component "redis") (and (eq $component "rag-api") (eq .Values.history.type "redis")) -}}
{{- $refs = append $refs (include "myretail.secretRef" (dict "ref" $global.redis.password "devKey" "redis-password" "context" .)) -}}
{{- end -}}
{{- if include "myretail.needsHub" . -}}
{{- $refs = append $refs (include "myretail.secretRef" (dict "ref" $global.huggingFace.token "devKey" "hf-token" "context" .)) -}}
{{- end -}}
{{- $store := $global.modelStore -}}
{{- if and $store.existingSecret (has $component (list "finetune" "inference" "catalog-restore")) -}}
{{- $refs = append $refs (printf "%s/%s" $store.existingSecret ($store.accessKeyIdKey | default "AWS_ACCESS_KEY_ID")) -}}
{{- $refs = append $refs (printf "%s/%s" $store.existingSecret ($store.secretAccessKeyKey | default "AWS_SECRET_ACCESS_KEY")) -}}
{{- end -}}
{{- $devSecret := include "myretail.componentFullname" (dict "component" "dev-secrets" "context" .) -}}
{{- $existing := list -}}
{{- range $refs -}}
{{- if and . (ne (first (splitList "/" .)) $devSecret) -}}
{{- $existing = append $existing (replace "/" ":" .) -}}
{{- end -}}
{{- end -}}
{{- toYaml $existing -}}
{{- end -}}

{{/*
Whether a component loads its base model from the Hugging Face hub (and so needs the token):
the fine-tune when its baseModel is a hub id (org/name, not a path or URI); inference when its
baseModel override is one, or, without an override (the base the tag's manifest records), when
it serves on GPUs: the GPU profile serves Llama 3 8B from the hub, the CPU profile a local
model. Prints "true" or nothing.
*/}}
{{- define "myretail.needsHub" -}}
{{- $component := .Chart.Name | kebabcase -}}
{{- if has $component (list "finetune" "inference") -}}
{{- $base := include "myretail.tpl" (dict "value" (.Values.model.baseModel | default "") "context" .) -}}
{{- if $base -}}
{{- if regexMatch "^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9._-]+$" $base }}true{{ end -}}
{{- else if and (eq $component "inference") (include "myretail.gpuEnabled" .) -}}
true
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Every Secret key the release needs ("name:key", sorted, one YAML list): the union over the
enabled components, called with the umbrella's context (.Subcharts holds the enabled ones).
  {{ include "myretail.preflight.secretRefs" . | fromYamlArray }}
*/}}
{{- define "myretail.preflight.secretRefs" -}}
{{- $refs := list -}}
{{- range $name, $component := .Subcharts -}}
{{- $refs = concat $refs (include "myretail.secretRefs" $component | fromYamlArray) -}}
{{- end -}}
{{- toYaml ($refs | uniq | sortAlpha) -}}
{{- end -}}
