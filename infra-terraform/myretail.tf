#--------------------------------------------------------------------------------------------
# The MyRetail release: charts/myretail with values/prod.yaml, wired to what this
# configuration created (ECR images, the model-assets bucket, the IRSA roles).
# Off until the images are in ECR: `terraform apply -var deploy_myretail=true -var image_tag=v1.0.0`.
#--------------------------------------------------------------------------------------------
locals {
  model_store_uri = "s3://${aws_s3_bucket.model_assets.id}/${var.bucket_prefixes.models}"

  # Chart component -> the IRSA role (irsa.tf) of its service account (those that talk to S3).
  myretail_irsa = {
    for role, irsa in local.irsa_roles : irsa.chart_component => {
      role_arn        = module.irsa[role].iam_role_arn
      service_account = irsa.service_account
    } if irsa.chart_component != null
  }

  # What only Terraform knows, set on the release (helm --set): the ECR registry and each
  # component's repository, the model store, and for each service account that talks to S3
  # its IRSA role and its name (fixed, so the role's trust policy matches it). Image tags are
  # set apart below: they must stay strings.
  myretail_release_settings = merge(
    {
      "global.imageRegistry"     = local.ecr_registry
      "global.modelStore.uri"    = local.model_store_uri
      "global.modelStore.bucket" = aws_s3_bucket.model_assets.id
    },
    { for component, repo in aws_ecr_repository.service : "${component}.image.repository" => repo.name },
    { for component, irsa in local.myretail_irsa : "${component}.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn" => irsa.role_arn },
    { for component, irsa in local.myretail_irsa : "${component}.serviceAccount.name" => irsa.service_account },
  )
}

resource "helm_release" "myretail" {
  count = var.deploy_myretail ? 1 : 0

  name             = var.myretail_release_name
  chart            = "${path.module}/../charts/myretail"
  namespace        = var.myretail_namespace
  create_namespace = true

  # values/prod.yaml first, then any private overlay (secrets, sizes) the operator keeps.
  values = concat(
    [file("${path.module}/../values/prod.yaml")],
    [for f in var.myretail_extra_values_files : file(f)],
  )

  wait            = true
  atomic          = false # keep a failed rollout around to inspect it
  timeout         = var.myretail_helm_timeout
  cleanup_on_fail = false

  dynamic "set" {
    for_each = local.myretail_release_settings
    content {
      name  = set.key
      value = set.value
    }
  }

  # One ECR repository per component, all at the same (immutable) tag.
  dynamic "set" {
    for_each = aws_ecr_repository.service
    content {
      name  = "${set.key}.image.tag"
      value = var.image_tag
      type  = "string"
    }
  }

  lifecycle {
    precondition {
      condition     = var.image_tag != ""
      error_message = "Set image_tag to the tag pushed to ECR (see the ecr_push_commands output)."
    }
  }

  depends_on = [
    module.eks_blueprints_addons,
    module.eks_data_addons,
    kubernetes_storage_class_v1.gp3,
  ]
}
