#--------------------------------------------------------------------------------------------
# The model-assets bucket:
#   <datasets>/  training and evaluation JSONL (read by the fine-tune Job)
#   <models>/    the model store: <model-name>/<tag>/ adapters, tokenizer, manifest.json
#   <catalog>/   catalog snapshots the restore Job loads into Qdrant
# Versioned, SSE-KMS with a dedicated key, public access blocked, TLS-only.
#--------------------------------------------------------------------------------------------
data "aws_iam_policy_document" "model_assets_kms" {
  #checkov:skip=CKV_AWS_109:A KMS key policy's "*" resource is the key itself; this is the default key policy delegating to IAM in this account.
  #checkov:skip=CKV_AWS_111:A KMS key policy's "*" resource is the key itself; this is the default key policy delegating to IAM in this account.
  #checkov:skip=CKV_AWS_356:A KMS key policy's "*" resource is the key itself; this is the default key policy delegating to IAM in this account.
  # Key administration and use stay with IAM policies in this account (the IRSA policies
  # below grant kms:Decrypt / kms:GenerateDataKey on this key, through S3 only).
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "model_assets" {
  description             = "${local.name} model-assets bucket encryption"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.model_assets_kms.json

  tags = local.tags
}

resource "aws_kms_alias" "model_assets" {
  name          = "alias/${local.name}-model-assets"
  target_key_id = aws_kms_key.model_assets.key_id
}

resource "aws_s3_bucket" "model_assets" {
  #checkov:skip=CKV_AWS_18:Access is audited with CloudTrail S3 data events, not server access logs (a second, self-logging bucket per deployment).
  #checkov:skip=CKV_AWS_144:Cross-region replication is a DR decision per organization; models are reproducible from the versioned datasets and the fine-tune Job.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket events: the inference Deployment loads the tag named in Helm values, not on upload.
  bucket        = local.bucket_name
  force_destroy = var.force_destroy

  tags = local.tags
}

resource "aws_s3_bucket_ownership_controls" "model_assets" {
  bucket = aws_s3_bucket.model_assets.id

  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: access is only by IAM and bucket policy
  }
}

resource "aws_s3_bucket_public_access_block" "model_assets" {
  bucket = aws_s3_bucket.model_assets.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "model_assets" {
  bucket = aws_s3_bucket.model_assets.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "model_assets" {
  bucket = aws_s3_bucket.model_assets.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.model_assets.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "model_assets" {
  bucket = aws_s3_bucket.model_assets.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.model_assets]
}

# Requests the bucket refuses from anyone: without TLS, or with TLS older than 1.2.
locals {
  model_assets_refused_requests = {
    DenyInsecureTransport = { test = "Bool", variable = "aws:SecureTransport", values = ["false"] }
    DenyOutdatedTls       = { test = "NumericLessThan", variable = "s3:TlsVersion", values = ["1.2"] }
  }
}

data "aws_iam_policy_document" "model_assets_bucket" {
  dynamic "statement" {
    for_each = local.model_assets_refused_requests
    content {
      sid     = statement.key
      effect  = "Deny"
      actions = ["s3:*"]
      resources = [
        aws_s3_bucket.model_assets.arn,
        "${aws_s3_bucket.model_assets.arn}/*",
      ]

      principals {
        type        = "*"
        identifiers = ["*"]
      }

      condition {
        test     = statement.value.test
        variable = statement.value.variable
        values   = statement.value.values
      }
    }
  }
}

resource "aws_s3_bucket_policy" "model_assets" {
  bucket = aws_s3_bucket.model_assets.id
  policy = data.aws_iam_policy_document.model_assets_bucket.json

  # The public access block must exist first, or S3 may reject the policy update.
  depends_on = [aws_s3_bucket_public_access_block.model_assets]
}
