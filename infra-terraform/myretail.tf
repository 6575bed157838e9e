#--------------------------------------------------------------------------------------------
# The MyRetail release: charts/myretail with values/prod.yaml, wired to what this
# configuration created (ECR images, the model-assets bucket, the IRSA roles).
# Off until the images are in ECR: `terraform apply -var deploy_myretail=true -var image_tag=v1.0.0`.
#--------------------------------------------------------------------------------------------
locals {
  model_store_uri = "s3://${aws_s3_bucket.model_assets.id}/${var.bucket_prefixes.models}"

  # Chart component -> IRSA role (service accounts that talk to S3).
  myretail_irsa = {
    finetune       = { role_arn = module.finetune_irsa.iam_role_arn, service_account = var.myretail_service_accounts.finetune }
    inference      = { role_arn = module.inference_irsa.iam_role_arn, service_account = var.myretail_service_accounts.inference }
    catalogRestore = { role_arn = module.catalog_restore_irsa.iam_role_arn, service_account = var.myretail_service_accounts.catalog_restore }
  }
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

  # Images: <registry>/<repository>:<tag>, one ECR repository per component.
  set {
    name  = "global.imageRegistry"
    value = local.ecr_registry
  }

  dynamic "set" {
    for_each = aws_ecr_repository.service
    content {
      name  = "${set.key}.image.repository"
      value = set.value.name
    }
  }

  dynamic "set" {
    for_each = aws_ecr_repository.service
    content {
      name  = "${set.key}.image.tag"
      value = var.image_tag
      type  = "string"
    }
  }

  # Model store: the models/ prefix of the model-assets bucket.
  set {
    name  = "global.modelStore.uri"
    value = local.model_store_uri
  }

  set {
    name  = "global.modelStore.bucket"
    value = aws_s3_bucket.model_assets.id
  }

  # IRSA: the role each component's service account assumes (names fixed so the roles'
  # trust policies match them).
  dynamic "set" {
    for_each = local.myretail_irsa
    content {
      name  = "${set.key}.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn"
      value = set.value.role_arn
    }
  }

  dynamic "set" {
    for_each = local.myretail_irsa
    content {
      name  = "${set.key}.serviceAccount.name"
      value = set.value.service_account
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
