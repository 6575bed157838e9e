{{/*
Image references: <registry>/<repository>:<tag> or <registry>/<repository>@<digest>.
The registry is the image's own (qdrant and redis name docker.io) or global.imageRegistry;
the tag is the image's own (qdrant and redis pin theirs), else global.image.tag (one tag for
every project image: components, hooks, helm test pods), else the chart's appVersion.
  {{ include "myretail.image" (dict "image" .Values.image "context" .) }}
*/}}
{{- define "myretail.image" -}}
{{- $global := .context.Values.global | default dict -}}
{{- $globalImage := $global.image | default dict -}}
{{- $registry := .image.registry | default $global.imageRegistry -}}
{{- $repository := required "image.repository is required" .image.repository -}}
{{- $ref := ternary (printf "%s/%s" $registry $repository) $repository (not (empty $registry)) -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $ref .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $ref (.image.tag | default $globalImage.tag | default .context.Chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/* image + imagePullPolicy lines of a container. */}}
{{- define "myretail.imageLines" -}}
image: {{ include "myretail.image" . | quote }}
imagePullPolicy: {{ .image.pullPolicy | default "IfNotPresent" }}
{{- end -}}

{{/* imagePullSecrets of a pod: global.imagePullSecrets plus the component's own. */}}
{{- define "myretail.imagePullSecrets" -}}
{{- $global := .Values.global | default dict -}}
{{- $secrets := concat ($global.imagePullSecrets | default list) (.Values.imagePullSecrets | default list) | uniq -}}
{{- with $secrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}
