"""The cluster infra-terraform builds enforces what the chart asks of it: NetworkPolicies are
enforced (the VPC CNI's network policy agent), pods get no instance metadata (IMDSv2 with a
hop limit of 1 on every node), the API endpoint is not open to the internet by default, and
the chat window and JupyterHub are public over TLS only, JupyterHub with an allow list."""

from __future__ import annotations

import re
from typing import Any

from .conftest import (
    TF_DIR,
    Rendered,
    Terraform,
    chart_values,
    leaves,
    load_hcl,
    normalized,
    one,
    overlay_example,
)

LB = "service.beta.kubernetes.io/aws-load-balancer-"
ACM_ARN = re.compile(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+")


def preconditions(terraform: Terraform, kind: str, name: str) -> list[dict[str, Any]]:
    return one(terraform.resource(kind, name)["lifecycle"])["precondition"]


# -- NetworkPolicies are enforced -----------------------------------------------------------------


def test_vpc_cni_enforces_network_policies(terraform: Terraform) -> None:
    """The EKS add-on's enableNetworkPolicy runs the network policy agent on every node, before
    the node groups exist (the CNI is what makes them Ready)."""
    addon = terraform.modules["eks"]["cluster_addons"]["vpc-cni"]
    assert addon["before_compute"] is True
    assert addon["configuration_values"] == "${jsonencode(local.vpc_cni_configuration)}"
    assert terraform.locals["vpc_cni_configuration"] == {"enableNetworkPolicy": "true"}
    # ...which is what the chart's policies need: they are on by default
    assert chart_values()["global"]["networkPolicy"]["enabled"] is True


# -- no instance metadata from pods ---------------------------------------------------------------


def test_every_node_group_has_imdsv2_with_hop_limit_1(terraform: Terraform) -> None:
    options = terraform.locals["node_metadata_options"]
    assert options == {
        "http_endpoint": "enabled",
        "http_tokens": "required",
        "http_put_response_hop_limit": 1,
    }
    eks = terraform.modules["eks"]
    template = normalized(eks["eks_managed_node_groups"])
    # written after each pool's settings (merge's last map wins), on the group's own launch
    # template, so no pool can loosen it
    assert template.endswith(
        "use_custom_launch_template = true, metadata_options = local.node_metadata_options})}}"
    ), template
    for pool, settings in terraform.locals["node_pools"].items():
        assert not {"metadata_options", "use_custom_launch_template"} & set(settings["settings"])
        assert "metadata_options" not in settings, pool
    assert "metadata_options" not in eks["eks_managed_node_group_defaults"]
    # the managed node groups are the only nodes: no self-managed groups, no Fargate
    assert not {"self_managed_node_groups", "fargate_profiles"} & set(eks)
    # ...and nowhere a hop limit that lets a pod through
    limits = re.findall(r"http_put_response_hop_limit\s*=\s*(\S+)", terraform.text)
    assert limits == ["1"], limits


def test_jupyterhub_runs_on_those_node_groups(terraform: Terraform) -> None:
    text = (TF_DIR / "helm-values" / "jupyterhub-values.yaml").read_text()
    selectors = re.findall(r"(myretail\.io/node-pool|nvidia\.com/gpu\.present): (\S+)", text)
    pools = set(terraform.locals["node_pools"])
    assert selectors and {value for key, value in selectors if "node-pool" in key} <= pools
    assert "JupyterHub" not in str(terraform.modules["eks"]["eks_managed_node_groups"])


def test_add_ons_do_not_need_instance_metadata(terraform: Terraform) -> None:
    """The load balancer controller gets its region and VPC as values (it would otherwise ask
    the instance metadata for them)."""
    settings = {
        s["name"]: s["value"]
        for s in terraform.modules["eks_blueprints_addons"]["aws_load_balancer_controller"]["set"]
    }
    assert settings["region"] == "${var.region}"
    assert settings["vpcId"] == "${module.vpc.vpc_id}"


# -- the API endpoint -----------------------------------------------------------------------------


def test_cluster_endpoint_is_private_unless_ranges_are_named(terraform: Terraform) -> None:
    assert terraform.default("cluster_endpoint_public_access_cidrs") == []
    assert terraform.default("cluster_endpoint_public_access_from_anywhere") is False
    assert "cluster_endpoint_public_access" not in terraform.variables, "one knob: the ranges"
    eks = terraform.modules["eks"]
    assert eks["cluster_endpoint_private_access"] is True
    assert eks["cluster_endpoint_public_access"] == "${local.cluster_endpoint_public}"
    assert terraform.locals["cluster_endpoint_public"] == (
        "${length(var.cluster_endpoint_public_access_cidrs) > 0}"
    )
    assert eks["cluster_endpoint_public_access_cidrs"] == (
        "${var.cluster_endpoint_public_access_cidrs}"
    )
    validation = one(terraform.variables["cluster_endpoint_public_access_cidrs"]["validation"])
    assert "cidrhost(cidr, 0)" in validation["condition"]


def test_cluster_endpoint_refuses_the_whole_internet(terraform: Terraform) -> None:
    (precondition,) = preconditions(terraform, "terraform_data", "eks_endpoint_check")
    assert precondition["condition"] == (
        "${var.cluster_endpoint_public_access_from_anywhere"
        " || length(local.cluster_endpoint_open_to_all) == 0}"
    )
    assert normalized(terraform.locals["cluster_endpoint_open_to_all"]) == (
        '${[for cidr in var.cluster_endpoint_public_access_cidrs : cidr if endswith(cidr, "/0")]}'
    )
    assert "0.0.0.0/0" in precondition["error_message"]
    # the example names a range of its own
    example = load_hcl(TF_DIR / "terraform.tfvars.example")["cluster_endpoint_public_access_cidrs"]
    assert example and not [c for c in example if c.endswith("/0")]


# -- the chat window: TLS, and internet egress that stays out of the VPC ------------------------


def test_chat_window_certificate_goes_into_the_overlay(terraform: Terraform) -> None:
    overlay = leaves(terraform.locals["myretail_values_overlay"])
    assert overlay["chatbotUi.service.awsNlb.certificateArn"] == "${var.chatbot_ui_certificate_arn}"
    assert terraform.default("chatbot_ui_certificate_arn") == ""
    validation = one(terraform.variables["chatbot_ui_certificate_arn"]["validation"])
    assert ":acm:" in validation["condition"]
    example = overlay_example()["chatbotUi"]["service"]["awsNlb"]["certificateArn"]
    assert ACM_ARN.fullmatch(example), example


def test_release_refuses_a_public_chat_window_without_tls(terraform: Terraform) -> None:
    problems = normalized(terraform.locals["myretail_values_problems"])
    assert (
        'local.chatbot_ui_public && local.myretail_settings.chatbot_ui_certificate_arn == ""'
        in problems
    )
    assert terraform.locals["chatbot_ui_public"] == (
        "${local.chatbot_ui_load_balancer"
        ' && local.myretail_settings.chatbot_ui_nlb_scheme == "internet-facing"}'
    )
    settings = terraform.locals["myretail_settings"]
    assert "v.chatbotUi.service.awsNlb.certificateArn" in settings["chatbot_ui_certificate_arn"]
    assert "v.chatbotUi.service.awsNlb.scheme" in settings["chatbot_ui_nlb_scheme"]


def test_day_zero_chat_window_is_tls_only(day_zero_render: Rendered) -> None:
    service = day_zero_render.get("Service", "myretail-chatbot-ui")
    certificate = overlay_example()["chatbotUi"]["service"]["awsNlb"]["certificateArn"]
    annotations = service["metadata"]["annotations"]
    assert annotations[f"{LB}ssl-cert"] == certificate
    assert annotations[f"{LB}scheme"] == "internet-facing"
    assert [p["port"] for p in service["spec"]["ports"]] == [443]


def test_vpc_cidr_is_kept_out_of_internet_egress(
    terraform: Terraform, day_zero_render: Rendered
) -> None:
    overlay = leaves(terraform.locals["myretail_values_overlay"])
    assert overlay["global.networkPolicy.externalEgress.vpcCidrs"] == [
        "${module.vpc.vpc_cidr_block}"
    ]
    vpc = overlay_example()["global"]["networkPolicy"]["externalEgress"]["vpcCidrs"]
    assert vpc == [terraform.default("vpc_cidr")]
    policy = day_zero_render.get("NetworkPolicy", "myretail-rag-api")
    excepted = {
        e
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        for e in peer.get("ipBlock", {}).get("except", [])
    }
    assert set(vpc) <= excepted and "169.254.0.0/16" in excepted


# -- JupyterHub -----------------------------------------------------------------------------------


def test_public_jupyterhub_is_tls_only(terraform: Terraform) -> None:
    proxy = terraform.locals["jupyterhub_proxy_load_balancer"]
    service = proxy["service"]
    assert service["disableHttpPort"] is True, "no plain-HTTP listener"
    assert service["annotations"][f"{LB}ssl-cert"] == "${var.jupyterhub_acm_certificate_arn}"
    assert service["annotations"][f"{LB}ssl-ports"] == "https"
    assert service["annotations"][f"{LB}scheme"] == "internet-facing"
    assert proxy["https"] == {"enabled": True, "type": "offload"}
    assert terraform.locals["jupyterhub_base_url"] == (
        '${var.jupyterhub_public_access ? "https://${var.jupyterhub_hostname}"'
        ' : "http://localhost:8080"}'
    )
    conditions = [
        p["condition"]
        for p in preconditions(terraform, "terraform_data", "jupyterhub_config_check")
    ]
    assert (
        '${!var.jupyterhub_public_access || (var.jupyterhub_hostname != ""'
        ' && var.jupyterhub_acm_certificate_arn != "")}' in conditions
    )
    assert terraform.default("jupyterhub_public_access") is False


def test_jupyterhub_oauth_logins_need_an_allow_list(terraform: Terraform) -> None:
    auth = terraform.locals["jupyterhub_auth_config"]
    users = terraform.locals["jupyterhub_oauth_users"]
    assert users == {
        "admin_users": "${var.jupyterhub_admin_users}",
        "allowed_users": "${var.jupyterhub_allowed_users}",
        "allow_all": False,
    }
    for oauth in ("github", "generic-oauth"):
        assert auth[oauth]["Authenticator"] == "${local.jupyterhub_oauth_users}", oauth
    assert "allow_all" not in auth["generic-oauth"]["GenericOAuthenticator"]
    assert auth["generic-oauth"]["GenericOAuthenticator"]["allowed_groups"] == (
        "${var.jupyterhub_oidc.allowed_groups}"
    )
    conditions = {
        normalized(p["condition"])
        for p in preconditions(terraform, "terraform_data", "jupyterhub_config_check")
    }
    allow_lists = {
        "github": "length(var.jupyterhub_github_organizations)",
        "generic-oauth": "length(var.jupyterhub_oidc.allowed_groups)",
    }
    for oauth, own_list in allow_lists.items():
        assert (
            f'${{var.jupyterhub_authenticator != "{oauth}" || {own_list}'
            " + length(var.jupyterhub_allowed_users) + length(var.jupyterhub_admin_users) > 0}"
        ) in conditions, oauth
