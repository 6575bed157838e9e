{{/*
The model tag the inference pods serve, seen from the umbrella (called with its context;
.Subcharts holds the enabled components): does this release's own fine-tune Job publish it, and
does the pre-install / pre-upgrade check run.
*/}}

{{/*
"true" when the release's fine-tune Job (finetune.enabled) publishes exactly the model and tag
inference serves: the day-0 install that creates its first model. The check then has nothing
to refuse; the inference pods wait for the tag (their wait-for-model init container).
*/}}
{{- define "myretail.modelTag.publishedByThisRelease" -}}
{{- $inference := get .Subcharts "inference" -}}
{{- $finetune := get .Subcharts "finetune" -}}
{{- if and $inference $finetune -}}
{{- $serves := $inference.Values.model -}}
{{- $publishes := $finetune.Values.model -}}
{{- if and (eq (toString $serves.name) (toString $publishes.name)) (eq (toString $serves.tag) (toString $publishes.tag)) -}}
true
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"true" when the model-tag check hook runs: inference is on, inference.checkTag.enabled, on an
upgrade or (checkTag.onInstall) an install, and the tag is not one this release publishes.
*/}}
{{- define "myretail.modelTag.checkRuns" -}}
{{- $inference := get .Subcharts "inference" -}}
{{- if $inference -}}
{{- $check := $inference.Values.checkTag -}}
{{- if and $check.enabled (or .Release.IsUpgrade $check.onInstall) (not (include "myretail.modelTag.publishedByThisRelease" .)) -}}
true
{{- end -}}
{{- end -}}
{{- end -}}
