"""Structural checks of infra-terraform/: it parses, is pinned, and says what the design needs.

There is no terraform binary here, so these tests read the HCL (python-hcl2) and assert on
the blocks: the GPU node group, the EBS CSI driver and gp3 default, the IRSA policies, the
bucket protections, ECR, JupyterHub and the helm_release wiring. A reference check (every
var./local./module./data. reference is declared) stands in for `terraform validate`.

Where a block is generated (for_each, dynamic), the tests read the map it iterates and check
the template that turns an entry into the block, so they still see every statement and label.
checkov cannot render a for_each data source's dynamic statements (it scans the template), so
the IRSA statements' least privilege is checked here, role by role.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import (
    DOCKERFILE,
    G6_SIZES,
    IMAGE_TARGETS,
    OVERLAY_EXAMPLE,
    REPO,
    TF_DIR,
    Rendered,
    Terraform,
    chart_values,
    containers,
    leaves,
    load_hcl,
    normalized,
    one,
    overlay_example,
    parse_dockerfile,
    prod_values,
    rendered_containers,
    secret_refs,
)

TF_FILES = sorted(TF_DIR.glob("*.tf"))
GPU_TAINT = "nvidia.com/gpu"
GPU_LABEL = "nvidia.com/gpu.present"
CHART_COMPONENTS = {"finetune", "inference", "ragApi", "chatbotUi"}
S3_WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def interpolated(value: str) -> str | None:
    """`${expr}` -> `expr` (None when the value is not a single interpolation)."""
    match = re.fullmatch(r"\$\{\(?(.+?)\)?\}", value.strip())
    return match.group(1) if match else None


def resolve(tf: Terraform, value: Any) -> Any:
    """Follow `${local.x}` / `${var.x}` (its default) one level, enough for these checks."""
    if isinstance(value, str) and (expr := interpolated(value)):
        if expr.startswith("local.") and expr.count(".") == 1:
            return resolve(tf, tf.locals[expr.removeprefix("local.")])
        if expr.startswith("var.") and expr.count(".") == 1:
            return tf.default(expr.removeprefix("var."))
    return value


def local_value(tf: Terraform, value: Any) -> Any:
    """`${local.x}` -> the local's value; anything else as it is."""
    expr = interpolated(value) if isinstance(value, str) else None
    if expr and re.fullmatch(r"local\.\w+", expr):
        return tf.locals[expr.removeprefix("local.")]
    return value


def fill(template: Any, name: str, key: Any, value: Any) -> Any:
    """A dynamic block's content for one element: `${name.key}`, `${name.value[.attr]}`."""
    if isinstance(template, dict):
        return {k: fill(v, name, key, value) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, name, key, value) for v in template]
    if isinstance(template, str):
        match = re.fullmatch(rf"\$\{{{name}\.(key|value)(?:\.(\w+))?\}}", template)
        if match and match.group(1) == "key":
            return key
        if match:
            return value[match.group(2)] if match.group(2) else value
    return template


def statements(tf: Terraform, document: str) -> list[dict[str, Any]]:
    """The statements of a policy document: written out, or one per entry of the local map a
    `dynamic "statement"` iterates."""
    body = tf.policy_document(document)
    found = list(body.get("statement", []))
    for block in body.get("dynamic", []):
        dynamic = block["statement"]
        entries = local_value(tf, dynamic["for_each"])
        assert isinstance(entries, dict), dynamic["for_each"]
        (content,) = dynamic["content"]
        found += [fill(content, "statement", k, v) for k, v in entries.items()]
    return found


def irsa_statements(tf: Terraform, role: str) -> list[dict[str, Any]]:
    """The statements of one IRSA role's policy: data.aws_iam_policy_document.irsa filled with
    local.decrypt_via_s3 and the role's statements from local.irsa_roles."""
    dynamic = one(tf.policy_document("irsa")["dynamic"])["statement"]
    assert dynamic["for_each"] == "${concat([local.decrypt_via_s3], each.value.statements)}"
    (template,) = dynamic["content"]
    content = {k: v for k, v in template.items() if k != "dynamic"}
    condition = one(template["dynamic"])["condition"]
    assert condition["for_each"] == "${try(statement.value.conditions, [])}"
    (condition_content,) = condition["content"]
    entries = [tf.locals["decrypt_via_s3"], *tf.locals["irsa_roles"][role]["statements"]]
    rendered = []
    for entry in entries:
        statement = fill(content, "statement", None, entry)
        conditions = [local_value(tf, c) for c in entry.get("conditions", [])]
        if conditions:
            statement["condition"] = [
                fill(condition_content, "condition", None, c) for c in conditions
            ]
        rendered.append(statement)
    return rendered


# -- parsing and pinning ------------------------------------------------------------------------


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: p.name)
def test_every_tf_file_parses(path: Path) -> None:
    parsed = load_hcl(path)
    assert parsed, f"{path.name} is empty"


def test_expected_files_exist() -> None:
    names = {p.name for p in TF_FILES}
    assert {"versions.tf", "variables.tf", "outputs.tf"} <= names
    assert (TF_DIR / "terraform.tfvars.example").is_file()
    assert (TF_DIR / "helm-values" / "jupyterhub-values.yaml").is_file()


def test_providers_and_modules_are_pinned(terraform: Terraform) -> None:
    (settings,) = terraform.terraform
    assert settings["required_version"]
    providers = settings["required_providers"][0]
    assert set(providers) == {"aws", "helm", "kubernetes", "random"}
    for name, spec in providers.items():
        assert spec["source"] == f"hashicorp/{name}"
        assert re.fullmatch(r"~> \d+\.\d+(\.\d+)?", spec["version"]), (name, spec["version"])
    assert providers["aws"]["version"].startswith("~> 5.")
    # eks-blueprints-addons / eks-data-addons 1.x use the helm provider 2.x block syntax.
    assert providers["helm"]["version"].startswith("~> 2.")

    expected_sources = {
        "terraform-aws-modules/vpc/aws": "~> 5.",
        "terraform-aws-modules/eks/aws": "~> 20.",
        "terraform-aws-modules/iam/aws//modules/iam-role-for-service-accounts-eks": "~> 5.",
        "aws-ia/eks-blueprints-addons/aws": "~> 1.",
        "aws-ia/eks-data-addons/aws": "~> 1.",
    }
    seen = set()
    for name, module in terraform.modules.items():
        source = module["source"]
        assert source in expected_sources, f"module {name}: unexpected source {source}"
        assert module["version"].startswith(expected_sources[source]), (name, module["version"])
        seen.add(source)
    assert seen == set(expected_sources)


def test_tfvars_example_sets_only_declared_variables(terraform: Terraform) -> None:
    example = load_hcl(TF_DIR / "terraform.tfvars.example")
    assert example
    unknown = set(example) - set(terraform.variables)
    assert not unknown, f"terraform.tfvars.example sets undeclared variables: {unknown}"


def test_every_reference_is_declared(terraform: Terraform) -> None:
    """A poor man's `terraform validate`: var/local/module/data references resolve."""
    text = re.sub(r"(?m)^\s*#.*$", "", terraform.text)
    text = re.sub(r"(?ms)^moved \{.*?^\}", "", text)  # former addresses, checked below
    problems = []
    for name in set(re.findall(r"\bvar\.(\w+)", text)):
        if name not in terraform.variables:
            problems.append(f"var.{name}")
    for name in set(re.findall(r"\blocal\.(\w+)", text)):
        if name not in terraform.locals:
            problems.append(f"local.{name}")
    for name in set(re.findall(r"\bmodule\.(\w+)", text)):
        if name not in terraform.modules:
            problems.append(f"module.{name}")
    scoped = terraform.scoped_data()
    for kind, name in set(re.findall(r"\bdata\.(\w+)\.(\w+)", text)):
        if name not in terraform.data.get(kind, {}) and name not in scoped.get(kind, {}):
            problems.append(f"data.{kind}.{name}")
    for kind, name in set(
        re.findall(r"\b((?:aws|kubernetes|helm|random|terraform)_\w+)\.(\w+)\.", text)
    ):
        if kind in terraform.resources and name not in terraform.resources[kind]:
            problems.append(f"{kind}.{name}")
    assert not problems, f"undeclared references: {sorted(problems)}"


def declared(terraform: Terraform, address: str) -> bool:
    """Is `module.x`, `module.x["k"]`, `kind.name` or `kind.name["k"]` in the configuration?"""
    match = re.fullmatch(r'(?:module\.(\w+)|(\w+)\.(\w+))(\["[\w-]+"\])?', address)
    assert match, address
    module, kind, name, key = match.groups()
    body = terraform.modules.get(module) if module else terraform.resources.get(kind, {}).get(name)
    return body is not None and (key is None) == ("for_each" not in body)


def test_moved_blocks_lead_from_former_to_declared_addresses(terraform: Terraform) -> None:
    """Renamed resources keep their state: every former IRSA address moves to its role's."""
    moves = {interpolated(m["from"]): interpolated(m["to"]) for m in terraform.moved}
    for former, current in moves.items():
        assert former and current, "moved blocks name plain addresses"
        assert not declared(terraform, former), f"{former} still exists"
        assert declared(terraform, current), f"{current} is not declared"
    for role in terraform.locals["irsa_roles"]:
        assert moves[f"module.{role}_irsa"] == f'module.irsa["{role}"]'
        assert moves[f"aws_iam_policy.{role}"] == f'aws_iam_policy.irsa["{role}"]'


def test_variables_are_documented(terraform: Terraform) -> None:
    for name, variable in terraform.variables.items():
        assert variable.get("description"), f"variable {name} has no description"
        assert "type" in variable, f"variable {name} has no type"
    for name, output in terraform.outputs.items():
        assert output.get("description"), f"output {name} has no description"


# -- EKS: node groups, GPU scheduling, storage --------------------------------------------------


@pytest.fixture(scope="module")
def node_groups(terraform: Terraform) -> dict[str, Any]:
    """local.node_pools, the map eks_managed_node_groups is built from (one group per pool)."""
    template = terraform.modules["eks"]["eks_managed_node_groups"]
    assert template.startswith("${{for pool, p in local.node_pools : pool => merge(p.settings, {")
    return terraform.locals["node_pools"]


@pytest.fixture(scope="module")
def node_group_template(terraform: Terraform) -> str:
    """What every node group gets from its pool: `p.<setting>` and the common settings."""
    return " ".join(terraform.modules["eks"]["eks_managed_node_groups"].split())


def test_gpu_node_group(
    terraform: Terraform, node_groups: dict[str, Any], node_group_template: str
) -> None:
    gpu = node_groups["gpu"]
    assert gpu["ami_type"] == "AL2023_x86_64_NVIDIA"
    assert gpu["capacity_type"] == "SPOT"
    for setting in ("ami_type", "capacity_type", "instance_types"):
        assert f"{setting} = p.{setting}" in node_group_template

    instance_types = resolve(terraform, gpu["instance_types"])
    assert instance_types and all(t.startswith("g6.") for t in instance_types), instance_types
    # ...and the variable refuses anything else.
    validation = terraform.variables["gpu_instance_types"]["validation"][0]
    assert 'startswith(t, "g6.")' in validation["condition"]

    taints = list(gpu["settings"]["taints"].values())
    assert len(taints) == 1
    taint = taints[0]
    assert resolve(terraform, taint["key"]) == GPU_TAINT
    assert taint["effect"] == "NO_SCHEDULE"

    labels = {resolve(terraform, k): v for k, v in gpu["labels"].items()}
    assert labels[GPU_LABEL] == "true"
    assert 'labels = merge({"myretail.io/node-pool" = pool}, p.labels)' in node_group_template

    # the root volume: encrypted gp3 on /dev/xvda for every pool, the GPU pool's own size
    assert 'block_device_mappings = {xvda = {device_name = "/dev/xvda"' in node_group_template
    assert 'volume_type = "gp3"' in node_group_template
    assert "encrypted = true" in node_group_template
    assert "volume_size = p.root_volume.size" in node_group_template
    assert gpu["root_volume"]["size"] == "${var.gpu_root_volume_size}"


def test_cpu_node_group_is_untainted_on_demand(node_groups: dict[str, Any]) -> None:
    cpu = node_groups["cpu"]
    assert cpu["ami_type"] == "AL2023_x86_64_STANDARD"
    assert cpu["capacity_type"] == "ON_DEMAND"
    assert "taints" not in cpu["settings"] and not cpu["labels"]
    assert set(node_groups) == {"cpu", "gpu"}


def test_nvidia_device_plugin_runs_on_gpu_nodes(terraform: Terraform) -> None:
    data_addons = terraform.modules["eks_data_addons"]
    assert data_addons["enable_nvidia_device_plugin"] is True
    values_path = TF_DIR / "helm-values" / "nvidia-device-plugin-values.yaml"
    assert "nvidia-device-plugin-values.yaml" in str(
        data_addons["nvidia_device_plugin_helm_config"]["values"]
    )
    values = yaml.safe_load(values_path.read_text())
    tolerations = values["tolerations"]
    assert any(
        t["key"] == GPU_TAINT and t["operator"] == "Exists" and t["effect"] == "NoSchedule"
        for t in tolerations
    )
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    expressions = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert {"key": GPU_LABEL, "operator": "In", "values": ["true"]} in expressions


def test_ebs_csi_driver_with_irsa(terraform: Terraform) -> None:
    irsa = terraform.modules["ebs_csi_irsa"]
    assert irsa["attach_ebs_csi_policy"] is True
    assert irsa["oidc_providers"]["main"]["namespace_service_accounts"] == [
        "kube-system:ebs-csi-controller-sa"
    ]
    addon = terraform.modules["eks_blueprints_addons"]["eks_addons"]["aws-ebs-csi-driver"]
    assert addon["service_account_role_arn"] == "${module.ebs_csi_irsa.iam_role_arn}"


def test_gp3_is_the_default_storage_class(terraform: Terraform) -> None:
    gp3 = terraform.resource("kubernetes_storage_class_v1", "gp3")
    default_key = "storageclass.kubernetes.io/is-default-class"
    assert one(gp3["metadata"])["annotations"][default_key] == "true"
    assert gp3["storage_provisioner"] == "ebs.csi.aws.com"
    parameters = gp3["parameters"]  # merge({type = "gp3", ...}, <optional kmsKeyId>)
    assert 'type = "gp3"' in parameters
    assert 'encrypted = "true"' in parameters

    gp2 = terraform.resource("kubernetes_annotations", "gp2_not_default")
    assert gp2["kind"] == "StorageClass"
    assert one(gp2["metadata"])["name"] == "gp2"
    assert gp2["annotations"][default_key] == "false"
    assert gp2["force"] is True


# -- S3 bucket and IRSA ---------------------------------------------------------------------------


def test_model_assets_bucket_protections(terraform: Terraform) -> None:
    ref = "${aws_s3_bucket.model_assets.id}"
    versioning = terraform.resource("aws_s3_bucket_versioning", "model_assets")
    assert versioning["bucket"] == ref
    assert one(versioning["versioning_configuration"])["status"] == "Enabled"

    sse = terraform.resource("aws_s3_bucket_server_side_encryption_configuration", "model_assets")
    assert sse["bucket"] == ref
    default = one(one(sse["rule"])["apply_server_side_encryption_by_default"])
    assert default["sse_algorithm"] == "aws:kms"
    assert default["kms_master_key_id"] == "${aws_kms_key.model_assets.arn}"
    assert terraform.resource("aws_kms_key", "model_assets")["enable_key_rotation"] is True

    block = terraform.resource("aws_s3_bucket_public_access_block", "model_assets")
    assert block["bucket"] == ref
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[flag] is True, flag

    ownership = terraform.resource("aws_s3_bucket_ownership_controls", "model_assets")
    assert one(ownership["rule"])["object_ownership"] == "BucketOwnerEnforced"

    policy = terraform.resource("aws_s3_bucket_policy", "model_assets")
    assert policy["policy"] == "${data.aws_iam_policy_document.model_assets_bucket.json}"
    tls_only = [
        s
        for s in statements(terraform, "model_assets_bucket")
        if s.get("effect") == "Deny"
        and any(
            c["variable"] == "aws:SecureTransport" and c["values"] == ["false"]
            for c in s["condition"]
        )
    ]
    assert tls_only, "no statement denies requests without TLS"
    statement = tls_only[0]
    assert statement["actions"] == ["s3:*"]
    assert set(statement["resources"]) == {
        "${aws_s3_bucket.model_assets.arn}",
        "${aws_s3_bucket.model_assets.arn}/*",
    }
    assert one(statement["principals"])["identifiers"] == ["*"]


def test_no_full_access_managed_policies(terraform: Terraform) -> None:
    text = re.sub(r"(?m)^\s*#.*$", "", terraform.text)
    for forbidden in ("AmazonS3FullAccess", "AmazonS3ReadOnlyAccess", "AdministratorAccess"):
        assert forbidden not in text, forbidden
    for name, module in terraform.modules.items():
        for arn in (module.get("role_policy_arns") or {}).values():
            assert "arn:aws:iam::aws:policy" not in arn, (name, arn)


# role (local.irsa_roles) -> prefix keys (var.bucket_prefixes) its statements may touch
IRSA_SCOPES = {
    "finetune": {"read": {"datasets", "models"}, "write": {"models"}},
    "inference": {"read": {"models"}, "write": set()},
    "catalog_restore": {"read": {"catalog"}, "write": set()},
}


def object_prefix(resource: str) -> str | None:
    """`${local.bucket_arn}/${local.prefix.models}/*` -> "models"."""
    match = re.fullmatch(r"\$\{local\.bucket_arn\}/\$\{local\.prefix\.(\w+)\}/\*", resource)
    return match.group(1) if match else None


@pytest.mark.parametrize("document", sorted(IRSA_SCOPES))
def test_irsa_policies_are_scoped_to_bucket_prefixes(terraform: Terraform, document: str) -> None:
    scope = IRSA_SCOPES[document]
    touched_read: set[str] = set()
    touched_write: set[str] = set()
    for statement in irsa_statements(terraform, document):
        actions = set(statement["actions"])
        assert not any(a.endswith("*") for a in actions), (document, actions)
        s3_actions = {a for a in actions if a.startswith("s3:")}
        if not s3_actions:
            assert actions <= {"kms:GenerateDataKey", "kms:Decrypt"}
            assert statement["resources"] == ["${aws_kms_key.model_assets.arn}"]
            continue
        if s3_actions == {"s3:ListBucket"}:
            assert statement["resources"] == ["${local.bucket_arn}"]
            (condition,) = statement["condition"]
            assert condition["test"] == "StringLike"
            assert condition["variable"] == "s3:prefix"
            listed = set(re.findall(r"local\.list_prefixes\.(\w+)", str(condition["values"])))
            assert listed and listed <= scope["read"], (document, listed)
            continue
        prefixes = {object_prefix(r) for r in statement["resources"]}
        assert None not in prefixes, (document, statement["resources"])
        if s3_actions & S3_WRITE_ACTIONS:
            touched_write |= prefixes  # type: ignore[arg-type]
        else:
            assert s3_actions <= {"s3:GetObject", "s3:GetObjectVersion"}
            touched_read |= prefixes  # type: ignore[arg-type]
    assert touched_read == scope["read"], document
    assert touched_write == scope["write"], document


def test_kms_use_only_through_s3(terraform: Terraform) -> None:
    for document in terraform.locals["irsa_roles"]:
        statements = irsa_statements(terraform, document)
        # every role may read the bucket's SSE-KMS objects (the statement each policy starts with)
        assert statements[0]["sid"] == "DecryptModelAssetsViaS3"
        assert statements[0]["actions"] == ["kms:Decrypt"]
        for statement in statements:
            if any(a.startswith("kms:") for a in statement["actions"]):
                (condition,) = statement["condition"]
                assert condition["variable"] == "kms:ViaService"
                assert condition["values"] == ["s3.${var.region}.amazonaws.com"]


def test_notebooks_are_read_only(terraform: Terraform) -> None:
    s3_statements = [
        s
        for s in irsa_statements(terraform, "notebooks")
        if any(a.startswith("s3:") for a in s["actions"])
    ]
    actions = {a for s in s3_statements for a in s["actions"]}
    assert actions == {
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:GetObjectVersion",
    }
    others = {a for s in irsa_statements(terraform, "notebooks") for a in s["actions"]} - actions
    assert others == {"kms:Decrypt"}
    for statement in s3_statements:
        for resource in statement["resources"]:
            assert resource.startswith("${local.bucket_arn}"), resource


def test_irsa_statements_have_no_wildcards(terraform: Terraform) -> None:
    """What checkov would flag in a written-out policy document (it cannot render the
    for_each one): no wildcard action or resource, and every statement is an Allow."""
    assert set(terraform.locals["irsa_roles"]) == {*IRSA_SCOPES, "notebooks"}
    for role in terraform.locals["irsa_roles"]:
        for statement in irsa_statements(terraform, role):
            assert "effect" not in statement, (role, statement)
            assert statement["sid"] and statement["actions"], (role, statement)
            assert not [a for a in statement["actions"] if "*" in a], (role, statement)
            assert "*" not in statement["resources"], (role, statement)


def test_irsa_roles_trust_the_chart_service_accounts(terraform: Terraform) -> None:
    """One role, one policy and one policy document per entry of local.irsa_roles; each role
    trusts that entry's namespace:service-account and carries that entry's policy."""
    module = terraform.modules["irsa"]
    policy = terraform.resource("aws_iam_policy", "irsa")
    document = terraform.policy_document("irsa")
    for block in (module, policy, document):
        assert block["for_each"] == "${local.irsa_roles}"
    assert module["role_name"] == '${local.name}-${replace(each.key, "_", "-")}'
    assert module["role_policy_arns"] == {"model_assets": "${aws_iam_policy.irsa[each.key].arn}"}
    assert policy["policy"] == "${data.aws_iam_policy_document.irsa[each.key].json}"
    assert policy["name"] == '${local.name}-${replace(each.key, "_", "-")}-model-assets'
    (subject,) = module["oidc_providers"]["main"]["namespace_service_accounts"]
    assert subject == "${each.value.namespace}:${each.value.service_account}"

    wiring = {
        "finetune": ("var.myretail_namespace", "var.myretail_service_accounts.finetune"),
        "inference": ("var.myretail_namespace", "var.myretail_service_accounts.inference"),
        "catalog_restore": (
            "var.myretail_namespace",
            "var.myretail_service_accounts.catalog_restore",
        ),
        "notebooks": ("var.jupyterhub_namespace", "local.notebook_service_account"),
    }
    roles = terraform.locals["irsa_roles"]
    assert set(roles) == set(wiring)
    for role, (namespace, service_account) in wiring.items():
        assert roles[role]["namespace"] == f"${{{namespace}}}", role
        assert roles[role]["service_account"] == f"${{{service_account}}}", role
    # the finetune role trusts "<namespace>:<its service account>"
    finetune = subject.replace("each.value.namespace", roles["finetune"]["namespace"][2:-1])
    finetune = finetune.replace(
        "each.value.service_account", roles["finetune"]["service_account"][2:-1]
    )
    assert finetune == "${var.myretail_namespace}:${var.myretail_service_accounts.finetune}"


# -- ECR ------------------------------------------------------------------------------------------


def test_ecr_repositories(terraform: Terraform) -> None:
    images = terraform.locals["images"]
    assert set(images) == CHART_COMPONENTS
    assert {v["repository"].replace("${var.name}", "myretail") for v in images.values()} == {
        "myretail/finetune",
        "myretail/inference",
        "myretail/rag-api",
        "myretail/chatbot-ui",
    }
    # each image is a target of the images' Dockerfile (ci/build-images.sh builds the same
    # targets: tests/infra/test_workflows.py)
    assert REPO / terraform.locals["dockerfile"] == DOCKERFILE
    dockerfile = parse_dockerfile(DOCKERFILE)
    for image in images.values():
        assert dockerfile.stage(image["target"])
    assert {image["target"] for image in images.values()} == set(IMAGE_TARGETS.values())
    repo = terraform.resource("aws_ecr_repository", "service")
    assert repo["for_each"] == "${local.images}"
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert one(repo["image_scanning_configuration"])["scan_on_push"] is True
    assert one(repo["encryption_configuration"])["encryption_type"] == "KMS"


def test_github_release_role_is_scoped(terraform: Terraform) -> None:
    trust = statements(terraform, "github_release_trust")[0]
    conditions = {c["variable"]: c["values"] for c in trust["condition"]}
    assert conditions["token.actions.githubusercontent.com:aud"] == ["sts.amazonaws.com"]
    assert conditions["token.actions.githubusercontent.com:sub"] == [
        "repo:${var.github_repository}:ref:refs/tags/v*"
    ]
    push = {s["sid"]: s for s in statements(terraform, "github_release_push")}
    assert push["EcrLogin"]["actions"] == ["ecr:GetAuthorizationToken"]
    assert "aws_ecr_repository.service" in str(push["PushServiceImages"]["resources"])


# -- JupyterHub -----------------------------------------------------------------------------------


def render_template(path: Path, variables: dict[str, str]) -> Any:
    text = path.read_text()
    used = set(re.findall(r"\$\{(\w+)\}", text))
    assert used == set(variables), f"template variables {used} != passed {set(variables)}"
    return yaml.safe_load(re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], text))


def test_jupyterhub_values_template(terraform: Terraform) -> None:
    config = terraform.locals["jupyterhub_helm_config"]
    template_call = config["values"][0]
    assert "helm-values/jupyterhub-values.yaml" in template_call
    passed = set(re.findall(r"(\w+)\s*=", template_call.split("jupyterhub-values.yaml", 1)[1]))
    values = render_template(
        TF_DIR / "helm-values" / "jupyterhub-values.yaml",
        {name: f"<{name}>" for name in passed},
    )
    single_user = values["singleuser"]
    assert single_user["serviceAccountName"] == "<service_account>"
    storage = single_user["storage"]
    assert storage["type"] == "dynamic"  # one PersistentVolumeClaim per user
    assert storage["dynamic"]["storageClass"] == "<storage_class>"

    profiles = {p["slug"]: p for p in single_user["profileList"]}
    assert set(profiles) == {"cpu", "gpu"}
    assert profiles["cpu"]["default"] is True
    cpu = profiles["cpu"]["kubespawner_override"]
    assert "tolerations" not in cpu
    gpu = profiles["gpu"]["kubespawner_override"]
    assert gpu["extra_resource_limits"] == {GPU_TAINT: "1"}
    assert gpu["node_selector"] == {GPU_LABEL: "true"}
    assert {"key": GPU_TAINT, "operator": "Exists", "effect": "NoSchedule"} in gpu["tolerations"]


def test_jupyterhub_namespace_and_service_account(terraform: Terraform) -> None:
    namespace = terraform.resource("kubernetes_namespace_v1", "jupyterhub")
    assert one(namespace["metadata"])["name"] == "${var.jupyterhub_namespace}"
    config = terraform.locals["jupyterhub_helm_config"]
    assert config["namespace"] == "${var.jupyterhub_namespace}"
    assert config["create_namespace"] is False
    sa = terraform.resource("kubernetes_service_account_v1", "notebooks")
    assert one(sa["metadata"])["annotations"]["eks.amazonaws.com/role-arn"] == (
        '${module.irsa["notebooks"].iam_role_arn}'
    )
    assert terraform.modules["eks_data_addons"]["enable_jupyterhub"] == "${var.enable_jupyterhub}"
    assert terraform.modules["eks_data_addons"]["jupyterhub_helm_config"] == (
        "${local.jupyterhub_helm_config}"
    )


def test_jupyterhub_authenticator_is_chosen_by_variable(terraform: Terraform) -> None:
    variable = terraform.variables["jupyterhub_authenticator"]
    assert variable["default"] != "shared-password", (
        "the shared password must be an explicit choice"
    )
    assert set(re.findall(r'"([\w-]+)"', variable["validation"][0]["condition"])) == {
        "github",
        "generic-oauth",
        "shared-password",
    }
    assert set(terraform.locals["jupyterhub_auth_config"]) == {
        "github",
        "generic-oauth",
        "shared-password",
    }

    password = terraform.resource("random_password", "jupyterhub")
    assert 'var.jupyterhub_authenticator == "shared-password"' in password["count"]
    sensitive = str(terraform.locals["jupyterhub_helm_config"]["set_sensitive"])
    assert "hub.config.SharedPasswordAuthenticator.user_password" in sensitive
    assert "random_password.jupyterhub[0].result" in sensitive
    # the OAuth client secret is never written into a values file
    assert terraform.variables["jupyterhub_oauth_client_secret"]["sensitive"] is True
    assert "GitHubOAuthenticator.client_secret" in sensitive


# -- the MyRetail release -------------------------------------------------------------------------

# Chart value key -> the ECR image (key of local.images) it runs: the catalog restore Job and
# the helm test pods run the RAG API image.
OVERLAY_IMAGES = {
    "finetune": "finetune",
    "inference": "inference",
    "ragApi": "ragApi",
    "chatbotUi": "chatbotUi",
    "catalogRestore": "ragApi",
    "tests": "ragApi",
}
ROLE_ARN = "eks.amazonaws.com/role-arn"
DOCUMENTATION_CIDRS = {"192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"}


def terraform_overlay(terraform: Terraform) -> dict[str, Any]:
    """local.myretail_values_overlay, each `local.myretail_service_accounts["x"]` written out
    as the map that local builds for x (its name and its role annotation)."""
    overlay = terraform.locals["myretail_values_overlay"]
    expanded = {}
    for component, values in overlay.items():
        values = dict(values)
        reference = values.get("serviceAccount")
        if reference is not None:
            match = re.fullmatch(r'\$\{local\.myretail_service_accounts\["(\w+)"\]\}', reference)
            assert match and match.group(1) == component, reference
            values["serviceAccount"] = {
                "name": f"<{component} service account>",
                "annotations": {ROLE_ARN: f"<{component} role>"},
            }
        expanded[component] = values
    return expanded


def test_helm_release_wiring(terraform: Terraform) -> None:
    """The release gets values files only: values/prod.yaml, the overlay of what only
    Terraform knows (output helm_values), the model choices, then the operator's files."""
    release = terraform.resource("helm_release", "myretail")
    assert release["chart"] == "${path.module}/../charts/myretail"
    assert release["values"] == "${local.myretail_values}"
    assert "set" not in release and "dynamic" not in release, "no --set: values files only"
    assert (
        terraform.locals["myretail_prod_values"] == '${file("${path.module}/../values/prod.yaml")}'
    )
    assert normalized(terraform.locals["myretail_values"]) == (
        "${concat([local.myretail_prod_values, local.myretail_values_overlay_yaml, "
        "yamlencode(local.myretail_model_values)], "
        "[for f in var.myretail_extra_values_files : file(f)])}"
    )
    # the manual install gets exactly the overlay the release uses
    assert terraform.outputs["helm_values"]["value"] == "${local.myretail_values_overlay_yaml}"
    assert (
        "yamlencode(local.myretail_values_overlay)"
        in terraform.locals["myretail_values_overlay_yaml"]
    )
    # --wait completes on a first install (the chart has no readiness that needs a hook) and
    # Terraform's namespace, Secrets and capacity check come first
    assert release["wait"] is True
    assert release["timeout"] == "${var.myretail_helm_timeout}"
    assert release["namespace"] == "${kubernetes_namespace_v1.myretail.metadata[0].name}"
    assert release["create_namespace"] is False
    for dependency in ("kubernetes_secret_v1.myretail", "terraform_data.gpu_capacity_check"):
        assert f"${{{dependency}}}" in release["depends_on"], dependency


def test_values_overlay_says_what_only_terraform_knows(terraform: Terraform) -> None:
    settings = leaves(terraform_overlay(terraform))
    static = {
        "global.imageRegistry": "${local.ecr_registry}",
        "global.image.tag": "${var.image_tag}",
        "global.modelStore.uri": "${local.model_store_uri}",
        "global.modelStore.bucket": "${aws_s3_bucket.model_assets.id}",
        "global.modelStore.region": "${var.region}",
        "chatbotUi.service.loadBalancerSourceRanges": "${var.chatbot_ui_allowed_cidrs}",
    }
    for name, value in static.items():
        assert settings[name] == value, name
    assert terraform.locals["model_store_uri"] == (
        "s3://${aws_s3_bucket.model_assets.id}/${var.bucket_prefixes.models}"
    )
    assert terraform.default("bucket_prefixes")["models"] == "models"

    # every project image, hooks and test pods included, from the ECR repository Terraform made
    images = {
        k.removesuffix(".image.repository"): v
        for k, v in settings.items()
        if k.endswith(".image.repository")
    }
    assert images == {
        component: f'${{aws_ecr_repository.service["{image}"].name}}'
        for component, image in OVERLAY_IMAGES.items()
    }
    assert set(terraform.locals["images"]) == CHART_COMPONENTS
    # ...whose names are the chart's defaults when name is "myretail" (the helm test pods
    # default to the RAG API image)
    defaults = chart_values()
    for component, image in OVERLAY_IMAGES.items():
        chart_image = defaults[component]["image"] or defaults["ragApi"]["image"]
        repository = terraform.locals["images"][image]["repository"]
        assert repository.replace("${var.name}", "myretail") == chart_image["repository"]

    # IRSA role ARNs (and fixed names) on the service accounts of the components using S3
    accounts = {k.split(".")[0] for k in settings if ".serviceAccount." in k}
    assert accounts == {"finetune", "inference", "catalogRestore"}
    assert normalized(terraform.locals["myretail_service_accounts"]) == (
        "${{for component, irsa in local.myretail_irsa : component => "
        "{name = irsa.service_account, "
        'annotations = {"eks.amazonaws.com/role-arn" = irsa.role_arn}}}}'
    )
    assert normalized(terraform.locals["myretail_irsa"]) == (
        "${{for role, irsa in local.irsa_roles : irsa.chart_component => "
        "{role_arn = module.irsa[role].iam_role_arn, service_account = irsa.service_account}"
        " if irsa.chart_component != null}}"
    )
    components = {
        role: irsa["chart_component"] for role, irsa in terraform.locals["irsa_roles"].items()
    }
    assert components == {
        "finetune": "finetune",
        "inference": "inference",
        "catalog_restore": "catalogRestore",
        "notebooks": None,
    }


def test_overlay_example_is_what_terraform_writes(terraform: Terraform) -> None:
    """values/aws-overlay.example.yaml has exactly the overlay's keys, with the values
    Terraform gives them for one example account."""
    example = leaves(overlay_example())
    assert set(example) == set(leaves(terraform_overlay(terraform)))

    registry = re.fullmatch(
        r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com", example["global.imageRegistry"]
    )
    assert registry, example["global.imageRegistry"]
    account, region = registry.groups()
    assert (
        terraform.locals["ecr_registry"]
        == "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
    )
    assert example["global.modelStore.region"] == region
    bucket = f"myretail-model-assets-{account}-{region}"
    assert terraform.locals["bucket_name"] == (
        "${coalesce(var.model_assets_bucket_name, "
        '"${var.name}-model-assets-${local.account_id}-${var.region}")}'
    )
    assert example["global.modelStore.bucket"] == bucket
    assert example["global.modelStore.uri"] == f"s3://{bucket}/models"
    assert example["global.image.tag"]

    for component, image in OVERLAY_IMAGES.items():
        repository = terraform.locals["images"][image]["repository"]
        assert example[f"{component}.image.repository"] == repository.replace(
            "${var.name}", "myretail"
        )
    service_accounts = terraform.default("myretail_service_accounts")
    for role, irsa in terraform.locals["irsa_roles"].items():
        component = irsa["chart_component"]
        if component is None:
            continue
        name = example[f"{component}.serviceAccount.name"]
        assert name == service_accounts[role]
        role_name = f"myretail-{role.replace('_', '-')}"  # module.irsa's role_name
        assert example[f"{component}.serviceAccount.annotations.{ROLE_ARN}"] == (
            f"arn:aws:iam::{account}:role/{role_name}"
        )
    ranges = example["chatbotUi.service.loadBalancerSourceRanges"]
    assert ranges and not set(ranges) & DOCUMENTATION_CIDRS

    # every value says where it comes from
    for number, line in enumerate(OVERLAY_EXAMPLE.read_text().splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if content.startswith("- ") or (":" in content and not content.endswith(":")):
            assert "#" in line, f"aws-overlay.example.yaml:{number} has no comment: {line}"


def test_model_values_first_model_and_later_ones(terraform: Terraform) -> None:
    """The release serves myretail_model_tag; myretail_finetune_tag runs the fine-tune that
    publishes a tag (day 0: the served one, so the install trains its first model)."""
    model = leaves(terraform.locals["myretail_model_values"])
    assert model == {
        "inference.model.tag": "${var.myretail_model_tag}",
        "finetune.enabled": '${var.myretail_finetune_tag != ""}',
        "finetune.model.tag": "${var.myretail_finetune_tag}",
    }
    defaults = chart_values()
    assert terraform.default("myretail_model_tag") == defaults["inference"]["model"]["tag"]
    assert terraform.default("myretail_finetune_tag") == ""
    assert defaults["finetune"]["enabled"] is False
    # the manual path sets them with --set: the overlay has no model choice
    assert not {"model", "enabled"} & set(".".join(leaves(terraform_overlay(terraform))).split("."))


def test_helm_timeout_covers_a_first_model(terraform: Terraform) -> None:
    """Helm waits for training and loading on day 0 (about an hour); the inference pods wait
    for their tag at least that long, so Helm's timeout is what a slow day 0 meets first."""
    timeout = terraform.default("myretail_helm_timeout")
    assert 3600 <= timeout <= chart_values()["inference"]["model"]["waitTimeoutSeconds"]


def test_generated_secrets_are_the_charts(terraform: Terraform) -> None:
    """Terraform creates the namespace and the Secrets nobody brings, with the names and keys
    the chart's defaults reference; docs/aws.md creates the other two (tests/infra/test_docs.py)."""
    generated = terraform.locals["myretail_generated_secrets"]
    refs = secret_refs(chart_values())
    wanted = {
        refs["global.qdrant.apiKey"],
        refs["ragApi.adminToken"],
        refs["global.redis.password"],
    }
    assert set(generated.items()) == wanted

    password = terraform.resource("random_password", "myretail")
    assert password["for_each"] == "${local.myretail_generated_secrets}"
    assert password["length"] >= 32
    assert password["special"] is False
    secret = terraform.resource("kubernetes_secret_v1", "myretail")
    assert secret["for_each"] == "${local.myretail_generated_secrets}"
    metadata = one(secret["metadata"])
    assert metadata["name"] == "${each.key}"
    assert metadata["namespace"] == "${kubernetes_namespace_v1.myretail.metadata[0].name}"
    assert secret["data"] == {"${(each.value)}": "${random_password.myretail[each.key].result}"}
    # created on the first apply, before any release (the manual install needs them too)
    namespace = terraform.resource("kubernetes_namespace_v1", "myretail")
    assert "count" not in namespace and "count" not in secret
    assert one(namespace["metadata"])["name"] == "${var.myretail_namespace}"


def test_release_refuses_values_it_cannot_install(terraform: Terraform) -> None:
    """No image tag, or a UI load balancer open to no real client (none, or only
    documentation ranges), fails the release's plan and warns about output helm_values."""
    assert terraform.default("chatbot_ui_allowed_cidrs") == []
    assert set(terraform.locals["documentation_cidrs"]) == DOCUMENTATION_CIDRS
    problems = normalized(terraform.locals["myretail_values_problems"])
    assert 'var.image_tag == ""' in problems
    assert (
        "local.chatbot_ui_load_balancer && length(local.chatbot_ui_client_cidrs) == 0" in problems
    )
    assert terraform.locals["chatbot_ui_load_balancer"] == (
        '${local.myretail_settings.chatbot_ui_service_type == "LoadBalancer"}'
    )
    condition = "${length(local.myretail_values_problems) == 0}"
    release = terraform.resource("helm_release", "myretail")
    (precondition,) = one(release["lifecycle"])["precondition"]
    assert precondition["condition"] == condition
    (assertion,) = terraform.checks["myretail_values_overlay"]["assert"]
    assert assertion["condition"] == condition


# -- GPU capacity ---------------------------------------------------------------------------------


def gpus_requested_at_most(values: dict[str, Any], notebooks: int) -> dict[str, int]:
    """GPUs the release and JupyterHub may request at once, from the release's values."""
    inference = values["inference"]
    autoscaling = inference["autoscaling"]
    replicas = autoscaling["maxReplicas"] if autoscaling["enabled"] else inference["replicaCount"]
    surge = inference["strategy"]["rollingUpdate"]["maxSurge"]
    if isinstance(surge, str):  # a percentage, rounded up
        surge = -(-int(surge.rstrip("%")) * replicas // 100)
    return {
        "inference": (replicas + surge) * inference["gpu"]["count"],
        "finetune": values["finetune"]["gpu"]["count"],
        "notebooks": notebooks,
    }


def test_gpu_node_group_holds_every_gpu_pod(terraform: Terraform) -> None:
    """The GPU node group's default maximum covers the inference autoscaler's maximum, one
    surge pod per rollout, the fine-tune Job and the GPU notebooks JupyterHub allows, with
    the numbers read from the chart, values/prod.yaml and Terraform."""
    demand = gpus_requested_at_most(
        prod_values(), terraform.default("jupyterhub_max_gpu_notebooks")
    )
    assert demand["inference"] >= 5 and demand["finetune"] >= 1 and demand["notebooks"] >= 1
    instance_types = terraform.default("gpu_instance_types")
    assert all(G6_SIZES[t]["gpus"] == 1 for t in instance_types), "one GPU per node"
    assert terraform.default("gpu_node_count")["max"] >= sum(demand.values()), demand

    # the same sum guards every plan (capacity.tf), over the values Helm merges
    check = terraform.resource("terraform_data", "gpu_capacity_check")
    (precondition,) = one(check["lifecycle"])["precondition"]
    assert precondition["condition"] == "${var.gpu_node_count.max >= local.gpus_at_most}"
    assert terraform.locals["gpus_at_most"] == "${sum(values(local.gpu_demand))}"
    gpu_demand = {k: normalized(v) for k, v in terraform.locals["gpu_demand"].items()}
    assert gpu_demand == {
        "inference": "${(local.inference_replicas_at_most + local.inference_surge_pods)"
        " * local.myretail_settings.inference_gpus}",
        "finetune": "${local.myretail_settings.finetune_gpus}",
        "notebooks": "${var.enable_jupyterhub ? var.jupyterhub_max_gpu_notebooks : 0}",
    }
    read = {
        "inference_autoscaling": "v.inference.autoscaling.enabled",
        "inference_replicas": "v.inference.replicaCount",
        "inference_max_replicas": "v.inference.autoscaling.maxReplicas",
        "inference_max_surge": "v.inference.strategy.rollingUpdate.maxSurge",
        "inference_gpus": "v.inference.gpu.count",
        "finetune_gpus": "v.finetune.gpu.count",
    }
    settings = terraform.locals["myretail_settings"]
    for name, path in read.items():
        assert settings[name] == (
            f"${{coalesce([for v in local.myretail_value_layers : try({path}, null)] ...)}}"
        ), name
    layers = normalized(terraform.locals["myretail_value_layers"])
    for layer in (
        "charts/${dir}/values.yaml",
        'yamldecode(file("${local.chart_dir}/values.yaml"))',
        "yamldecode(local.myretail_prod_values)",
        "local.myretail_values_overlay, local.myretail_model_values",
        "yamldecode(file(f))",
    ):
        assert layer in layers, layer
    assert layers.startswith("${reverse(concat("), "the last layer first"


def test_day_zero_render_fits_the_gpu_node_group(
    terraform: Terraform, day_zero_render: Rendered
) -> None:
    """The same sum from the rendered install: GPUs per inference pod times its autoscaler's
    maximum plus the Deployment's surge, the fine-tune Job's, and the notebooks."""
    deployment = day_zero_render.get("Deployment", "myretail-inference")
    per_pod = gpus_of(deployment)
    (hpa,) = [
        o
        for o in day_zero_render.of_kind("HorizontalPodAutoscaler")
        if o["spec"]["scaleTargetRef"]["name"] == "myretail-inference"
    ]
    surge = deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    assert isinstance(surge, int), "a pod count (a percentage would round up)"
    (finetune,) = [o for o in day_zero_render.of_kind("Job") if gpus_of(o)]
    others = [o for o in day_zero_render.objects if gpus_of(o) and o not in (deployment, finetune)]
    assert not others, [o["metadata"]["name"] for o in others]
    demand = (
        (hpa["spec"]["maxReplicas"] + surge) * per_pod
        + gpus_of(finetune)
        + terraform.default("jupyterhub_max_gpu_notebooks")
    )
    assert per_pod == 1 and terraform.default("gpu_node_count")["max"] >= demand


def gpus_of(workload: dict[str, Any]) -> int:
    return sum(
        int(c.get("resources", {}).get("limits", {}).get(GPU_TAINT, 0))
        for c in containers(workload)
    )


def test_day_zero_images_come_from_terraforms_repositories(
    terraform: Terraform, day_zero_render: Rendered
) -> None:
    """Every container, hooks and helm test pods included, runs an image of an ECR repository
    Terraform creates at the overlay's one tag, or a pinned public image."""
    overlay = overlay_example()
    registry, tag = overlay["global"]["imageRegistry"], overlay["global"]["image"]["tag"]
    repositories = {
        image["repository"].replace("${var.name}", "myretail")
        for image in terraform.locals["images"].values()
    }
    used = set()
    for owner, container in rendered_containers(day_zero_render):
        image = container["image"]
        if image.startswith(f"{registry}/"):
            repository, _, image_tag = image.removeprefix(f"{registry}/").partition(":")
            assert repository in repositories and image_tag == tag, (owner, image)
            used.add(repository)
        else:
            assert image.startswith("docker.io/"), (owner, image)
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest")
    assert used == repositories


def test_gpu_pods_fit_every_gpu_instance_type(terraform: Terraform) -> None:
    """Each GPU pod's requests fit the smallest default type, with room for the kubelet's
    reservations and the node's daemons."""
    values = prod_values()
    profiles = yaml.safe_load(
        re.sub(r"\$\{\w+\}", "x", (TF_DIR / "helm-values" / "jupyterhub-values.yaml").read_text())
    )["singleuser"]["profileList"]
    (gpu_notebook,) = [p["kubespawner_override"] for p in profiles if p["slug"] == "gpu"]
    requests = {
        "inference": values["inference"]["resources"]["requests"],
        "finetune": values["finetune"]["resources"]["requests"],
        "notebook": {"cpu": gpu_notebook["cpu_guarantee"], "memory": gpu_notebook["mem_guarantee"]},
    }
    smallest = min(terraform.default("gpu_instance_types"), key=lambda t: G6_SIZES[t]["vcpus"])
    for pod, wanted in requests.items():
        cpu = float(str(wanted["cpu"]).removesuffix("m")) / (
            1000 if str(wanted["cpu"]).endswith("m") else 1
        )
        memory = float(re.sub(r"(Gi|G)$", "", str(wanted["memory"])))
        assert cpu <= G6_SIZES[smallest]["vcpus"] - 1, (pod, smallest)
        assert memory <= 0.9 * G6_SIZES[smallest]["memory_gib"], (pod, smallest)
    assert gpu_notebook["extra_resource_guarantees"] == {GPU_TAINT: "1"}, "one GPU per notebook"


def test_jupyterhub_quota_caps_gpu_notebooks(terraform: Terraform) -> None:
    quota = terraform.resource("kubernetes_resource_quota_v1", "jupyterhub_gpus")
    assert quota["count"] == "${var.enable_jupyterhub ? 1 : 0}"
    assert (
        one(quota["metadata"])["namespace"]
        == "${kubernetes_namespace_v1.jupyterhub[0].metadata[0].name}"
    )
    assert one(quota["spec"])["hard"] == {
        f"requests.{GPU_TAINT}": "${var.jupyterhub_max_gpu_notebooks}"
    }


def test_spot_quota_is_checked(terraform: Terraform) -> None:
    """A plan warns when the G-instance spot vCPU quota cannot hold the node group's maximum
    of the largest type (docs/aws.md states the number, tests/infra/test_docs.py)."""
    check = terraform.checks["gpu_spot_quota"]
    quota = check["data"][0]["aws_servicequotas_service_quota"]["gpu_spot"]
    assert quota == {"service_code": "ec2", "quota_code": "L-3819A6DF"}
    (assertion,) = check["assert"]
    assert assertion["condition"] == (
        "${data.aws_servicequotas_service_quota.gpu_spot.value >= local.gpu_spot_vcpus_at_most}"
    )
    assert normalized(terraform.locals["gpu_spot_vcpus_at_most"]) == (
        "${var.gpu_node_count.max * "
        "max([for t in data.aws_ec2_instance_type.gpu : t.default_vcpus] ...)}"
    )
    instance_type = terraform.data["aws_ec2_instance_type"]["gpu"]
    assert instance_type["for_each"] == "${toset(var.gpu_instance_types)}"


def test_outputs(terraform: Terraform) -> None:
    outputs = terraform.outputs
    assert outputs["configure_kubectl"]["value"].startswith("aws eks update-kubeconfig")
    assert outputs["model_assets_bucket"]["value"] == "${aws_s3_bucket.model_assets.id}"
    assert "docker push" in outputs["ecr_push_commands"]["value"]
    assert "aws ecr get-login-password" in outputs["ecr_push_commands"]["value"]
    assert outputs["jupyterhub_url"]["value"] == "${local.jupyterhub_url}"
    assert outputs["jupyterhub_password"]["sensitive"] is True
    assert "random_password.jupyterhub" in outputs["jupyterhub_password"]["value"]
    # the role of every entry of local.irsa_roles, under the role's key
    assert "IMAGE_PREFIX=${var.name}" in outputs["ecr_push_commands"]["value"]
    assert outputs["ecr_image_prefix"]["value"] == "${var.name}"
    assert outputs["irsa_role_arns"]["value"] == (
        "${{for role, irsa in module.irsa : role => irsa.iam_role_arn}}"
    )
