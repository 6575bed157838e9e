#--------------------------------------------------------------------------------------------
# ECR: one private repository per service image. Tags are immutable (a release tag always
# means the same image), every push is scanned, untagged layers are cleaned up.
#--------------------------------------------------------------------------------------------
resource "aws_ecr_repository" "service" {
  for_each = local.images

  name                 = each.value.repository
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS" # AWS-managed aws/ecr key
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "service" {
  for_each = aws_ecr_repository.service

  repository = each.value.name
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Drop untagged images (superseded build layers) after 14 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 14
        }
        action = { type = "expire" }
      },
    ]
  })
}

#--------------------------------------------------------------------------------------------
# GitHub Actions (release.yml) pushes images with a short-lived OIDC role: no access keys.
#--------------------------------------------------------------------------------------------
locals {
  github_ci_enabled = var.github_repository != ""
  github_oidc_provider_arn = (
    var.create_github_oidc_provider
    ? try(aws_iam_openid_connect_provider.github[0].arn, null)
    : "arn:${local.partition}:iam::${local.account_id}:oidc-provider/token.actions.githubusercontent.com"
  )
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_ci_enabled && var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # AWS validates GitHub's certificate chain itself; the thumbprint is only a required placeholder.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]

  tags = local.tags
}

data "aws_iam_policy_document" "github_release_trust" {
  count = local.github_ci_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # Only workflow runs for version tags of this repository.
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:ref:refs/tags/v*"]
    }
  }
}

data "aws_iam_policy_document" "github_release_push" {
  count = local.github_ci_enabled ? 1 : 0

  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"] # account-wide by design; grants no repository access
    resources = ["*"]
  }

  statement {
    sid = "PushServiceImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [for repo in aws_ecr_repository.service : repo.arn]
  }
}

resource "aws_iam_role" "github_release" {
  count = local.github_ci_enabled ? 1 : 0

  name                 = "${local.name}-github-release"
  description          = "GitHub Actions release workflow of ${var.github_repository}: push the service images to ECR"
  assume_role_policy   = data.aws_iam_policy_document.github_release_trust[0].json
  max_session_duration = 3600

  tags = local.tags
}

resource "aws_iam_role_policy" "github_release_push" {
  count = local.github_ci_enabled ? 1 : 0

  name   = "push-service-images"
  role   = aws_iam_role.github_release[0].id
  policy = data.aws_iam_policy_document.github_release_push[0].json
}
