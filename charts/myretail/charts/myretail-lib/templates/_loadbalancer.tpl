{{/*
A component's Service as the outside sees it, read from its service values (the UI's
chatbotUi.service): whether an AWS NLB terminates TLS in front of it, and on which port it
listens. With TLS (an ACM certificate on an NLB the chart annotates) httpsPort is its only
port, so the load balancer has no plain-HTTP listener; otherwise it listens on port.
  {{ include "myretail.service.nlbTls" .Values.service }}   "true" or ""
  {{ include "myretail.service.port" .Values.service }}     the Service's port
*/}}
{{- define "myretail.service.nlbTls" -}}
{{- $nlb := .awsNlb | default dict -}}
{{- if and (eq .type "LoadBalancer") $nlb.enabled $nlb.certificateArn -}}true{{- end -}}
{{- end -}}

{{- define "myretail.service.port" -}}
{{- if include "myretail.service.nlbTls" . -}}
{{- .httpsPort | int -}}
{{- else -}}
{{- .port | int -}}
{{- end -}}
{{- end -}}

{{/*
The AWS Load Balancer Controller annotations of that NLB: IP targets, its scheme and, with a
certificate, one TLS listener (the certificate, a TLS 1.2+ policy) that forwards plain TCP
to the pods inside the VPC. A dict; empty when the Service is no annotated NLB.
*/}}
{{- define "myretail.service.nlbAnnotations" -}}
{{- $nlb := .awsNlb | default dict -}}
{{- $annotations := dict -}}
{{- if and (eq .type "LoadBalancer") $nlb.enabled -}}
{{- $prefix := "service.beta.kubernetes.io/aws-load-balancer-" -}}
{{- $_ := set $annotations (print $prefix "type") "external" -}}
{{- $_ = set $annotations (print $prefix "nlb-target-type") "ip" -}}
{{- $_ = set $annotations (print $prefix "scheme") $nlb.scheme -}}
{{- if include "myretail.service.nlbTls" . -}}
{{- $_ = set $annotations (print $prefix "ssl-cert") $nlb.certificateArn -}}
{{- $_ = set $annotations (print $prefix "ssl-ports") (include "myretail.service.port" .) -}}
{{- $_ = set $annotations (print $prefix "ssl-negotiation-policy") $nlb.sslPolicy -}}
{{- $_ = set $annotations (print $prefix "backend-protocol") "tcp" -}}
{{- end -}}
{{- end -}}
{{- toYaml $annotations -}}
{{- end -}}
