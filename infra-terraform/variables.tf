#--------------------------------------------------------------------------------------------
# General
#--------------------------------------------------------------------------------------------
variable "name" {
  description = "Name of the deployment: the EKS cluster, the VPC and the prefix of every resource."
  type        = string
  default     = "myretail"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name))
    error_message = "name must be 2-16 lowercase letters, digits or dashes, starting with a letter (it prefixes IAM role names, which are length-limited)."
  }
}

variable "region" {
  description = "AWS region. Pick one that offers g6 (NVIDIA L4) instances, e.g. us-east-1, us-west-2, eu-west-2."
  type        = string
  default     = "us-west-2"
}

variable "tags" {
  description = "Extra tags for every AWS resource."
  type        = map(string)
  default     = {}
}

#--------------------------------------------------------------------------------------------
# Network and cluster
#--------------------------------------------------------------------------------------------
variable "vpc_cidr" {
  description = "CIDR block of the VPC; three private and three public subnets are carved out of it."
  type        = string
  default     = "10.0.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for the whole VPC (cheaper) instead of one per availability zone (resilient)."
  type        = bool
  default     = true
}

variable "cluster_version" {
  description = "Kubernetes version of the EKS control plane and of the managed node groups."
  type        = string
  default     = "1.33"
}

variable "cluster_endpoint_public_access_cidrs" {
  description = "Source ranges allowed to reach the Kubernetes API endpoint from outside the VPC (authenticated by IAM): the egress of wherever Terraform, kubectl and helm run, e.g. [\"198.51.100.7/32\"] (curl https://checkip.amazonaws.com). Empty: no public endpoint, only the private one inside the VPC (run them from a VPN, a bastion or CI in the VPC). 0.0.0.0/0 needs cluster_endpoint_public_access_from_anywhere."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.cluster_endpoint_public_access_cidrs : can(cidrhost(cidr, 0))])
    error_message = "cluster_endpoint_public_access_cidrs must be CIDR blocks such as 198.51.100.7/32 or 10.20.0.0/16."
  }
}

variable "cluster_endpoint_public_access_from_anywhere" {
  description = "Accept 0.0.0.0/0 (or ::/0) in cluster_endpoint_public_access_cidrs: the API endpoint then answers the whole internet (IAM still authenticates every request). Off by default; the plan refuses it."
  type        = bool
  default     = false
}

variable "cpu_instance_types" {
  description = "Instance types of the CPU node group (RAG API, Qdrant, UI, JupyterHub hub and CPU notebooks)."
  type        = list(string)
  default     = ["m6i.2xlarge", "m7i.2xlarge"]
}

variable "cpu_node_count" {
  description = "Minimum, desired and maximum size of the CPU node group."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 2, desired = 3, max = 6 }
}

variable "gpu_instance_types" {
  description = "g6 (one NVIDIA L4, 24 GB) instance types of the GPU spot node group, smallest first (the cluster autoscaler plans with the first); two sizes give spot more pools. The spot vCPU quota must cover gpu_node_count.max times the largest type's vCPUs (docs/aws.md)."
  type        = list(string)
  default     = ["g6.2xlarge", "g6.4xlarge"]

  validation {
    condition     = length(var.gpu_instance_types) > 0 && alltrue([for t in var.gpu_instance_types : startswith(t, "g6.")])
    error_message = "The GPU node group runs the AL2023 NVIDIA AMI on g6 instances: every type must be g6.<size>."
  }
}

variable "gpu_node_count" {
  description = "Minimum, desired and maximum size of the GPU node group (one GPU per node). The maximum must hold every GPU pod at once: the inference autoscaler's maximum plus one rollout surge pod, one fine-tune Job, and jupyterhub_max_gpu_notebooks (capacity.tf checks it: 4 + 1 + 1 + 2 = 8 with the defaults). Keep the minimum at 1 or more: the autoscaler learns a GPU node's resources from a running one."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 1, desired = 1, max = 8 }

  validation {
    condition     = 1 <= var.gpu_node_count.min && var.gpu_node_count.min <= var.gpu_node_count.desired && var.gpu_node_count.desired <= var.gpu_node_count.max
    error_message = "gpu_node_count needs 1 <= min <= desired <= max."
  }
}

variable "gpu_root_volume_size" {
  description = "Size in GiB of the encrypted gp3 root volume of GPU nodes (CUDA images and the model cache live there)."
  type        = number
  default     = 200
}

variable "ebs_kms_key_arn" {
  description = "KMS key for node root volumes and gp3 PersistentVolumes; null uses the AWS-managed aws/ebs key. A customer key must allow the EC2 Auto Scaling service-linked role."
  type        = string
  default     = null
}

#--------------------------------------------------------------------------------------------
# Model assets bucket and image registry
#--------------------------------------------------------------------------------------------
variable "model_assets_bucket_name" {
  description = "Name of the S3 model-assets bucket; null derives \"<name>-model-assets-<account>-<region>\"."
  type        = string
  default     = null
}

variable "bucket_prefixes" {
  description = "Top-level prefixes of the model-assets bucket: training data, published models, catalog snapshots. Terraform passes the models prefix to the chart; the chart's default catalog snapshot and dataset URIs assume the other two defaults (set catalogRestore.snapshot.uri and finetune.dataset.* in an extra values file otherwise)."
  type = object({
    datasets = string
    models   = string
    catalog  = string
  })
  default = {
    datasets = "datasets"
    models   = "models"
    catalog  = "catalog"
  }

  validation {
    condition     = alltrue([for p in values(var.bucket_prefixes) : can(regex("^[a-z0-9][a-z0-9._-]*$", p))])
    error_message = "Bucket prefixes are single path segments without slashes."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days to keep overwritten or deleted object versions in the model-assets bucket."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete a non-empty model-assets bucket and ECR repositories that still hold images. Sandboxes only."
  type        = bool
  default     = false
}

#--------------------------------------------------------------------------------------------
# The MyRetail release (charts/myretail)
#--------------------------------------------------------------------------------------------
variable "deploy_myretail" {
  description = "Install charts/myretail (values/prod.yaml plus the values in output helm_values). Leave false until the images are pushed, the two Secrets you bring exist and the first catalog snapshot is in the bucket (docs/aws.md)."
  type        = bool
  default     = false
}

variable "image_tag" {
  description = "Tag of the MyRetail images pushed to ECR (global.image.tag: every component, hook Job and helm test pod). ECR tags are immutable: a new tag per release, e.g. v1.2.0."
  type        = string
  default     = ""

  validation {
    condition     = var.image_tag == "" || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a Docker tag: letters, digits, _ . - (at most 128), not starting with . or -."
  }
}

variable "chatbot_ui_allowed_cidrs" {
  description = "Source ranges allowed through the chat window's internet-facing NLB (chatbotUi.service.loadBalancerSourceRanges): your customers' reach, e.g. [\"0.0.0.0/0\"] for a public shop or office/VPN ranges for a pilot. Required to deploy; documentation (TEST-NET) ranges are refused."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for cidr in var.chatbot_ui_allowed_cidrs : can(cidrhost(cidr, 0))])
    error_message = "chatbot_ui_allowed_cidrs must be CIDR blocks such as 0.0.0.0/0 or 10.20.0.0/16."
  }
}

variable "chatbot_ui_certificate_arn" {
  description = "ACM certificate (issued or imported in region) of the chat window's host name (chatbotUi.service.awsNlb.certificateArn): its internet-facing NLB terminates TLS with it and has no plain-HTTP listener. Required to deploy; point a DNS CNAME of that name at the NLB."
  type        = string
  default     = ""

  validation {
    condition     = var.chatbot_ui_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.chatbot_ui_certificate_arn))
    error_message = "chatbot_ui_certificate_arn must be an ACM certificate ARN: arn:aws:acm:<region>:<account>:certificate/<id>."
  }
}

variable "myretail_model_tag" {
  description = "Adapter tag the inference pods serve (inference.model.tag). Changing it is a model rollout; the tag must be published, or be produced by this release's fine-tune (myretail_finetune_tag)."
  type        = string
  default     = "v1"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", var.myretail_model_tag))
    error_message = "myretail_model_tag must be a model-store tag: letters, digits, . _ - (at most 128), starting with a letter or digit."
  }
}

variable "myretail_finetune_tag" {
  description = "When set, the release runs the fine-tune Job that publishes this tag (finetune.enabled, finetune.model.tag). Day 0: the same as myretail_model_tag, so the install trains the first model and the inference pods wait for it. Set it back to \"\" once the tag is published."
  type        = string
  default     = ""

  validation {
    condition     = var.myretail_finetune_tag == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", var.myretail_finetune_tag))
    error_message = "myretail_finetune_tag must be empty or a model-store tag: letters, digits, . _ - (at most 128), starting with a letter or digit."
  }
}

variable "myretail_namespace" {
  description = "Namespace of the MyRetail release; Terraform creates it with the Secrets it generates."
  type        = string
  default     = "myretail"
}

variable "myretail_release_name" {
  description = "Helm release name of the MyRetail umbrella chart."
  type        = string
  default     = "myretail"
}

variable "myretail_service_accounts" {
  description = "Kubernetes service account names the IRSA roles trust (set on the chart too, so both sides agree)."
  type = object({
    finetune        = string
    inference       = string
    catalog_restore = string
  })
  default = {
    finetune        = "myretail-finetune"
    inference       = "myretail-inference"
    catalog_restore = "myretail-catalog-restore"
  }
}

variable "myretail_extra_values_files" {
  description = "Extra values files layered last, over values/prod.yaml and Terraform's values (e.g. a git-ignored file with sizes)."
  type        = list(string)
  default     = []
}

variable "myretail_helm_timeout" {
  description = "Seconds Helm waits for the release to be ready. A first install that fine-tunes its model waits for a spot GPU node, the CUDA image pulls, the base-model download, training and evaluation, publishing, and the inference pods loading the tag: about an hour on g6 (L4), 90 minutes leaves room for one spot reclaim."
  type        = number
  default     = 5400
}

#--------------------------------------------------------------------------------------------
# JupyterHub
#--------------------------------------------------------------------------------------------
variable "enable_jupyterhub" {
  description = "Install JupyterHub for experimentation."
  type        = bool
  default     = true
}

variable "jupyterhub_namespace" {
  description = "Namespace of JupyterHub and of the notebook pods."
  type        = string
  default     = "jupyterhub"
}

variable "jupyterhub_chart_version" {
  description = "Version of the Zero to JupyterHub Helm chart."
  type        = string
  default     = "4.2.0"
}

variable "jupyterhub_authenticator" {
  description = "How users log in: \"github\" (GitHub OAuth app, members of jupyterhub_github_organizations), \"generic-oauth\" (any OIDC provider: Cognito, Okta, Entra ID, Keycloak) or \"shared-password\" (any user name, one generated shared password; sandboxes only)."
  type        = string
  default     = "github"

  validation {
    condition     = contains(["github", "generic-oauth", "shared-password"], var.jupyterhub_authenticator)
    error_message = "jupyterhub_authenticator must be \"github\", \"generic-oauth\" or \"shared-password\"."
  }
}

variable "jupyterhub_admin_users" {
  description = "JupyterHub admin user names (GitHub logins or OIDC usernames); admins may log in too."
  type        = list(string)
  default     = []
}

variable "jupyterhub_allowed_users" {
  description = "User names allowed to log in (GitHub logins or OIDC usernames), besides the members of jupyterhub_github_organizations or jupyterhub_oidc.allowed_groups. An OAuth login needs at least one of these allow lists: nobody is let in just because the identity provider knows them."
  type        = list(string)
  default     = []
}

variable "jupyterhub_oauth_client_id" {
  description = "OAuth client id (github and generic-oauth authenticators)."
  type        = string
  default     = ""
}

variable "jupyterhub_oauth_client_secret" {
  description = "OAuth client secret (github and generic-oauth authenticators)."
  type        = string
  default     = ""
  sensitive   = true
}

variable "jupyterhub_github_organizations" {
  description = "GitHub organizations whose members may log in (github authenticator)."
  type        = list(string)
  default     = []
}

variable "jupyterhub_oidc" {
  description = "Endpoints of the OIDC provider (generic-oauth authenticator) and the groups (claim \"groups\") allowed in; with no groups, jupyterhub_allowed_users is the allow list."
  type = object({
    authorize_url  = string
    token_url      = string
    userdata_url   = string
    username_claim = optional(string, "email")
    allowed_groups = optional(list(string), [])
  })
  default = {
    authorize_url = ""
    token_url     = ""
    userdata_url  = ""
  }
}

variable "jupyterhub_public_access" {
  description = "Expose JupyterHub through an internet-facing Network Load Balancer, over TLS only (needs jupyterhub_allowed_cidrs, jupyterhub_hostname and jupyterhub_acm_certificate_arn); else reach it with kubectl port-forward."
  type        = bool
  default     = false
}

variable "jupyterhub_allowed_cidrs" {
  description = "Source CIDR blocks allowed through the JupyterHub load balancer."
  type        = list(string)
  default     = []
}

variable "jupyterhub_hostname" {
  description = "DNS name that points at the JupyterHub load balancer (https://<it>/hub/oauth_callback is the OAuth callback URL); empty for port-forward access."
  type        = string
  default     = ""
}

variable "jupyterhub_acm_certificate_arn" {
  description = "ACM certificate of jupyterhub_hostname: the load balancer terminates TLS with it and has no plain-HTTP listener. Required with jupyterhub_public_access."
  type        = string
  default     = ""

  validation {
    condition     = var.jupyterhub_acm_certificate_arn == "" || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$", var.jupyterhub_acm_certificate_arn))
    error_message = "jupyterhub_acm_certificate_arn must be an ACM certificate ARN: arn:aws:acm:<region>:<account>:certificate/<id>."
  }
}

variable "jupyterhub_user_storage" {
  description = "Size of each user's persistent home volume (gp3, encrypted)."
  type        = string
  default     = "20Gi"
}

variable "jupyterhub_cpu_image" {
  description = "Notebook image of the CPU profile."
  type        = string
  default     = "quay.io/jupyter/scipy-notebook:2025-10-20"
}

variable "jupyterhub_max_gpu_notebooks" {
  description = "GPU notebooks that may run at once (a ResourceQuota on nvidia.com/gpu in the JupyterHub namespace); counted in the GPU node group's capacity."
  type        = number
  default     = 2

  validation {
    condition     = var.jupyterhub_max_gpu_notebooks >= 0 && floor(var.jupyterhub_max_gpu_notebooks) == var.jupyterhub_max_gpu_notebooks
    error_message = "jupyterhub_max_gpu_notebooks must be a whole number, 0 or more."
  }
}

variable "jupyterhub_gpu_image" {
  description = "Notebook image of the GPU profile (CUDA build of PyTorch)."
  type        = string
  default     = "quay.io/jupyter/pytorch-notebook:cuda12-2025-10-20"
}

#--------------------------------------------------------------------------------------------
# CI: GitHub Actions pushes images to ECR through OIDC (no long-lived keys)
#--------------------------------------------------------------------------------------------
variable "github_repository" {
  description = "\"owner/repo\" whose release workflow (tags v*) may push to the ECR repositories; empty creates no CI role."
  type        = string
  default     = ""
}

variable "create_github_oidc_provider" {
  description = "Create the token.actions.githubusercontent.com OIDC provider (false when the account already has it)."
  type        = bool
  default     = true
}
