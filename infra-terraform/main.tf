# MyRetail GenAI on AWS: an EKS cluster with a CPU and a GPU (g6 spot) node group, the EBS CSI
# driver with gp3 as the default StorageClass, the NVIDIA device plugin, JupyterHub, ECR
# repositories, the S3 model-assets bucket and least-privilege IRSA roles, and (optionally)
# the MyRetail Helm release itself. See docs/aws.md for the walkthrough.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first three zone names are used (slice below); zones AWS adds later sort after them, so the set cannot grow.
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  name       = var.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, 3)

  bucket_name = coalesce(var.model_assets_bucket_name, "${var.name}-model-assets-${local.account_id}-${var.region}")

  # One ECR repository per service image; keys are the chart's component names, targets those
  # of the images' Dockerfile.
  dockerfile = "services/Dockerfile"
  images = {
    finetune  = { repository = "${var.name}/finetune", target = "finetune" }
    inference = { repository = "${var.name}/inference", target = "inference" }
    ragApi    = { repository = "${var.name}/rag-api", target = "rag-api" }
    chatbotUi = { repository = "${var.name}/chatbot-ui", target = "chatbot-ui" }
  }
  ecr_registry = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"

  gpu_taint_key = "nvidia.com/gpu"
  gpu_label_key = "nvidia.com/gpu.present"

  tags = merge(var.tags, {
    Project   = "myretail-genai"
    Blueprint = var.name
    ManagedBy = "terraform"
  })
}
