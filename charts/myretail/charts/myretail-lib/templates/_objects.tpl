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
The component's Service on one named port "http":
  {{ include "myretail.service" (dict "port" 8000 "context" .) }}
*/}}
{{- define "myretail.service" -}}
{{- $svc := .context.Values.service | default dict -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "myretail.metadata" (dict "annotations" $svc.annotations "context" .context) | nindent 2 }}
spec:
  type: ClusterIP
  ports:
    - name: http
      port: {{ .port }}
      targetPort: http
      protocol: TCP
  selector:
    {{- include "myretail.selectorLabels" .context | nindent 4 }}
{{- end -}}
