#--------------------------------------------------------------------------------------------
# IRSA roles for the MyRetail workloads, least privilege on the model-assets bucket:
#   fine-tune Job      read <datasets>/ and <models>/, write (publish, replace) <models>/
#   inference          read <models>/
#   catalog restore    read <catalog>/
#   notebooks          read the whole bucket (jupyterhub.tf)
# No AWS-managed S3 policy (AmazonS3FullAccess / ReadOnlyAccess) is attached anywhere.
#--------------------------------------------------------------------------------------------
locals {
  bucket_arn = aws_s3_bucket.model_assets.arn
  prefix     = var.bucket_prefixes

  # s3:prefix values a ListBucket call may carry under a top-level prefix ("models",
  # "models/", "models/llama3/v1/" ...).
  list_prefixes = {
    for key, p in var.bucket_prefixes : key => [p, "${p}/*"]
  }

  myretail_sa = {
    finetune        = "${var.myretail_namespace}:${var.myretail_service_accounts.finetune}"
    inference       = "${var.myretail_namespace}:${var.myretail_service_accounts.inference}"
    catalog_restore = "${var.myretail_namespace}:${var.myretail_service_accounts.catalog_restore}"
  }
}

# SSE-KMS objects: reading needs kms:Decrypt, writing kms:GenerateDataKey, only via S3.
data "aws_iam_policy_document" "kms_via_s3_read" {
  statement {
    sid       = "DecryptModelAssetsViaS3"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.model_assets.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

#--------------------------------------------------------------------------------------------
# Fine-tune Job
#--------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "finetune" {
  source_policy_documents = [data.aws_iam_policy_document.kms_via_s3_read.json]

  statement {
    sid       = "ListDatasetsAndModels"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = concat(local.list_prefixes.datasets, local.list_prefixes.models)
    }
  }

  statement {
    sid     = "ReadDatasetsAndModels"
    actions = ["s3:GetObject"]
    resources = [
      "${local.bucket_arn}/${local.prefix.datasets}/*",
      "${local.bucket_arn}/${local.prefix.models}/*",
    ]
  }

  # Publishing a tag uploads its files, then the completion marker; republishing replaces it.
  statement {
    sid = "PublishModels"
    actions = [
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${local.bucket_arn}/${local.prefix.models}/*"]
  }

  statement {
    sid     = "EncryptUploadsViaS3"
    actions = ["kms:GenerateDataKey"]
    resources = [aws_kms_key.model_assets.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "finetune" {
  name        = "${local.name}-finetune-model-assets"
  description = "Fine-tune Job: read ${local.prefix.datasets}/ and ${local.prefix.models}/, publish to ${local.prefix.models}/"
  policy      = data.aws_iam_policy_document.finetune.json

  tags = local.tags
}

module "finetune_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.55"

  role_name        = "${local.name}-finetune"
  role_policy_arns = { model_assets = aws_iam_policy.finetune.arn }

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.myretail_sa.finetune]
    }
  }

  tags = local.tags
}

#--------------------------------------------------------------------------------------------
# Inference Deployment (and the chart's model-tag check hook, same service account)
#--------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "inference" {
  source_policy_documents = [data.aws_iam_policy_document.kms_via_s3_read.json]

  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.list_prefixes.models
    }
  }

  statement {
    sid       = "ReadModels"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/${local.prefix.models}/*"]
  }
}

resource "aws_iam_policy" "inference" {
  name        = "${local.name}-inference-model-assets"
  description = "Inference: read ${local.prefix.models}/"
  policy      = data.aws_iam_policy_document.inference.json

  tags = local.tags
}

module "inference_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.55"

  role_name        = "${local.name}-inference"
  role_policy_arns = { model_assets = aws_iam_policy.inference.arn }

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.myretail_sa.inference]
    }
  }

  tags = local.tags
}

#--------------------------------------------------------------------------------------------
# Catalog snapshot-restore Job
#--------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "catalog_restore" {
  source_policy_documents = [data.aws_iam_policy_document.kms_via_s3_read.json]

  statement {
    sid       = "ListCatalogSnapshots"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.list_prefixes.catalog
    }
  }

  statement {
    sid       = "ReadCatalogSnapshots"
    actions   = ["s3:GetObject"]
    resources = ["${local.bucket_arn}/${local.prefix.catalog}/*"]
  }
}

resource "aws_iam_policy" "catalog_restore" {
  name        = "${local.name}-catalog-restore-model-assets"
  description = "Catalog restore Job: read ${local.prefix.catalog}/"
  policy      = data.aws_iam_policy_document.catalog_restore.json

  tags = local.tags
}

module "catalog_restore_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.55"

  role_name        = "${local.name}-catalog-restore"
  role_policy_arns = { model_assets = aws_iam_policy.catalog_restore.arn }

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = [local.myretail_sa.catalog_restore]
    }
  }

  tags = local.tags
}
