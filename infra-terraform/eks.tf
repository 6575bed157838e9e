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

module "eks" {
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 20.37"

  cluster_name    = local.name
  cluster_version = var.cluster_version

  cluster_endpoint_public_access       = var.cluster_endpoint_public_access
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
    vpc-cni = {
      most_recent    = true
      before_compute = true
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
    # IMDSv2 only (the module default, hop limit 2 for the pods that still need IMDS).
    metadata_options = {
      http_endpoint               = "enabled"
      http_tokens                 = "required"
      http_put_response_hop_limit = 2
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
    })
  }

  tags = local.tags
}
