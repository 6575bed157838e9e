output "configure_kubectl" {
  description = "Point kubectl (and helm) at the new cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "cluster_name" {
  description = "EKS cluster name."
  value       = module.eks.cluster_name
}

output "region" {
  description = "AWS region of the deployment."
  value       = var.region
}

output "model_assets_bucket" {
  description = "S3 bucket for datasets, published models and catalog snapshots."
  value       = aws_s3_bucket.model_assets.id
}

output "model_store_uri" {
  description = "MODEL_STORE_URI of the services (global.modelStore.uri of the chart)."
  value       = local.model_store_uri
}

output "ecr_registry" {
  description = "ECR registry host (global.imageRegistry of the chart)."
  value       = local.ecr_registry
}

output "ecr_repository_urls" {
  description = "ECR repository URL per chart component."
  value       = { for k, repo in aws_ecr_repository.service : k => repo.repository_url }
}

output "ecr_image_prefix" {
  description = "Repository prefix of the ECR images (<prefix>/finetune, ...): IMAGE_PREFIX of ci/build-images.sh."
  value       = var.name
}

output "ecr_push_commands" {
  description = "Log in to ECR, then build and push the four images from the repository root, tagged image_tag (tags are immutable: a new one per release)."
  value = join("\n", concat(
    [
      "export TAG=${coalesce(var.image_tag, "$(git describe --tags --always)")}",
      "aws ecr get-login-password --region ${var.region} | docker login --username AWS --password-stdin ${local.ecr_registry}",
    ],
    [
      for k, img in local.images :
      "docker build -f ${local.dockerfile} --target ${img.target} -t ${aws_ecr_repository.service[k].repository_url}:$TAG . && docker push ${aws_ecr_repository.service[k].repository_url}:$TAG"
    ],
    ["# or all at once: REGISTRY=${local.ecr_registry} IMAGE_PREFIX=${var.name} IMAGE_TAG=$TAG PUSH=true ci/build-images.sh"],
  ))
}

output "helm_values" {
  description = "The values only Terraform knows (registry, image tag, model store, IRSA service accounts, the UI's source ranges and certificate, the VPC's CIDR), as the helm_release uses them: terraform output -raw helm_values > myretail-aws.yaml, then helm ... -f values/prod.yaml -f myretail-aws.yaml."
  value       = local.myretail_values_overlay_yaml
}

output "irsa_role_arns" {
  description = "IAM roles assumed by the MyRetail service accounts and the notebooks."
  value       = { for role, irsa in module.irsa : role => irsa.iam_role_arn }
}

output "github_release_role_arn" {
  description = "Role for the release workflow (GitHub variable AWS_RELEASE_ROLE_ARN); null without github_repository."
  value       = try(aws_iam_role.github_release[0].arn, null)
}

output "jupyterhub_url" {
  description = "JupyterHub address. With port-forward access run jupyterhub_port_forward first."
  value       = local.jupyterhub_url
}

output "jupyterhub_port_forward" {
  description = "Reach JupyterHub through the Kubernetes API when it has no load balancer."
  value       = var.enable_jupyterhub && !var.jupyterhub_public_access ? "kubectl -n ${var.jupyterhub_namespace} port-forward svc/proxy-public 8080:80" : null
}

output "jupyterhub_password" {
  description = "Shared JupyterHub password (only with jupyterhub_authenticator = \"shared-password\"): terraform output -raw jupyterhub_password"
  value       = try(random_password.jupyterhub[0].result, null)
  sensitive   = true
}
