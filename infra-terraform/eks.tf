#--------------------------------------------------------------------------------------------
# EKS: one on-demand CPU node group for the always-on services and a spot GPU node group
# (g6 / NVIDIA L4, AL2023 NVIDIA AMI) that only GPU pods can land on.
#--------------------------------------------------------------------------------------------
locals {
  # What differs between the two node groups; eks_managed_node_groups below adds what they
  # share (name, sizes, encrypted gp3 root volume, node-pool label).
  node_pools = {
    cpu = {
      ami_type       = "AL2023_x86_64_STANDARD"
      capacity_type  = "ON_DEMAND"
      instance_types = var.cpu_instance_types
      size           = var.cpu_node_count
      root_volume    = { size = 100, iops = 3000, throughput = 125 }
      labels         = {}
      settings       = {}
    }

    gpu = {
      ami_type       = "AL2023_x86_64_NVIDIA" # NVIDIA driver and container toolkit preinstalled
      capacity_type  = "SPOT"
      instance_types = var.gpu_instance_types
      size           = var.gpu_node_count
      root_volume    = { size = var.gpu_root_volume_size, iops = 4000, throughput = 250 }

      # Only pods that tolerate the taint (inference, fine-tune, GPU notebooks, the device
      # plugin) are scheduled here; the label is what their nodeSelectors and the NVIDIA
      # device plugin's node affinity match.
      labels = {
        (local.gpu_label_key) = "true"
      }
      settings = {
        taints = {
          gpu = {
            key    = local.gpu_taint_key
            value  = "true"
            effect = "NO_SCHEDULE"
          }
        }

        update_config = {
          max_unavailable = 1
        }

        tags = {
          "k8s.io/cluster-autoscaler/node-template/label/nvidia.com/gpu.present" = "true"
          "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu"         = "true:NoSchedule"
        }
      }
    }
  }
}

locals {
  # The VPC CNI add-on's configuration (aws eks describe-addon-configuration --addon-name
  # vpc-cni): network policy enforcement by the node agent.
  vpc_cni_configuration = {
    enableNetworkPolicy = "true"
  }

  # Instance metadata on every node: IMDSv2 only, and a hop limit of 1, so the token reaches
  # processes on the node (kubelet, the host-network add-ons) but not pods, which are one hop
  # further. Pods get AWS credentials from IRSA (a web-identity token and STS), never from
  # the node's role.
  node_metadata_options = {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  cluster_endpoint_public = length(var.cluster_endpoint_public_access_cidrs) > 0
  # Ranges of the public endpoint that mean "the whole internet" (a /0, however written).
  cluster_endpoint_open_to_all = [
    for cidr in var.cluster_endpoint_public_access_cidrs : cidr if endswith(cidr, "/0")
  ]
}

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.37"

  cluster_name    = local.name
  cluster_version = var.cluster_version

  # The API endpoint is private (inside the VPC) unless cluster_endpoint_public_access_cidrs
  # names who may reach it from outside; eks_endpoint_check below refuses the whole internet.
  cluster_endpoint_public_access       = local.cluster_endpoint_public
  cluster_endpoint_public_access_cidrs = var.cluster_endpoint_public_access_cidrs
  cluster_endpoint_private_access      = true

  # Whoever runs `terraform apply` becomes cluster admin (EKS access entry); add more
  # principals with access_entries.
  enable_cluster_creator_admin_permissions = true
  authentication_mode                      = "API"

  # IRSA: the OIDC provider the service-account roles in irsa.tf trust.
  enable_irsa = true

  cluster_enabled_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  # Networking add-ons first (nodes need the CNI to become Ready); the EBS CSI driver,
  # metrics-server, autoscaler and load balancer controller are in addons.tf.
  cluster_addons = {
    # enableNetworkPolicy runs the VPC CNI's network policy agent on every node: without it
    # the chart's NetworkPolicies are stored but nothing enforces them.
    vpc-cni = {
      most_recent          = true
      before_compute       = true
      configuration_values = jsonencode(local.vpc_cni_configuration)
    }
    kube-proxy = {
      most_recent = true
    }
    coredns = {
      most_recent = true
    }
    eks-pod-identity-agent = {
      most_recent = true
    }
  }

  eks_managed_node_group_defaults = {
    iam_role_additional_policies = {
      # Session Manager instead of SSH keys for node debugging.
      AmazonSSMManagedInstanceCore = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    }
  }

  eks_managed_node_groups = {
    for pool, p in local.node_pools : pool => merge(p.settings, {
      name           = "${local.name}-${pool}"
      ami_type       = p.ami_type
      capacity_type  = p.capacity_type
      instance_types = p.instance_types

      min_size     = p.size.min
      desired_size = p.size.desired
      max_size     = p.size.max

      # Encrypted gp3 root volume; AL2023 AMIs boot from /dev/xvda.
      block_device_mappings = {
        xvda = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = p.root_volume.size
            volume_type           = "gp3"
            iops                  = p.root_volume.iops
            throughput            = p.root_volume.throughput
            encrypted             = true
            kms_key_id            = var.ebs_kms_key_arn
            delete_on_termination = true
          }
        }
      }

      labels = merge({ "myretail.io/node-pool" = pool }, p.labels)

      # Set on every pool's launch template, after its own settings so none can loosen it.
      use_custom_launch_template = true
      metadata_options           = local.node_metadata_options
    })
  }

  tags = local.tags
}

# The public API endpoint is open to the whole internet only when someone says so: the plan
# fails on 0.0.0.0/0 (or ::/0) in cluster_endpoint_public_access_cidrs unless
# cluster_endpoint_public_access_from_anywhere is set.
resource "terraform_data" "eks_endpoint_check" {
  input = var.cluster_endpoint_public_access_cidrs

  lifecycle {
    precondition {
      condition     = var.cluster_endpoint_public_access_from_anywhere || length(local.cluster_endpoint_open_to_all) == 0
      error_message = "cluster_endpoint_public_access_cidrs opens the Kubernetes API endpoint to the whole internet (0.0.0.0/0 or ::/0). Name the ranges Terraform and kubectl come from (your office or VPN egress, e.g. [\"198.51.100.7/32\"]), leave it empty for a private endpoint, or set cluster_endpoint_public_access_from_anywhere = true to accept it."
    }
  }
}
