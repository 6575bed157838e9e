{{/*
Environment variables (names as in docs/contracts.md).
*/}}

{{/* LOG_LEVEL / LOG_FORMAT: the component's logLevel or global.logLevel. */}}
{{- define "myretail.env.logging" -}}
{{- $global := .Values.global | default dict -}}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | default $global.logLevel | default "INFO" | quote }}
- name: LOG_FORMAT
  value: {{ $global.logFormat | default "json" | quote }}
{{- end -}}

{{/* The component's extraEnv (a list of EnvVar). */}}
{{- define "myretail.env.extra" -}}
{{- with .Values.extraEnv }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end -}}

{{/*
A Secret reference. Secrets are referenced, never created from values, except the dev
Secret the umbrella creates when global.devSecrets.create is true (dev only): a key it
holds wins over the existing Secret.
  {{ include "myretail.secretRef" (dict "ref" $ref "devKey" "qdrant-api-key" "context" .) }}
ref is {existingSecret, key}; prints "name/key", or nothing when not configured.
*/}}
{{- define "myretail.secretRef" -}}
{{- $ref := .ref | default dict -}}
{{- $global := .context.Values.global | default dict -}}
{{- $dev := $global.devSecrets | default dict -}}
{{- if and $dev.create (hasKey ($dev.data | default dict) .devKey) -}}
{{- printf "%s/%s" (include "myretail.componentFullname" (dict "component" "dev-secrets" "context" .context)) .devKey -}}
{{- else if $ref.existingSecret -}}
{{- printf "%s/%s" $ref.existingSecret ($ref.key | default .devKey) -}}
{{- end -}}
{{- end -}}

{{/*
One env var from a Secret reference, or nothing when the reference is not configured
(fail when required). optional: the pod starts without the Secret.
  {{ include "myretail.env.secret" (dict "env" "QDRANT_API_KEY" "ref" $ref "devKey" "qdrant-api-key" "context" .) }}
*/}}
{{- define "myretail.env.secret" -}}
{{- $ref := include "myretail.secretRef" . -}}
{{- if $ref }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ first (splitList "/" $ref) }}
      key: {{ last (splitList "/" $ref) }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- else if .required }}
{{- fail (printf "%s needs a Secret: set %s.existingSecret (see docs/deploy.md)" .env .path) }}
{{- end }}
{{- end -}}

{{/*
Model store settings (global.modelStore) shared by every pod that reads or writes the store
(fine-tune, inference and its wait-for-model init container, the model-tag check, the catalog
restore): MODEL_STORE_URI and friends, the region as AWS_REGION and AWS_DEFAULT_REGION (boto
and s3fs read either), plus S3 keys from an existing Secret when the store is not reached
through IRSA.
*/}}
{{- define "myretail.modelStore.env" -}}
{{- $store := .Values.global.modelStore -}}
{{- with $store.uri }}
- name: MODEL_STORE_URI
  value: {{ include "myretail.tpl" (dict "value" . "context" $) | quote }}
{{- end }}
{{- with $store.bucket }}
- name: MODEL_ASSETS_BUCKET
  value: {{ . | quote }}
{{- end }}
{{- with $store.s3EndpointUrl }}
- name: S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with $store.region }}
- name: AWS_REGION
  value: {{ . | quote }}
- name: AWS_DEFAULT_REGION
  value: {{ . | quote }}
{{- end }}
{{- with $store.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $store.accessKeyIdKey | default "AWS_ACCESS_KEY_ID" }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $store.secretAccessKeyKey | default "AWS_SECRET_ACCESS_KEY" }}
{{- end }}
{{- end -}}

{{/*
The model store's PVC (file:// stores), mounted at global.modelStore.pvc.mountPath:
  {{ include "myretail.modelStore.volumeMounts" (dict "readOnly" true "context" .) }}
*/}}
{{- define "myretail.modelStore.volumeMounts" -}}
{{- $pvc := .context.Values.global.modelStore.pvc | default dict -}}
{{- if $pvc.claimName }}
- name: model-store
  mountPath: {{ $pvc.mountPath | default "/store" }}
  readOnly: {{ .readOnly | default false }}
{{- end }}
{{- end -}}

{{- define "myretail.modelStore.volumes" -}}
{{- $pvc := .Values.global.modelStore.pvc | default dict -}}
{{- if $pvc.claimName }}
- name: model-store
  persistentVolumeClaim:
    claimName: {{ $pvc.claimName }}
{{- end }}
{{- end -}}

{{/*
The layout of new catalog collections on a Qdrant cluster (global.qdrant.shards,
replicationFactor, writeConsistencyFactor), for every pod that creates collections: the RAG
API and the catalog restore. Unset values are left out (Qdrant's own defaults apply).
  {{- include "myretail.env.qdrantLayout" . | nindent 12 }}
*/}}
{{- define "myretail.env.qdrantLayout" -}}
{{- with .Values.global.qdrant }}
{{- range $env, $value := dict "QDRANT_SHARD_NUMBER" .shards "QDRANT_REPLICATION_FACTOR" .replicationFactor "QDRANT_WRITE_CONSISTENCY_FACTOR" .writeConsistencyFactor }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ $env }}
  value: {{ $value | int | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
