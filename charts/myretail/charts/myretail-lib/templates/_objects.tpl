{{/*
Whole objects every component renders the same way: ServiceAccount, HPA, PDB.
Each subchart has one template file per object that includes one of these.
*/}}

{{- define "myretail.serviceAccount" -}}
{{- $sa := .Values.serviceAccount | default dict -}}
{{- if $sa.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "myretail.metadata" (dict "name" (include "myretail.serviceAccountName" .) "annotations" $sa.annotations "context" .) | nindent 2 }}
automountServiceAccountToken: false
{{- end }}
{{- end -}}

{{/* HorizontalPodAutoscaler of the component's Deployment (autoscaling.enabled). */}}
{{- define "myretail.hpa" -}}
{{- $hpa := .Values.autoscaling | default dict -}}
{{- if $hpa.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "myretail.metadata" (dict "context" .) | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "myretail.fullname" . }}
  minReplicas: {{ $hpa.minReplicas }}
  maxReplicas: {{ $hpa.maxReplicas }}
  metrics:
    {{- if $hpa.metrics }}
    {{- toYaml $hpa.metrics | nindent 4 }}
    {{- else }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $hpa.targetCPUUtilizationPercentage | default 70 }}
    {{- end }}
  {{- with $hpa.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* PodDisruptionBudget of the component (pdb.enabled): minAvailable or maxUnavailable. */}}
{{- define "myretail.pdb" -}}
{{- $pdb := .Values.pdb | default dict -}}
{{- if $pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "myretail.metadata" (dict "context" .) | nindent 2 }}
spec:
  {{- if not (kindIs "invalid" $pdb.maxUnavailable) }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $pdb.minAvailable | default 1 }}
  {{- end }}
  {{- with $pdb.unhealthyPodEvictionPolicy }}
  unhealthyPodEvictionPolicy: {{ . }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "myretail.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/*
A Service of the calling component on all of its ports (myretail.ports), each targeting the
container port of the same name:
  {{ include "myretail.service" (dict "context" .) }}
  {{ include "myretail.service" (dict "headless" true "publishNotReadyAddresses" true "context" .) }}
The plain one is a ClusterIP Service <fullname> with service.annotations; the headless one,
<fullname>-headless, gives a StatefulSet's pods their stable network identity.
*/}}
{{- define "myretail.service" -}}
{{- $ctx := .context -}}
{{- $svc := $ctx.Values.service | default dict -}}
apiVersion: v1
kind: Service
metadata:
  {{- if .headless }}
  {{- include "myretail.metadata" (dict "name" (printf "%s-headless" (include "myretail.fullname" $ctx)) "context" $ctx) | nindent 2 }}
  {{- else }}
  {{- include "myretail.metadata" (dict "annotations" $svc.annotations "context" $ctx) | nindent 2 }}
  {{- end }}
spec:
  {{- if .headless }}
  clusterIP: None
  {{- if .publishNotReadyAddresses }}
  publishNotReadyAddresses: true
  {{- end }}
  {{- else }}
  type: ClusterIP
  {{- end }}
  ports:
    {{- range include "myretail.ports" (dict "context" $ctx) | fromYamlArray }}
    - name: {{ .name }}
      port: {{ .port | int }}
      targetPort: {{ .name }}
      protocol: TCP
    {{- end }}
  selector:
    {{- include "myretail.selectorLabels" $ctx | nindent 4 }}
{{- end -}}
