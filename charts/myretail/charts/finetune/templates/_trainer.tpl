{{- /*
The training container and what its pods need, as a YAML mapping that job.yaml (a Job) and
trainjob.yaml (a Kubeflow TrainJob) both read with
  include (print .Template.BasePath "/_trainer.tpl") . | fromYaml
(a partial of this chart, not a named template: nothing else renders a fine-tune pod).

Processes: gpusPerNode per pod (one per GPU; the pod's GPU request) on `nodes` pods. Both 1:
the image's own `myretail-finetune train`, one process. Otherwise the Job's launcher,
`python -m myretail_finetune.launch`, which is torchrun with the Job's exit codes (plain
torchrun exits 1 whatever its workers exit with, and podFailurePolicy acts on those codes).
Several nodes rendezvous (c10d) at pod 0 of the Indexed Job through the headless Service;
each pod's node rank is its completion index. Under Kubeflow Trainer the runtime sets the
same torchrun arguments through PET_* variables, which torchrun reads.
*/ -}}
{{- $tag := required "finetune.model.tag is required: the tag the Job publishes" .Values.model.tag | toString }}
{{- $ckpt := .Values.checkpoints.persistence }}
{{- $onVolume := eq .Values.checkpoints.location "volume" }}
{{- $gpus := int .Values.gpusPerNode }}
{{- $nodes := int .Values.nodes }}
{{- $kubeflow := eq .Values.distributed.operator "kubeflow" }}
{{- $jobName := printf "%s-%s" (include "myretail.fullname" .) (regexReplaceAll "[^a-z0-9-]+" ($tag | lower) "-") | trunc 63 | trimSuffix "-" }}
{{- $rendezvous := printf "%s-rendezvous" (include "myretail.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- if and (gt $nodes 1) $onVolume (not $ckpt.existingClaim) }}
{{- fail "finetune.nodes > 1 needs one checkpoint location every node reaches: set finetune.checkpoints.location=store (the s3:// model store), or finetune.checkpoints.persistence.existingClaim to a ReadWriteMany claim" }}
{{- end }}
{{- if gt $gpus 1 }}
{{- if and (ne (int .Values.gpu.count) 1) (ne (int .Values.gpu.count) $gpus) }}
{{- fail (printf "finetune.gpu.count (%d) and finetune.gpusPerNode (%d) disagree: set gpusPerNode only, it is the GPU request of each pod" (int .Values.gpu.count) $gpus) }}
{{- end }}
{{- $_ := set .Values.gpu "count" $gpus }}
{{- end }}
jobName: {{ $jobName }}
rendezvousService: {{ $rendezvous }}
distributed: {{ or (gt $gpus 1) (gt $nodes 1) $kubeflow }}
{{- include "myretail.imageLines" (dict "image" .Values.image "context" .) | nindent 0 }}
{{- if $kubeflow }}
command: [python, -m, myretail_finetune.launch]
args: [-m, myretail_finetune, train]
{{- else if or (gt $gpus 1) (gt $nodes 1) }}
command: [python, -m, myretail_finetune.launch]
args:
  - --nproc-per-node={{ $gpus }}
  - --nnodes={{ $nodes }}
  {{- if gt $nodes 1 }}
  - --node-rank=$(JOB_COMPLETION_INDEX)
  - --rdzv-backend=c10d
  - --rdzv-endpoint={{ $jobName }}-0.{{ $rendezvous }}:{{ .Values.distributed.rendezvousPort }}
  - --rdzv-id={{ $jobName }}
  {{- else }}
  - --standalone
  {{- end }}
  - -m
  - myretail_finetune
  - train
{{- else }}
args: [train]
{{- end }}
env:
  {{- if and (gt $nodes 1) (not $kubeflow) }}
  # Set by the Job controller too; named here so that $(JOB_COMPLETION_INDEX) expands.
  - name: JOB_COMPLETION_INDEX
    valueFrom:
      fieldRef:
        fieldPath: metadata.annotations['batch.kubernetes.io/job-completion-index']
  {{- end }}
  - name: MODEL_NAME
    value: {{ .Values.model.name | quote }}
  - name: MODEL_TAG
    value: {{ $tag | quote }}
  - name: BASE_MODEL
    value: {{ include "myretail.tpl" (dict "value" .Values.model.baseModel "context" .) | quote }}
  - name: FINETUNE_PROFILE
    value: {{ .Values.profile | quote }}
  - name: FINETUNE_METHOD
    value: {{ .Values.method | quote }}
  - name: TRAIN_DATASET_FILE
    value: {{ include "myretail.tpl" (dict "value" (required "finetune.dataset.trainFile is required" .Values.dataset.trainFile) "context" .) | quote }}
  - name: EVAL_DATASET_FILE
    value: {{ include "myretail.tpl" (dict "value" (required "finetune.dataset.evalFile is required" .Values.dataset.evalFile) "context" .) | quote }}
  {{- with .Values.minEvalAccuracy }}
  - name: MIN_EVAL_ACCURACY
    value: {{ . | quote }}
  {{- end }}
  {{- if $onVolume }}
  - name: CHECKPOINT_DIR
    value: {{ printf "%s/%s/%s" .Values.checkpoints.mountPath .Values.model.name $tag | quote }}
  {{- end }}
  - name: HF_HOME
    value: /cache/hf
  {{- if .Values.config }}
  - name: FINETUNE_CONFIG
    value: /config/finetune.yaml
  {{- end }}
  {{- include "myretail.modelStore.env" . | nindent 2 }}
  {{- include "myretail.env.secret" (dict "env" "HUGGING_FACE_HUB_TOKEN" "ref" .Values.global.huggingFace.token "devKey" "hf-token" "optional" true "context" .) | nindent 2 }}
  {{- include "myretail.env.logging" . | nindent 2 }}
  {{- include "myretail.env.extra" . | nindent 2 }}
resources:
  {{- include "myretail.resources" . | nindent 2 }}
volumeMounts:
  {{- if $onVolume }}
  - name: checkpoints
    mountPath: {{ .Values.checkpoints.mountPath }}
  {{- end }}
  - name: cache
    mountPath: /cache
  - name: tmp
    mountPath: /tmp
  {{- if .Values.config }}
  - name: config
    mountPath: /config
    readOnly: true
  {{- end }}
  {{- include "myretail.modelStore.volumeMounts" (dict "readOnly" false "context" .) | nindent 2 }}
volumes:
  {{- if $onVolume }}
  - name: checkpoints
    {{- if $ckpt.enabled }}
    persistentVolumeClaim:
      claimName: {{ $ckpt.existingClaim | default (printf "%s-checkpoints" (include "myretail.fullname" .)) }}
    {{- else }}
    emptyDir:
      sizeLimit: {{ $ckpt.size }}
    {{- end }}
  {{- end }}
  {{- include "myretail.emptyDirVolumes" (dict "dirs" (list
        (dict "name" "cache" "sizeLimit" .Values.cache.sizeLimit)
        (dict "name" "tmp" "sizeLimit" "8Gi"))) | nindent 2 }}
  {{- if .Values.config }}
  - name: config
    configMap:
      name: {{ include "myretail.fullname" . }}
  {{- end }}
  {{- include "myretail.modelStore.volumes" . | nindent 2 }}
