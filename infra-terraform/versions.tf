# Pinned Terraform, provider and module versions. Provider pins are pessimistic (~>) on the
# minor version: patch releases are taken, minor upgrades are a deliberate change here.
# Commit the .terraform.lock.hcl that `terraform init` writes next to this file.
terraform {
  required_version = ">= 1.7.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.95"
    }
    # eks-blueprints-addons and eks-data-addons 1.x use the helm provider 2.x block syntax.
    helm = {
      source  = "hashicorp/helm"
      version = "~> 2.17"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.36"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }
}
