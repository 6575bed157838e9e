#--------------------------------------------------------------------------------------------
# JupyterHub for the data scientists: its own namespace, CPU and GPU notebook profiles, a
# gp3 home volume per user, read-only S3 access through IRSA, a login method chosen by
# variable. Installed by module.eks_data_addons (addons.tf) with the values built here.
#--------------------------------------------------------------------------------------------
resource "kubernetes_namespace_v1" "jupyterhub" {
  count = var.enable_jupyterhub ? 1 : 0

  metadata {
    name = var.jupyterhub_namespace
    labels = {
      "app.kubernetes.io/part-of" = "myretail"
    }
  }

  depends_on = [module.eks]
}

# At most jupyterhub_max_gpu_notebooks GPU notebooks at once (capacity.tf counts them in the GPU
# node group's maximum); the next one fails to start with a quota message.
resource "kubernetes_resource_quota_v1" "jupyterhub_gpus" {
  count = var.enable_jupyterhub ? 1 : 0

  metadata {
    name      = "gpu-notebooks"
    namespace = kubernetes_namespace_v1.jupyterhub[0].metadata[0].name
  }

  spec {
    hard = {
      "requests.nvidia.com/gpu" = var.jupyterhub_max_gpu_notebooks
    }
  }
}

# The notebooks' service account; its read-only IRSA role is module.irsa["notebooks"] (irsa.tf).
locals {
  notebook_service_account = "jupyterhub-single-user"
}

resource "kubernetes_service_account_v1" "notebooks" {
  count = var.enable_jupyterhub ? 1 : 0

  metadata {
    name      = local.notebook_service_account
    namespace = kubernetes_namespace_v1.jupyterhub[0].metadata[0].name
    annotations = {
      "eks.amazonaws.com/role-arn" = module.irsa["notebooks"].iam_role_arn
    }
  }
}

# The shared password exists only when the sandbox login is chosen explicitly.
resource "random_password" "jupyterhub" {
  count = var.jupyterhub_authenticator == "shared-password" ? 1 : 0

  length  = 24
  special = false
}

locals {
  # Reached through port-forward, or only over TLS at https://<jupyterhub_hostname>
  # (jupyterhub_config_check below refuses a public endpoint without a certificate).
  jupyterhub_base_url     = var.jupyterhub_public_access ? "https://${var.jupyterhub_hostname}" : "http://localhost:8080"
  jupyterhub_callback_url = "${local.jupyterhub_base_url}/hub/oauth_callback"

  # Who may log in with OAuth: the allow lists only (allow_all off), never everyone the
  # identity provider knows. jupyterhub_config_check refuses a login without an allow list.
  jupyterhub_oauth_users = {
    admin_users   = var.jupyterhub_admin_users
    allowed_users = var.jupyterhub_allowed_users
    allow_all     = false
  }

  jupyterhub_auth_config = {
    github = {
      JupyterHub    = { authenticator_class = "github" }
      Authenticator = local.jupyterhub_oauth_users
      GitHubOAuthenticator = {
        client_id             = var.jupyterhub_oauth_client_id
        oauth_callback_url    = local.jupyterhub_callback_url
        allowed_organizations = var.jupyterhub_github_organizations
        scope                 = ["read:org"]
      }
    }
    generic-oauth = {
      JupyterHub    = { authenticator_class = "generic-oauth" }
      Authenticator = local.jupyterhub_oauth_users
      GenericOAuthenticator = {
        client_id          = var.jupyterhub_oauth_client_id
        oauth_callback_url = local.jupyterhub_callback_url
        authorize_url      = var.jupyterhub_oidc.authorize_url
        token_url          = var.jupyterhub_oidc.token_url
        userdata_url       = var.jupyterhub_oidc.userdata_url
        username_claim     = var.jupyterhub_oidc.username_claim
        scope              = ["openid", "email", "profile"]
        claim_groups_key   = "groups"
        allowed_groups     = var.jupyterhub_oidc.allowed_groups
      }
    }
    # JupyterHub's SharedPasswordAuthenticator: any user name, one password, no admins
    # (admins would need a second, 32+ character password). Sandboxes only.
    shared-password = {
      JupyterHub = { authenticator_class = "shared-password" }
      SharedPasswordAuthenticator = {
        allow_all   = true
        admin_users = []
      }
    }
  }

  # The proxy Service: an NLB (AWS Load Balancer Controller) restricted to the allowed source
  # ranges with one TLS listener (port 443, the ACM certificate; the hub gets plain HTTP
  # inside the VPC) and no plain-HTTP port; else ClusterIP + port-forward.
  jupyterhub_proxy_load_balancer = {
    service = {
      type                     = "LoadBalancer"
      loadBalancerSourceRanges = var.jupyterhub_allowed_cidrs
      disableHttpPort          = true
      annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type"                   = "external"
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"        = "ip"
        "service.beta.kubernetes.io/aws-load-balancer-scheme"                 = "internet-facing"
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert"               = var.jupyterhub_acm_certificate_arn
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports"              = "https"
        "service.beta.kubernetes.io/aws-load-balancer-ssl-negotiation-policy" = "ELBSecurityPolicy-TLS13-1-2-2021-06"
        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol"       = "tcp"
      }
    }
    https = { enabled = true, type = "offload" }
  }
  jupyterhub_proxy_cluster_ip = {
    service = { type = "ClusterIP" }
    https   = { enabled = false }
  }
  jupyterhub_proxy_values = (
    var.jupyterhub_public_access
    ? yamlencode({ proxy = local.jupyterhub_proxy_load_balancer })
    : yamlencode({ proxy = local.jupyterhub_proxy_cluster_ip })
  )

  jupyterhub_helm_config = {
    version          = var.jupyterhub_chart_version
    namespace        = var.jupyterhub_namespace
    create_namespace = false
    timeout          = 900
    values = [
      templatefile("${path.module}/helm-values/jupyterhub-values.yaml", {
        storage_class   = kubernetes_storage_class_v1.gp3.metadata[0].name
        service_account = try(kubernetes_service_account_v1.notebooks[0].metadata[0].name, local.notebook_service_account)
        user_storage    = var.jupyterhub_user_storage
        cpu_image       = var.jupyterhub_cpu_image
        gpu_image       = var.jupyterhub_gpu_image
        region          = var.region
        bucket          = aws_s3_bucket.model_assets.id
        models_prefix   = var.bucket_prefixes.models
      }),
      yamlencode({ hub = { config = local.jupyterhub_auth_config[var.jupyterhub_authenticator] } }),
      local.jupyterhub_proxy_values,
    ]
    set_sensitive = concat(
      var.jupyterhub_authenticator == "shared-password" ? [{
        name  = "hub.config.SharedPasswordAuthenticator.user_password"
        value = random_password.jupyterhub[0].result
      }] : [],
      var.jupyterhub_authenticator == "github" ? [{
        name  = "hub.config.GitHubOAuthenticator.client_secret"
        value = var.jupyterhub_oauth_client_secret
      }] : [],
      var.jupyterhub_authenticator == "generic-oauth" ? [{
        name  = "hub.config.GenericOAuthenticator.client_secret"
        value = var.jupyterhub_oauth_client_secret
      }] : [],
    )
  }
}

# Misconfigurations fail the plan with a clear message instead of a broken login page.
resource "terraform_data" "jupyterhub_config_check" {
  count = var.enable_jupyterhub ? 1 : 0

  input = var.jupyterhub_authenticator

  lifecycle {
    precondition {
      condition = var.jupyterhub_authenticator == "shared-password" || (
        var.jupyterhub_oauth_client_id != "" && var.jupyterhub_oauth_client_secret != ""
      )
      error_message = "The ${var.jupyterhub_authenticator} authenticator needs jupyterhub_oauth_client_id and jupyterhub_oauth_client_secret (or set jupyterhub_authenticator = \"shared-password\" for a sandbox)."
    }
    precondition {
      condition     = var.jupyterhub_authenticator != "github" || length(var.jupyterhub_github_organizations) + length(var.jupyterhub_allowed_users) + length(var.jupyterhub_admin_users) > 0
      error_message = "The github authenticator needs an allow list: jupyterhub_github_organizations, jupyterhub_allowed_users or jupyterhub_admin_users (without one nobody may log in)."
    }
    precondition {
      condition     = var.jupyterhub_authenticator != "generic-oauth" || length(var.jupyterhub_oidc.allowed_groups) + length(var.jupyterhub_allowed_users) + length(var.jupyterhub_admin_users) > 0
      error_message = "The generic-oauth authenticator needs an allow list: jupyterhub_oidc.allowed_groups, jupyterhub_allowed_users or jupyterhub_admin_users. Everyone your identity provider knows is not an allow list."
    }
    precondition {
      condition = var.jupyterhub_authenticator != "generic-oauth" || alltrue([
        var.jupyterhub_oidc.authorize_url != "",
        var.jupyterhub_oidc.token_url != "",
        var.jupyterhub_oidc.userdata_url != "",
      ])
      error_message = "The generic-oauth authenticator needs jupyterhub_oidc.authorize_url, token_url and userdata_url."
    }
    precondition {
      condition     = !var.jupyterhub_public_access || length(var.jupyterhub_allowed_cidrs) > 0
      error_message = "jupyterhub_public_access needs jupyterhub_allowed_cidrs (the source ranges allowed through the load balancer)."
    }
    precondition {
      condition     = !var.jupyterhub_public_access || (var.jupyterhub_hostname != "" && var.jupyterhub_acm_certificate_arn != "")
      error_message = "A public JupyterHub is served over TLS only: jupyterhub_public_access needs jupyterhub_hostname and jupyterhub_acm_certificate_arn (the ACM certificate of that name)."
    }
  }
}

locals {
  jupyterhub_url = var.enable_jupyterhub ? local.jupyterhub_base_url : null
}
