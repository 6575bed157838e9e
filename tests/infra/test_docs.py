"""The deployment docs work as written: docs/aws.md covers the whole path in day-0 order and
names only outputs and variables that exist; its commands, docs/deploy.md's and those of
README.md's "Deploy to Kubernetes" and "AWS" sections parse as shell, keep the install's
values on upgrades, use the chart's ports, Secrets, snapshot location and model tag, and the
timeout and quota Terraform is sized for."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest

from .conftest import (
    G6_SIZES,
    OVERLAY_FILE,
    REPO,
    TF_DIR,
    Rendered,
    Terraform,
    chart_values,
    load_hcl,
    rendered_containers,
    secret_refs,
)

DOC = REPO / "docs" / "aws.md"
DEPLOY_DOC = REPO / "docs" / "deploy.md"
README_SECTIONS = ("Deploy to Kubernetes", "AWS")
RELEASE = "myretail"


def readme_sections() -> str:
    """README.md's sections about deploying (others belong to other parts of the project)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"(?m)^## ", text)
    found = [s for s in sections if s.split("\n", 1)[0].strip() in README_SECTIONS]
    assert len(found) == len(README_SECTIONS), "README.md lost a deploy section"
    return "\n".join(found)


DOCS = {
    "docs/aws.md": lambda: DOC.read_text(encoding="utf-8"),
    "docs/deploy.md": lambda: DEPLOY_DOC.read_text(encoding="utf-8"),
    "README.md": readme_sections,
}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced code block."""
    return re.findall(r"(?ms)^```(\w*)\n(.*?)^```", text)


def shell_commands(text: str) -> list[str]:
    """The commands of the bash blocks: continuation lines joined, comments dropped."""
    commands = []
    for language, body in fenced_blocks(text):
        if language != "bash":
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def all_commands() -> list[tuple[str, str]]:
    return [(doc, command) for doc, read in DOCS.items() for command in shell_commands(read())]


def words(command: str) -> list[str]:
    return shlex.split(command.split(" #", 1)[0])


def helm_commands(verb: str) -> list[tuple[str, list[str]]]:
    found = []
    for doc, command in all_commands():
        if command.startswith(f"helm {verb} "):
            found.append((doc, words(command)))
    return found


def option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == option]


def seconds(duration: str) -> int:
    """A Helm duration like 90m, 1h30m or 600s in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def test_aws_page_covers_the_whole_path() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = [h.lower() for h in re.findall(r"(?m)^#+ (.+)$", text)]
    for topic in (
        "prerequisites",
        "infrastructure",
        "push",
        "secrets",
        "catalog",
        "install",
        "check",
        "jupyterhub",
        "chat",
    ):
        assert any(topic in h for h in headings), f"docs/aws.md has no section on {topic}"
    assert any("tear down" in h for h in headings)
    for command in ("terraform apply", "terraform init", "docker login", "terraform -chdir"):
        assert command in text, command
    assert "destroy" in text


def test_aws_page_names_real_outputs_and_variables(terraform: Terraform) -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in re.findall(r"terraform(?: -chdir=\S+)? output(?: -raw)? (\w+)", text):
        assert name in terraform.outputs, f"docs/aws.md uses unknown output {name}"
    for name in re.findall(r"(?m)^(\w+)\s+=", text):
        assert name in terraform.variables, f"docs/aws.md sets unknown variable {name}"
    for name in re.findall(r"-var (\w+)=", text):
        assert name in terraform.variables, name
    # ...and so do the other deploy docs
    for doc in ("docs/deploy.md", "README.md"):
        for name in re.findall(r"terraform(?: -chdir=\S+)? output(?: -raw)? (\w+)", DOCS[doc]()):
            assert name in terraform.outputs, f"{doc} uses unknown output {name}"


def test_day_zero_in_order() -> None:
    """terraform apply, push the images, the two Secrets, the data and first snapshot, the
    install with its first model, helm test: each step's command after the previous one."""
    commands = shell_commands(DOC.read_text(encoding="utf-8"))
    steps = [
        "terraform apply",
        "ci/build-images.sh",
        "create secret generic myretail-openai",
        "myretail-catalog export --from-csv",
        "--set finetune.enabled=true --set finetune.model.tag=",
        "helm test",
    ]
    first = {step: next(i for i, c in enumerate(commands) if step in c) for step in steps}
    assert list(first.values()) == sorted(first.values()), first


@pytest.mark.parametrize("doc", DOCS)
def test_code_blocks_are_labelled_and_shell_blocks_parse(doc: str) -> None:
    bash = shutil.which("bash")
    assert bash, "bash is needed to check the docs' commands"
    for language, body in fenced_blocks(DOCS[doc]()):
        assert language in {"bash", "hcl"}, f"{doc}: a code block without a known language"
        if language == "bash":
            run = subprocess.run([bash, "-n"], input=body, capture_output=True, text=True)
            assert run.returncode == 0, f"{doc}: {run.stderr}\n{body}"


def test_prod_installs_and_upgrades_keep_the_install_values() -> None:
    """A prod install or upgrade passes the overlay of what only Terraform knows after
    values/prod.yaml, and an upgrade also the installed release's values."""
    commands = helm_commands("install") + helm_commands("upgrade")
    prod = [(doc, argv) for doc, argv in commands if "values/prod.yaml" in argv]
    assert len(prod) >= 5, "the docs install and upgrade prod"
    for doc, argv in prod:
        files = option_values(argv, "-f")
        assert files[-2:] == ["values/prod.yaml", OVERLAY_FILE], (doc, argv)
        if "--install" not in argv and argv[1] == "upgrade":
            assert "--reset-then-reuse-values" in argv, (doc, argv)
    # the overlay file is Terraform's output
    writes = [c for _, c in all_commands() if c.endswith(f"> {OVERLAY_FILE}")]
    assert writes and all(
        c == f"terraform -chdir=infra-terraform output -raw helm_values > {OVERLAY_FILE}"
        for c in writes
    )


def test_first_install_fine_tunes_the_served_tag(terraform: Terraform) -> None:
    """The day-0 install produces the tag inference serves, and waits as long as Terraform's
    release does."""
    served = chart_values()["inference"]["model"]["tag"]
    installs = [argv for _, argv in helm_commands("upgrade") if "--install" in argv]
    installs += [argv for _, argv in helm_commands("install") if "values/prod.yaml" in argv]
    prod = [argv for argv in installs if "values/prod.yaml" in argv]
    assert prod
    for argv in prod:
        settings = option_values(argv, "--set")
        assert "finetune.enabled=true" in settings, argv
        assert f"finetune.model.tag={served}" in settings, argv
        assert "--wait" in argv, argv
        (timeout,) = option_values(argv, "--timeout")
        assert seconds(timeout) == terraform.default("myretail_helm_timeout"), argv


def test_ui_port_forward_uses_the_service_port(day_zero_render: Rendered) -> None:
    """Each page forwards to the port the UI's Service has where it points: the chart's plain
    port on the clusters of deploy.md, the TLS port of the prod NLB on AWS."""
    plain = chart_values()["chatbotUi"]["service"]["port"]
    (tls,) = day_zero_render.get("Service", f"{RELEASE}-chatbot-ui")["spec"]["ports"]
    assert tls["port"] == chart_values()["chatbotUi"]["service"]["httpsPort"]
    expected = {"docs/aws.md": tls["port"], "docs/deploy.md": plain, "README.md": plain}
    forwards = []
    for doc, command in all_commands():
        match = re.search(
            rf"port-forward (?:svc|service)/{RELEASE}-chatbot-ui (\d+):(\d+)", command
        )
        if match:
            forwards.append(doc)
            assert int(match.group(2)) == expected[doc], (doc, command)
    assert {"docs/aws.md", "docs/deploy.md"} <= set(forwards)


def created_secrets(text: str) -> dict[str, str]:
    """Secret name -> key of every `kubectl ... create secret generic` command."""
    created = {}
    for command in shell_commands(text):
        argv = words(command)
        if argv[:1] == ["kubectl"] and "create" in argv and "generic" in argv:
            name = argv[argv.index("generic") + 1]
            (literal,) = [w for w in argv if w.startswith("--from-literal=")]
            created[name] = literal.removeprefix("--from-literal=").split("=", 1)[0]
    return created


def test_every_secret_the_chart_references_is_created(terraform: Terraform) -> None:
    """On the AWS path Terraform creates some Secrets and docs/aws.md the others, exactly the
    ones the chart references; docs/deploy.md creates all of them for other clusters."""
    referenced = set(secret_refs(chart_values()).values())
    generated = set(terraform.locals["myretail_generated_secrets"].items())
    by_user = set(created_secrets(DOC.read_text(encoding="utf-8")).items())
    assert by_user, "docs/aws.md creates the Secrets the user brings"
    assert not by_user & generated, "docs/aws.md recreates a Secret Terraform generates"
    assert generated | by_user == referenced
    assert set(created_secrets(DEPLOY_DOC.read_text(encoding="utf-8")).items()) == referenced


def test_every_secret_the_install_reads_is_created(
    terraform: Terraform, day_zero_render: Rendered
) -> None:
    """Each Secret key a pod of the rendered first install reads (hooks and helm test pods
    included) is generated by Terraform or created by docs/aws.md."""
    created = set(terraform.locals["myretail_generated_secrets"].items())
    created |= set(created_secrets(DOC.read_text(encoding="utf-8")).items())
    read = set()
    for owner, container in rendered_containers(day_zero_render):
        for variable in container.get("env", []):
            ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                read.add((ref["name"], ref["key"]))
                assert (ref["name"], ref["key"]) in created, (owner, ref)
        assert not [e for e in container.get("envFrom", []) if "secretRef" in e], owner
    assert read == created


def test_first_snapshot_goes_where_the_restore_reads() -> None:
    """The export writes the portable snapshot folder the restore Job reads by default."""
    default = chart_values()["catalogRestore"]["snapshot"]["uri"]
    assert not default.endswith(".snapshot"), "the default is a portable snapshot folder"
    expected = default.replace("{{ .Values.global.modelStore.bucket }}", "$BUCKET")
    exports = [words(c) for _, c in all_commands() if "myretail-catalog export" in c]
    exports = [argv for argv in exports if "--from-csv" in argv]
    assert len(exports) >= 2, "from the dev venv and from the image"
    for argv in exports:
        assert option_values(argv, "--to") == [expected], argv
        (source,) = option_values(argv, "--from-csv")
        assert source.endswith("data/catalog.csv"), argv
    bucket = [c for _, c in all_commands() if c.startswith("BUCKET=")]
    assert bucket == ["BUCKET=$(terraform -chdir=infra-terraform output -raw model_assets_bucket)"]


def test_images_are_pushed_with_the_overlay_tag() -> None:
    """The tag the docs push is the image_tag the example tfvars (and so the overlay) name."""
    tag = load_hcl(TF_DIR / "terraform.tfvars.example")["image_tag"]
    text = DOC.read_text(encoding="utf-8")
    assert re.findall(r"IMAGE_TAG=(\S+)", text) == [tag]
    assert re.findall(r"/rag-api:(\S+?)\"", text) == [tag]


def test_spot_quota_covers_the_node_group_maximum(terraform: Terraform) -> None:
    """docs/aws.md asks for the spot vCPUs the GPU node group may use at its maximum."""
    text = DOC.read_text(encoding="utf-8")
    nodes = terraform.default("gpu_node_count")["max"]
    largest = max(G6_SIZES[t]["vcpus"] for t in terraform.default("gpu_instance_types"))
    assert f"{nodes} × {largest} = **{nodes * largest} vCPUs**" in text
    assert "L-3819A6DF" in text
