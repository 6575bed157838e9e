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

from .conftest import DOCKERFILE, IMAGE_TARGETS, REPO, TF_DIR, Terraform, load_hcl, parse_dockerfile

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


def one(block: Any) -> Any:
    """A nested block (`metadata { ... }`) parses as a one-element list."""
    if isinstance(block, list):
        (item,) = block
        return item
    return block


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
    for kind, name in set(re.findall(r"\bdata\.(\w+)\.(\w+)", text)):
        if name not in terraform.data.get(kind, {}):
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


def release_settings(terraform: Terraform) -> str:
    """local.myretail_release_settings (a merge of maps), whitespace normalized."""
    return " ".join(terraform.locals["myretail_release_settings"].split())


def test_helm_release_wiring(terraform: Terraform) -> None:
    release = terraform.resource("helm_release", "myretail")
    assert release["chart"] == "${path.module}/../charts/myretail"
    assert 'file("${path.module}/../values/prod.yaml")' in release["values"]
    assert "set" not in release, "every --set comes from the two dynamic blocks"

    dynamic = {}
    for block in release["dynamic"]:
        body = block["set"]
        (content,) = body["content"]
        dynamic[content["name"]] = (body["for_each"], content["value"])
    # every setting of local.myretail_release_settings is one --set
    assert dynamic["${set.key}"] == ("${local.myretail_release_settings}", "${set.value}")
    settings = release_settings(terraform)

    static = {
        "global.imageRegistry": "local.ecr_registry",
        "global.modelStore.uri": "local.model_store_uri",
        "global.modelStore.bucket": "aws_s3_bucket.model_assets.id",
    }
    for name, value in static.items():
        assert f'"{name}" = {value}' in settings, name
    assert terraform.locals["model_store_uri"] == (
        "s3://${aws_s3_bucket.model_assets.id}/${var.bucket_prefixes.models}"
    )
    assert terraform.default("bucket_prefixes")["models"] == "models"

    # one image per chart component, keyed like the chart
    assert (
        "{for component, repo in aws_ecr_repository.service : "
        '"${component}.image.repository" => repo.name}'
    ) in settings
    assert dynamic["${set.key}.image.tag"] == ("${aws_ecr_repository.service}", "${var.image_tag}")
    assert set(terraform.locals["images"]) == CHART_COMPONENTS

    # IRSA role ARNs (and fixed names) on the service accounts
    annotation = r"${component}.serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn"
    assert (
        f'{{for component, irsa in local.myretail_irsa : "{annotation}" => irsa.role_arn}}'
    ) in settings, settings
    assert (
        "{for component, irsa in local.myretail_irsa : "
        '"${component}.serviceAccount.name" => irsa.service_account}'
    ) in settings
    assert " ".join(terraform.locals["myretail_irsa"].split()) == (
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
    assert outputs["irsa_role_arns"]["value"] == (
        "${{for role, irsa in module.irsa : role => irsa.iam_role_arn}}"
    )
