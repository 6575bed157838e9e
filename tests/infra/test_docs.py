"""docs/aws.md covers the whole path and names only outputs that exist."""

from __future__ import annotations

import re

from .conftest import REPO, Terraform

DOC = REPO / "docs" / "aws.md"


def test_aws_page_covers_the_whole_path() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = [h.lower() for h in re.findall(r"(?m)^#+ (.+)$", text)]
    for topic in ("prerequisites", "infrastructure", "push", "install", "jupyterhub", "chat"):
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
