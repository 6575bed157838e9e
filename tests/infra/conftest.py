"""Shared fixtures of the infrastructure tests: parsed Terraform, Dockerfiles, workflows.

Nothing here needs a cloud account, Docker or a terraform binary: Terraform is read with
python-hcl2, Dockerfiles with a small instruction parser, workflows with PyYAML.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "infra-terraform"
SERVICES = ("finetune", "inference", "rag_api", "chatbot_ui")

_HCL_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_HCL_OPTIONS)


@dataclass
class Terraform:
    """The blocks of every .tf file in infra-terraform/, merged by kind and name."""

    files: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]

    def policy_document(self, name: str) -> dict[str, Any]:
        return self.data["aws_iam_policy_document"][name]

    def default(self, variable: str) -> Any:
        return self.variables[variable]["default"]

    @property
    def text(self) -> str:
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(TF_DIR.glob("*.tf")))


def _merge_labeled(target: dict[str, dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        for kind, named in block.items():
            for name, body in named.items():
                assert name not in target.setdefault(kind, {}), f"duplicate {kind}.{name}"
                target[kind][name] = body


def parse_terraform() -> Terraform:
    files = {p.name: load_hcl(p) for p in sorted(TF_DIR.glob("*.tf"))}
    tf = Terraform(files=files)
    for parsed in files.values():
        _merge_labeled(tf.resources, parsed.get("resource", []))
        _merge_labeled(tf.data, parsed.get("data", []))
        for kind, target in (
            ("module", tf.modules),
            ("variable", tf.variables),
            ("output", tf.outputs),
        ):
            for block in parsed.get(kind, []):
                for name, body in block.items():
                    assert name not in target, f"duplicate {kind} {name}"
                    target[name] = body
        for block in parsed.get("locals", []):
            for name, value in block.items():
                assert name not in tf.locals, f"duplicate local {name}"
                tf.locals[name] = value
        tf.terraform.extend(parsed.get("terraform", []))
        tf.providers.extend(parsed.get("provider", []))
    return tf


@pytest.fixture(scope="session")
def terraform() -> Terraform:
    return parse_terraform()


# -- Dockerfiles ------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def exec_form(self) -> list[str]:
        """The JSON (exec) form of CMD / ENTRYPOINT; shell form is not allowed here."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"line {self.line}: {self.keyword} must be exec form"
        return value

    def flags_and_words(self) -> tuple[dict[str, str], list[str]]:
        flags: dict[str, str] = {}
        words: list[str] = []
        for word in shlex.split(self.args):
            if word.startswith("--") and not words:
                key, _, value = word[2:].partition("=")
                flags[key] = value
            else:
                words.append(word)
        return flags, words


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction]

    @property
    def arg_defaults(self) -> dict[str, str]:
        defaults: dict[str, str] = {}
        for ins in self.instructions:
            if ins.keyword == "ARG" and "=" in ins.args:
                name, _, value = ins.args.partition("=")
                defaults.setdefault(name.strip(), value.strip().strip('"'))
        return defaults

    def resolve(self, text: str) -> str:
        defaults = self.arg_defaults
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], text)

    @property
    def stages(self) -> list[list[Instruction]]:
        stages: list[list[Instruction]] = []
        for ins in self.instructions:
            if ins.keyword == "FROM":
                stages.append([])
            if stages:
                stages[-1].append(ins)
        return stages

    @property
    def final_stage(self) -> list[Instruction]:
        return self.stages[-1]

    def base_images(self) -> list[str]:
        images = []
        for stage in self.stages:
            image = stage[0].args.split()[0]
            images.append(self.resolve(image))
        return images

    def env(self, stage: list[Instruction]) -> dict[str, str]:
        values: dict[str, str] = {}
        for ins in stage:
            if ins.keyword == "ENV":
                for word in shlex.split(ins.args):
                    key, _, value = word.partition("=")
                    values[key] = value
        return values


def parse_dockerfile(path: Path) -> Dockerfile:
    instructions: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), " ".join(args.split()), start))
    return Dockerfile(path, instructions)


@pytest.fixture(scope="session")
def dockerfiles() -> dict[str, Dockerfile]:
    return {svc: parse_dockerfile(REPO / "services" / svc / "Dockerfile") for svc in SERVICES}


# -- the runtime contract (docs/contracts.md) -------------------------------------------------


@dataclass(frozen=True)
class EntryPoint:
    service_dir: str
    script: str
    port: int | None


def contract_entry_points() -> list[EntryPoint]:
    """Rows of the entry-point table of docs/contracts.md."""
    text = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    rows = []
    pattern = re.compile(
        r"^\|\s*`(?P<package>\w+)`\s*\((?P<dir>\w+)\)\s*\|\s*`(?P<script>[\w-]+)`"
        r".*\|\s*(?P<port>\d+|–|-)\s*\|\s*$"
    )
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            port = match["port"]
            rows.append(
                EntryPoint(match["dir"], match["script"], int(port) if port.isdigit() else None)
            )
    return rows
