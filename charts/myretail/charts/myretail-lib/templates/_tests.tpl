{{/*
helm test pods: python (urllib) in the given image, restricted like every other pod. tests
holds the calling chart's test settings {timeoutSeconds, resources}; image is the image to
run (one with python, e.g. the RAG API's).
  {{ include "myretail.testPod" (dict "name" "rag-api" "weight" 2 "baseUrl" $url "script" $py "env" $env "image" $image "tests" .Values.tests "context" $) }}
The script runs after a prelude that defines call(path, body=None, headers=None) ->
(status, text) and check(name, ok, detail).
*/}}
{{- define "myretail.testPod" -}}
{{- $ctx := .context -}}
{{- $tests := .tests -}}
apiVersion: v1
kind: Pod
metadata:
  {{- $annotations := dict
        "helm.sh/hook" "test"
        "helm.sh/hook-weight" (.weight | toString)
        "helm.sh/hook-delete-policy" "before-hook-creation" }}
  {{- include "myretail.metadata" (dict "name" (include "myretail.componentFullname" (dict "component" (printf "test-%s" .name) "context" $ctx)) "labelName" "helm-test" "role" "test" "annotations" $annotations "context" $ctx) | nindent 2 }}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  {{- include "myretail.imagePullSecrets" $ctx | nindent 2 }}
  securityContext:
    {{- include "myretail.podSecurityContext" $ctx | nindent 4 }}
  containers:
    - name: test
      {{- include "myretail.imageLines" (dict "image" .image "context" $ctx) | nindent 6 }}
      command:
        - python
        - -c
        - |
          {{- include "myretail.test.prelude" . | nindent 10 }}
          {{- .script | nindent 10 }}
          print("all checks passed")
      env:
        - name: BASE_URL
          value: {{ .baseUrl | quote }}
        - name: TIMEOUT
          value: {{ $tests.timeoutSeconds | quote }}
        - name: PYTHONDONTWRITEBYTECODE
          value: "1"
        {{- with .env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      securityContext:
        {{- include "myretail.containerSecurityContext" $ctx | nindent 8 }}
      resources:
        {{- toYaml $tests.resources | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    {{- include "myretail.emptyDirVolumes" (dict "dirs" (list (dict "name" "tmp" "sizeLimit" "64Mi"))) | nindent 4 }}
{{- end -}}

{{- define "myretail.test.prelude" -}}
import json, os, sys, urllib.error, urllib.request

BASE, TIMEOUT = os.environ["BASE_URL"].rstrip("/"), float(os.environ["TIMEOUT"])

def call(path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        BASE + path, data=data, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")

def check(name, ok, detail=""):
    print(("PASS " if ok else "FAIL ") + name + (f": {detail}" if detail else ""), flush=True)
    if not ok:
        sys.exit(1)

status, text = call("/readyz")
check("GET /readyz", status == 200, f"{status} {text[:200]}")
{{- end -}}
