#--------------------------------------------------------------------------------------------
# Cluster add-ons: EBS CSI driver (IRSA), metrics-server, cluster-autoscaler, AWS Load
# Balancer Controller (aws-ia/eks-blueprints-addons) and the NVIDIA device plugin plus
# JupyterHub (aws-ia/eks-data-addons, configured in jupyterhub.tf).
#--------------------------------------------------------------------------------------------

# The EBS CSI controller's role: the AWS-managed EBS CSI policy, plus the customer KMS key
# when root volumes and PersistentVolumes use one.
module "ebs_csi_irsa" {
  source  = "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks"
  version = "~> 5.55"

  role_name             = "${local.name}-ebs-csi-driver"
  attach_ebs_csi_policy = true
  ebs_csi_kms_cmk_ids   = var.ebs_kms_key_arn == null ? [] : [var.ebs_kms_key_arn]

  oidc_providers = {
    main = {
      provider_arn               = module.eks.oidc_provider_arn
      namespace_service_accounts = ["kube-system:ebs-csi-controller-sa"]
    }
  }

  tags = local.tags
}

module "eks_blueprints_addons" {
  source  = "aws-ia/eks-blueprints-addons/aws"
  version = "~> 1.21"

  cluster_name      = module.eks.cluster_name
  cluster_endpoint  = module.eks.cluster_endpoint
  cluster_version   = module.eks.cluster_version
  oidc_provider_arn = module.eks.oidc_provider_arn

  eks_addons = {
    aws-ebs-csi-driver = {
      most_recent              = true
      service_account_role_arn = module.ebs_csi_irsa.iam_role_arn
    }
  }

  enable_metrics_server = true

  # Scales both node groups (the GPU group between gpu_node_count.min and .max).
  enable_cluster_autoscaler = true
  cluster_autoscaler = {
    set = [
      { name = "extraArgs.balance-similar-node-groups", value = "true" },
      { name = "extraArgs.skip-nodes-with-local-storage", value = "false" },
    ]
  }

  # NLBs for the chat window and JupyterHub (jupyterhub_public_access) and ALB ingresses for
  # the chart. The service mutator webhook is off so only Services that ask for it get an NLB.
  # Region and VPC are given: with the nodes' metadata hop limit of 1 (eks.tf) the
  # controller's pods cannot look them up in the instance metadata.
  enable_aws_load_balancer_controller = true
  aws_load_balancer_controller = {
    set = [
      { name = "region", value = var.region },
      { name = "vpcId", value = module.vpc.vpc_id },
      { name = "enableServiceMutatorWebhook", value = "false" },
    ]
  }

  tags = local.tags
}

#--------------------------------------------------------------------------------------------
# Storage: gp3 (encrypted, EBS CSI) becomes the default StorageClass; gp2 stops being one.
#--------------------------------------------------------------------------------------------
resource "kubernetes_annotations" "gp2_not_default" {
  api_version = "storage.k8s.io/v1"
  kind        = "StorageClass"
  force       = true

  metadata {
    name = "gp2"
  }
  annotations = {
    "storageclass.kubernetes.io/is-default-class" = "false"
  }

  depends_on = [module.eks]
}

resource "kubernetes_storage_class_v1" "gp3" {
  metadata {
    name = "gp3"
    annotations = {
      "storageclass.kubernetes.io/is-default-class" = "true"
    }
  }

  storage_provisioner    = "ebs.csi.aws.com"
  reclaim_policy         = "Delete"
  allow_volume_expansion = true
  volume_binding_mode    = "WaitForFirstConsumer"

  parameters = merge(
    {
      type                        = "gp3"
      encrypted                   = "true"
      "csi.storage.k8s.io/fstype" = "ext4"
    },
    var.ebs_kms_key_arn == null ? {} : { kmsKeyId = var.ebs_kms_key_arn },
  )

  depends_on = [kubernetes_annotations.gp2_not_default, module.eks_blueprints_addons]
}

#--------------------------------------------------------------------------------------------
# NVIDIA device plugin (advertises nvidia.com/gpu on the GPU nodes) and JupyterHub.
#--------------------------------------------------------------------------------------------
module "eks_data_addons" {
  source  = "aws-ia/eks-data-addons/aws"
  version = "~> 1.37"

  oidc_provider_arn = module.eks.oidc_provider_arn

  enable_nvidia_device_plugin = true
  nvidia_device_plugin_helm_config = {
    name             = "nvidia-device-plugin"
    namespace        = "nvidia-device-plugin"
    create_namespace = true
    version          = "0.17.1"
    values           = [file("${path.module}/helm-values/nvidia-device-plugin-values.yaml")]
  }

  enable_jupyterhub      = var.enable_jupyterhub
  jupyterhub_helm_config = local.jupyterhub_helm_config

  depends_on = [kubernetes_storage_class_v1.gp3]
}
