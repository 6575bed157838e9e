{{/*
Restricted security contexts (Pod Security Standard "restricted"): non-root uid 10001 (the
project's images), no privilege escalation, every capability dropped, read-only root file
system, seccomp RuntimeDefault. A component's podSecurityContext / securityContext values
are merged over these defaults.
*/}}
{{- define "myretail.podSecurityContext" -}}
{{- $defaults := dict
      "runAsNonRoot" true
      "runAsUser" 10001
      "runAsGroup" 10001
      "fsGroup" 10001
      "fsGroupChangePolicy" "OnRootMismatch"
      "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (.Values.podSecurityContext | default dict))) -}}
{{- end -}}

{{- define "myretail.containerSecurityContext" -}}
{{- $defaults := dict
      "runAsNonRoot" true
      "runAsUser" 10001
      "runAsGroup" 10001
      "allowPrivilegeEscalation" false
      "privileged" false
      "readOnlyRootFilesystem" true
      "capabilities" (dict "drop" (list "ALL"))
      "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (.Values.securityContext | default dict))) -}}
{{- end -}}
