{{/*
Names. Every object is called <prefix>-<component>: the prefix is the release name (or
global.fullnameOverride), the component is the subchart's name in kebab-case, so the
umbrella's aliases (ragApi, catalogRestore, chatbotUi) give rag-api, catalog-restore and
chatbot-ui. Other charts find a component's Service through the same helper.
*/}}

{{/* The component name of the calling chart: nameOverride or .Chart.Name in kebab-case. */}}
{{- define "myretail.name" -}}
{{- default (.Chart.Name | kebabcase) .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release-wide prefix: global.fullnameOverride or the release name. */}}
{{- define "myretail.prefix" -}}
{{- $global := .Values.global | default dict -}}
{{- default .Release.Name $global.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* <prefix>-<component> of the calling chart. */}}
{{- define "myretail.fullname" -}}
{{- include "myretail.componentFullname" (dict "component" (include "myretail.name" .) "context" .) -}}
{{- end -}}

{{/*
<prefix>-<component> of any component, e.g. the Qdrant Service seen from the RAG API:
  {{ include "myretail.componentFullname" (dict "component" "qdrant" "context" $) }}
*/}}
{{- define "myretail.componentFullname" -}}
{{- printf "%s-%s" (include "myretail.prefix" .context) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* chart name and version, as the helm.sh/chart label wants them. */}}
{{- define "myretail.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ServiceAccount a component's pods run as. */}}
{{- define "myretail.serviceAccountName" -}}
{{- $sa := .Values.serviceAccount | default dict -}}
{{- if $sa.create -}}
{{- default (include "myretail.fullname" .) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{/* Render a value that may hold a template, e.g. "s3://{{ .Values.global.modelStore.bucket }}/x". */}}
{{- define "myretail.tpl" -}}
{{- if typeIs "string" .value -}}
{{- tpl .value .context -}}
{{- else -}}
{{- tpl (.value | toYaml) .context -}}
{{- end -}}
{{- end -}}
