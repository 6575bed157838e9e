#--------------------------------------------------------------------------------------------
# The MyRetail release: its namespace with the Secrets Terraform can generate, the values only
# Terraform knows (one overlay for the helm_release below and for a manual install: output
# helm_values), and the release itself once deploy_myretail is set (docs/aws.md, day 0).
#--------------------------------------------------------------------------------------------
resource "kubernetes_namespace_v1" "myretail" {
  metadata {
    name = var.myretail_namespace
    labels = {
      "app.kubernetes.io/part-of" = "myretail"
    }
  }

  depends_on = [module.eks]
}

# Credentials the chart references and nobody has to bring: random, generated once, kept in
# the state. Names and keys are the chart's defaults (global.qdrant.apiKey,
# ragApi.adminToken, global.redis.password). The OpenAI key and the Hugging Face token are
# the user's own: docs/aws.md creates myretail-openai and myretail-huggingface with kubectl.
locals {
  myretail_generated_secrets = {
    "myretail-qdrant"    = "api-key"
    "myretail-rag-admin" = "ADMIN_TOKEN"
    "myretail-redis"     = "redis-password"
  }
}

resource "random_password" "myretail" {
  for_each = local.myretail_generated_secrets

  length  = 48
  special = false # used in URLs and headers as they are
}

resource "kubernetes_secret_v1" "myretail" {
  for_each = local.myretail_generated_secrets

  metadata {
    name      = each.key
    namespace = kubernetes_namespace_v1.myretail.metadata[0].name
    labels = {
      "app.kubernetes.io/part-of"    = "myretail"
      "app.kubernetes.io/managed-by" = "terraform"
    }
  }

  data = {
    (each.value) = random_password.myretail[each.key].result
  }
}

locals {
  model_store_uri = "s3://${aws_s3_bucket.model_assets.id}/${var.bucket_prefixes.models}"

  # Chart component -> the IRSA role (irsa.tf) of its service account (those that talk to S3).
  myretail_irsa = {
    for role, irsa in local.irsa_roles : irsa.chart_component => {
      role_arn        = module.irsa[role].iam_role_arn
      service_account = irsa.service_account
    } if irsa.chart_component != null
  }

  # Their serviceAccount values: the name the role trusts, the role it may assume.
  myretail_service_accounts = {
    for component, irsa in local.myretail_irsa : component => {
      name        = irsa.service_account
      annotations = { "eks.amazonaws.com/role-arn" = irsa.role_arn }
    }
  }

  # Everything about the release that only Terraform knows. values/aws-overlay.example.yaml
  # shows it key by key. The catalog restore Job and the helm test pods run the RAG API image.
  myretail_values_overlay = {
    global = {
      imageRegistry = local.ecr_registry
      image         = { tag = var.image_tag }
      modelStore = {
        uri    = local.model_store_uri
        bucket = aws_s3_bucket.model_assets.id
        region = var.region
      }
      # Pods that may reach the internet still may not reach into the VPC through that rule
      # (the RAG API's catalog downloads included): the chart excepts these ranges too.
      networkPolicy = { externalEgress = { vpcCidrs = [module.vpc.vpc_cidr_block] } }
    }
    finetune = {
      image          = { repository = aws_ecr_repository.service["finetune"].name }
      serviceAccount = local.myretail_service_accounts["finetune"]
    }
    inference = {
      image          = { repository = aws_ecr_repository.service["inference"].name }
      serviceAccount = local.myretail_service_accounts["inference"]
    }
    catalogRestore = {
      image          = { repository = aws_ecr_repository.service["ragApi"].name }
      serviceAccount = local.myretail_service_accounts["catalogRestore"]
    }
    ragApi = {
      image = { repository = aws_ecr_repository.service["ragApi"].name }
    }
    chatbotUi = {
      image = { repository = aws_ecr_repository.service["chatbotUi"].name }
      service = {
        loadBalancerSourceRanges = var.chatbot_ui_allowed_cidrs
        awsNlb                   = { certificateArn = var.chatbot_ui_certificate_arn }
      }
    }
    tests = {
      image = { repository = aws_ecr_repository.service["ragApi"].name }
    }
  }

  myretail_values_overlay_yaml = join("\n", [
    "# MyRetail values only Terraform knows (terraform output -raw helm_values). Layer it over",
    "# values/prod.yaml in every install and upgrade: -f values/prod.yaml -f <this file>.",
    yamlencode(local.myretail_values_overlay),
  ])

  # The model the release serves and, when set, the fine-tune that publishes a tag. Not part
  # of the overlay: on the manual path these are --set flags of the command that changes them.
  myretail_model_values = {
    inference = { model = { tag = var.myretail_model_tag } }
    finetune = {
      enabled = var.myretail_finetune_tag != ""
      model   = { tag = var.myretail_finetune_tag }
    }
  }

  # The release's values files in Helm's order, the last one winning.
  myretail_prod_values = file("${path.module}/../values/prod.yaml")
  myretail_values = concat(
    [local.myretail_prod_values, local.myretail_values_overlay_yaml, yamlencode(local.myretail_model_values)],
    [for f in var.myretail_extra_values_files : file(f)],
  )
}

# The few release settings Terraform checks (the UI's exposure here, the GPU pods in
# capacity.tf), read from the layers Helm merges: the subcharts' and the umbrella chart's
# defaults, then the values above. Last layer first: a setting is the first layer's that has it.
locals {
  chart_dir = "${path.module}/../charts/myretail"
  myretail_value_layers = reverse(concat(
    [{
      for component, dir in { finetune = "finetune", inference = "inference", chatbotUi = "chatbot-ui" } :
      component => yamldecode(file("${local.chart_dir}/charts/${dir}/values.yaml"))
    }],
    [yamldecode(file("${local.chart_dir}/values.yaml")), yamldecode(local.myretail_prod_values)],
    [local.myretail_values_overlay, local.myretail_model_values],
    [for f in var.myretail_extra_values_files : yamldecode(file(f))],
  ))

  myretail_settings = {
    chatbot_ui_service_type = coalesce([for v in local.myretail_value_layers : try(v.chatbotUi.service.type, null)]...)
    chatbot_ui_nlb_scheme   = coalesce([for v in local.myretail_value_layers : try(v.chatbotUi.service.awsNlb.scheme, null)]...)
    # coalesce skips empty strings and fails when nothing is left: no certificate is "".
    chatbot_ui_certificate_arn = try(coalesce([for v in local.myretail_value_layers : try(v.chatbotUi.service.awsNlb.certificateArn, null)]...), "")
    inference_autoscaling   = coalesce([for v in local.myretail_value_layers : try(v.inference.autoscaling.enabled, null)]...)
    inference_replicas      = coalesce([for v in local.myretail_value_layers : try(v.inference.replicaCount, null)]...)
    inference_max_replicas  = coalesce([for v in local.myretail_value_layers : try(v.inference.autoscaling.maxReplicas, null)]...)
    inference_max_surge     = coalesce([for v in local.myretail_value_layers : try(v.inference.strategy.rollingUpdate.maxSurge, null)]...)
    inference_gpus          = coalesce([for v in local.myretail_value_layers : try(v.inference.gpu.count, null)]...)
    finetune_gpus           = coalesce([for v in local.myretail_value_layers : try(v.finetune.gpu.count, null)]...)
  }
}

# What the overlay must hold before a release can use it. An internet-facing UI needs source
# ranges of real clients (documentation, TEST-NET, ranges let nobody in) and a certificate
# (it is served over TLS only); the chart refuses both in prod too.
locals {
  documentation_cidrs = ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"]
  chatbot_ui_client_cidrs = [
    for cidr in var.chatbot_ui_allowed_cidrs : cidr if !anytrue([
      for doc in local.documentation_cidrs : try(
        tonumber(split("/", cidr)[1]) >= tonumber(split("/", doc)[1]) &&
        cidrhost("${split("/", cidr)[0]}/${split("/", doc)[1]}", 0) == cidrhost(doc, 0),
        false,
      )
    ])
  ]
  chatbot_ui_load_balancer = local.myretail_settings.chatbot_ui_service_type == "LoadBalancer"
  chatbot_ui_public        = local.chatbot_ui_load_balancer && local.myretail_settings.chatbot_ui_nlb_scheme == "internet-facing"

  myretail_values_problems = compact([
    var.image_tag == "" ? "image_tag is empty: set it to the tag pushed to ECR (output ecr_push_commands)." : "",
    local.chatbot_ui_load_balancer && length(local.chatbot_ui_client_cidrs) == 0 ? "chatbot_ui_allowed_cidrs names no client range: the chat window's load balancer would let nobody in (documentation ranges do not count)." : "",
    local.chatbot_ui_public && local.myretail_settings.chatbot_ui_certificate_arn == "" ? "chatbot_ui_certificate_arn is empty: the chat window's internet-facing load balancer serves TLS only (an ACM certificate of its host name)." : "",
  ])
}

# A warning on every plan while output helm_values is not installable yet.
check "myretail_values_overlay" {
  assert {
    condition     = length(local.myretail_values_problems) == 0
    error_message = "Output helm_values is not ready to install: ${join(" ", local.myretail_values_problems)}"
  }
}

resource "helm_release" "myretail" {
  count = var.deploy_myretail ? 1 : 0

  name             = var.myretail_release_name
  chart            = "${path.module}/../charts/myretail"
  namespace        = kubernetes_namespace_v1.myretail.metadata[0].name
  create_namespace = false
  values           = local.myretail_values

  # Ready means every Deployment and StatefulSet serves: on day 0 that includes the fine-tune
  # publishing the first tag and the inference pods loading it (myretail_helm_timeout).
  wait            = true
  atomic          = false # keep a failed rollout around to inspect it
  timeout         = var.myretail_helm_timeout
  cleanup_on_fail = false

  lifecycle {
    precondition {
      condition     = length(local.myretail_values_problems) == 0
      error_message = join(" ", local.myretail_values_problems)
    }
  }

  depends_on = [
    module.eks_blueprints_addons,
    module.eks_data_addons,
    kubernetes_storage_class_v1.gp3,
    kubernetes_secret_v1.myretail,
    terraform_data.gpu_capacity_check,
  ]
}
