#--------------------------------------------------------------------------------------------
# GPU capacity. Every g6 size has one GPU, so the GPU node group's maximum must be at least
# the GPUs that may be requested at once:
#   inference   the autoscaler's maximum (or the fixed replica count) plus the rollout's
#               surge pods, times the GPUs per pod
#   fine-tune   one Job (one tag per run)
#   notebooks   the GPU notebooks JupyterHub's quota allows (jupyterhub.tf)
# The release's numbers come from the values Helm merges (local.myretail_settings), so a
# change in the chart, values/prod.yaml or an extra values file fails the plan here instead of
# leaving pods Pending.
#--------------------------------------------------------------------------------------------
locals {
  inference_replicas_at_most = (
    local.myretail_settings.inference_autoscaling
    ? local.myretail_settings.inference_max_replicas
    : local.myretail_settings.inference_replicas
  )
  # maxSurge is a pod count or a percentage of the replicas (rounded up, as Kubernetes does).
  inference_surge_pods = (
    can(tonumber(local.myretail_settings.inference_max_surge))
    ? tonumber(local.myretail_settings.inference_max_surge)
    : ceil(tonumber(trimsuffix(local.myretail_settings.inference_max_surge, "%")) * local.inference_replicas_at_most / 100)
  )

  gpu_demand = {
    inference = (local.inference_replicas_at_most + local.inference_surge_pods) * local.myretail_settings.inference_gpus
    finetune  = local.myretail_settings.finetune_gpus
    notebooks = var.enable_jupyterhub ? var.jupyterhub_max_gpu_notebooks : 0
  }
  gpus_at_most = sum(values(local.gpu_demand))
}

resource "terraform_data" "gpu_capacity_check" {
  input = local.gpu_demand

  lifecycle {
    precondition {
      condition     = var.gpu_node_count.max >= local.gpus_at_most
      error_message = "gpu_node_count.max (${var.gpu_node_count.max}) is below the GPUs that may be requested at once (${local.gpus_at_most}: inference ${local.gpu_demand.inference} including the rollout surge, fine-tune ${local.gpu_demand.finetune}, notebooks ${local.gpu_demand.notebooks}). Raise it, or lower inference.autoscaling.maxReplicas or jupyterhub_max_gpu_notebooks."
    }
  }
}

# The spot vCPU quota ("All G and VT Spot Instance Requests") must let the node group reach
# its maximum even when spot fills it with the largest type. A warning, not an error: the
# quota can be raised after the apply (Service Quotas), and a lower one only caps scaling.
data "aws_ec2_instance_type" "gpu" {
  for_each = toset(var.gpu_instance_types)

  instance_type = each.value
}

locals {
  gpu_spot_vcpus_at_most = var.gpu_node_count.max * max([for t in data.aws_ec2_instance_type.gpu : t.default_vcpus]...)
}

check "gpu_spot_quota" {
  data "aws_servicequotas_service_quota" "gpu_spot" {
    service_code = "ec2"
    quota_code   = "L-3819A6DF" # All G and VT Spot Instance Requests (vCPUs)
  }

  assert {
    condition     = data.aws_servicequotas_service_quota.gpu_spot.value >= local.gpu_spot_vcpus_at_most
    error_message = "The spot vCPU quota for G instances in ${var.region} is ${data.aws_servicequotas_service_quota.gpu_spot.value}; the GPU node group may need ${local.gpu_spot_vcpus_at_most} (${var.gpu_node_count.max} nodes of up to ${local.gpu_spot_vcpus_at_most / var.gpu_node_count.max} vCPUs). Ask for more in Service Quotas (quota L-3819A6DF), or use fewer or smaller gpu_instance_types."
  }
}
