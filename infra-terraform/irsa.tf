#--------------------------------------------------------------------------------------------
# IRSA roles of the workloads that use the model-assets bucket, least privilege on it:
#   fine-tune Job      read <datasets>/ and <models>/, write (publish, replace) <models>/
#   inference          read <models>/ (the chart's model-tag check hook uses the same account)
#   catalog restore    read <catalog>/
#   notebooks          read the whole bucket (JupyterHub, jupyterhub.tf)
# One role per entry of local.irsa_roles. No AWS-managed S3 policy (AmazonS3FullAccess /
# ReadOnlyAccess) is attached anywhere.
#--------------------------------------------------------------------------------------------
locals {
  bucket_arn = aws_s3_bucket.model_assets.arn
  prefix     = var.bucket_prefixes

  # s3:prefix values a ListBucket call may carry under a top-level prefix ("models",
  # "models/", "models/llama3/v1/" ...).
  list_prefixes = {
    for key, p in var.bucket_prefixes : key => [p, "${p}/*"]
  }

  # Per role: the service account it trusts, the chart component that uses it (null outside
  # the chart), the policy's description and statements. Every policy starts with
  # decrypt_via_s3 (below). The role is "<name>-<key>", its policy "<name>-<key>-model-assets"
  # (underscores in the key become dashes).
  irsa_roles = {
    finetune = {
      namespace       = var.myretail_namespace
      service_account = var.myretail_service_accounts.finetune
      chart_component = "finetune"
      description     = "Fine-tune Job: read ${local.prefix.datasets}/ and ${local.prefix.models}/, publish to ${local.prefix.models}/"
      statements = [
        {
          sid       = "ListDatasetsAndModels"
          actions   = ["s3:ListBucket"]
          resources = [local.bucket_arn]
          conditions = [{
            test     = "StringLike"
            variable = "s3:prefix"
            values   = concat(local.list_prefixes.datasets, local.list_prefixes.models)
          }]
        },
        {
          sid     = "ReadDatasetsAndModels"
          actions = ["s3:GetObject"]
          resources = [
            "${local.bucket_arn}/${local.prefix.datasets}/*",
            "${local.bucket_arn}/${local.prefix.models}/*",
          ]
        },
        # Publishing a tag uploads its files, then the completion marker; republishing replaces it.
        {
          sid = "PublishModels"
          actions = [
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:AbortMultipartUpload",
            "s3:ListMultipartUploadParts",
          ]
          resources = ["${local.bucket_arn}/${local.prefix.models}/*"]
        },
        {
          sid        = "EncryptUploadsViaS3"
          actions    = ["kms:GenerateDataKey"]
          resources  = [aws_kms_key.model_assets.arn]
          conditions = [local.kms_via_s3]
        },
      ]
    }

    inference = {
      namespace       = var.myretail_namespace
      service_account = var.myretail_service_accounts.inference
      chart_component = "inference"
      description     = "Inference: read ${local.prefix.models}/"
      statements = [
        {
          sid        = "ListModels"
          actions    = ["s3:ListBucket"]
          resources  = [local.bucket_arn]
          conditions = [{ test = "StringLike", variable = "s3:prefix", values = local.list_prefixes.models }]
        },
        { sid = "ReadModels", actions = ["s3:GetObject"], resources = ["${local.bucket_arn}/${local.prefix.models}/*"] },
      ]
    }

    catalog_restore = {
      namespace       = var.myretail_namespace
      service_account = var.myretail_service_accounts.catalog_restore
      chart_component = "catalogRestore"
      description     = "Catalog restore Job: read ${local.prefix.catalog}/"
      statements = [
        {
          sid        = "ListCatalogSnapshots"
          actions    = ["s3:ListBucket"]
          resources  = [local.bucket_arn]
          conditions = [{ test = "StringLike", variable = "s3:prefix", values = local.list_prefixes.catalog }]
        },
        { sid = "ReadCatalogSnapshots", actions = ["s3:GetObject"], resources = ["${local.bucket_arn}/${local.prefix.catalog}/*"] },
      ]
    }

    notebooks = {
      namespace       = var.jupyterhub_namespace
      service_account = local.notebook_service_account
      chart_component = null
      description     = "JupyterHub notebooks: read-only access to the model-assets bucket"
      statements = [
        { sid = "ListModelAssets", actions = ["s3:ListBucket", "s3:GetBucketLocation"], resources = [local.bucket_arn] },
        { sid = "ReadModelAssets", actions = ["s3:GetObject", "s3:GetObjectVersion"], resources = ["${local.bucket_arn}/*"] },
      ]
    }
  }

  # KMS only on behalf of S3 in this region: the bucket's SSE-KMS objects, nothing else.
  # Reading them needs kms:Decrypt (every role), writing kms:GenerateDataKey.
  kms_via_s3 = {
    test     = "StringEquals"
    variable = "kms:ViaService"
    values   = ["s3.${var.region}.amazonaws.com"]
  }
  decrypt_via_s3 = {
    sid        = "DecryptModelAssetsViaS3"
    actions    = ["kms:Decrypt"]
    resources  = [aws_kms_key.model_assets.arn]
    conditions = [local.kms_via_s3]
  }
}

data "aws_iam_policy_document" "irsa" {
  for_each = local.irsa_roles

  dynamic "statement" {
    for_each = concat([local.decrypt_via_s3], each.value.statements)
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = try(statement.value.conditions, [])
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_policy" "irsa" {
  for_each = local.irsa_roles

  name        = "${local.name}-${replace(each.key, "_", "-")}-model-assets"
  description = each.value.description
  policy      = data.aws_iam_policy_document.irsa[each.key].json

  tags = local.tags
}

module "irsa" {
  source   = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version  = "~> 5.55"
  for_each = local.irsa_roles

  role_name        = "${local.name}-${replace(each.key, "_", "-")}"
  role_policy_arns = { model_assets = aws_iam_policy.irsa[each.key].arn }

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["${each.value.namespace}:${each.value.service_account}"]
    }
  }

  tags = local.tags
}
