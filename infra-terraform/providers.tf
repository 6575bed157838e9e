provider "aws" {
  region = var.region

  default_tags {
    tags = local.tags
  }
}

# The Kubernetes and Helm providers talk to the cluster this configuration creates, with a
# short-lived token from `aws eks get-token` (the AWS CLI must be on PATH where Terraform runs).
# Both read the same settings; the Helm provider 2.x nests them in its own kubernetes block.
locals {
  cluster_api = {
    host                   = module.eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.eks.cluster_certificate_authority_data)
    token_api_version      = "client.authentication.k8s.io/v1beta1"
    token_command          = "aws"
    token_args             = ["eks", "get-token", "--cluster-name", module.eks.cluster_name, "--region", var.region]
  }
}

provider "kubernetes" {
  host                   = local.cluster_api.host
  cluster_ca_certificate = local.cluster_api.cluster_ca_certificate

  exec {
    api_version = local.cluster_api.token_api_version
    command     = local.cluster_api.token_command
    args        = local.cluster_api.token_args
  }
}

provider "helm" {
  kubernetes {
    host                   = local.cluster_api.host
    cluster_ca_certificate = local.cluster_api.cluster_ca_certificate

    exec {
      api_version = local.cluster_api.token_api_version
      command     = local.cluster_api.token_command
      args        = local.cluster_api.token_args
    }
  }
}
