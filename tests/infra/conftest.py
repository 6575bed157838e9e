"""Shared fixtures of the infrastructure tests: parsed Terraform, the chart's values, the
images' Dockerfile, workflows.

Nothing here needs a cloud account, Docker or a terraform binary: Terraform is read with
python-hcl2, the Dockerfile with a small instruction parser, workflows with PyYAML.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "infra-terraform"
# The values overlay of the AWS install: Terraform's output helm_values, the file name the
# docs write it to, and the committed example of it.
OVERLAY_FILE = "myretail-aws.yaml"
OVERLAY_EXAMPLE = REPO / "values" / "aws-overlay.example.yaml"
SERVICES = ("finetune", "inference", "rag_api", "chatbot_ui")
# The one Dockerfile of the four images, and services/<dir> -> its target there (which is also
# the image's, and its ECR repository's, name).
DOCKERFILE = REPO / "services" / "Dockerfile"
IMAGE_TARGETS = {
    "finetune": "finetune",
    "inference": "inference",
    "rag_api": "rag-api",
    "chatbot_ui": "chatbot-ui",
}

_HCL_OPTIONS = SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


def load_hcl(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=_HCL_OPTIONS)


def one(block: Any) -> Any:
    """A nested block (`metadata { ... }`) parses as a one-element list."""
    if isinstance(block, list):
        (item,) = block
        return item
    return block


def normalized(text: str) -> str:
    return " ".join(text.split())


def leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted key -> value (lists are values)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    found: dict[str, Any] = {}
    for key, value in tree.items():
        found.update(leaves(value, f"{prefix}.{key}" if prefix else key))
    return found


@dataclass
class Terraform:
    """The blocks of every .tf file in infra-terraform/, merged by kind and name."""

    files: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)
    providers: list[dict[str, Any]] = field(default_factory=list)
    moved: list[dict[str, str]] = field(default_factory=list)

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]

    def policy_document(self, name: str) -> dict[str, Any]:
        return self.data["aws_iam_policy_document"][name]

    def default(self, variable: str) -> Any:
        return self.variables[variable]["default"]

    def scoped_data(self) -> dict[str, dict[str, Any]]:
        """The data sources declared inside check blocks (kind -> name -> body)."""
        found: dict[str, dict[str, Any]] = {}
        for check in self.checks.values():
            _merge_labeled(found, check.get("data", []))
        return found

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
            ("check", tf.checks),
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
        tf.moved.extend(parsed.get("moved", []))
    return tf


@pytest.fixture(scope="session")
def terraform() -> Terraform:
    return parse_terraform()


# -- the chart's values -----------------------------------------------------------------------

# The chart tests' render helpers merge the defaults the way the umbrella sees them; reading
# values needs no Helm engine (the module only loads it when rendering).
sys.path.insert(0, str(REPO / "tests" / "chart"))
from chart_render import (  # noqa: E402
    Rendered,
    chart_defaults,
    containers,
    deep_merge,
    load_env_values,
    render,
)


def chart_values(*overrides: dict[str, Any]) -> dict[str, Any]:
    """The chart's defaults (subcharts' under their keys) with values layered over them."""
    values = chart_defaults()
    for override in overrides:
        values = deep_merge(values, override)
    return values


def prod_values() -> dict[str, Any]:
    """What an EKS install gets from the chart and values/prod.yaml."""
    return chart_values(load_env_values("prod"))


def overlay_example() -> dict[str, Any]:
    return yaml.safe_load(OVERLAY_EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def day_zero_render() -> Rendered:
    """The first install on EKS as docs/aws.md and Terraform make it: values/prod.yaml, the
    overlay output helm_values writes (its example: values/aws-overlay.example.yaml), and the
    fine-tune of the tag inference serves."""
    served = chart_values()["inference"]["model"]["tag"]
    first_model = {"finetune": {"enabled": True, "model": {"tag": served}}}
    values = deep_merge(deep_merge(load_env_values("prod"), overlay_example()), first_model)
    return render(values)


def rendered_containers(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """("<kind>/<name>", container) of every container and init container of the render,
    hooks and helm test pods included."""
    return [
        (f"{o['kind']}/{o['metadata']['name']}", container)
        for o in rendered.objects
        for container in containers(o)
    ]


def secret_refs(values: Any, path: str = "") -> dict[str, tuple[str, str]]:
    """Every Secret key the values reference: value path -> (Secret name, key), for each
    {existingSecret, key} pair with a Secret named."""
    found: dict[str, tuple[str, str]] = {}
    if isinstance(values, dict):
        if values.get("existingSecret") and "key" in values:
            found[path] = (values["existingSecret"], values["key"])
        for name, value in values.items():
            found.update(secret_refs(value, f"{path}.{name}" if path else name))
    return found


# vCPUs and GPUs (NVIDIA L4) of the g6 sizes: AWS's published instance specifications.
G6_SIZES = {
    "g6.xlarge": {"vcpus": 4, "memory_gib": 16, "gpus": 1},
    "g6.2xlarge": {"vcpus": 8, "memory_gib": 32, "gpus": 1},
    "g6.4xlarge": {"vcpus": 16, "memory_gib": 64, "gpus": 1},
    "g6.8xlarge": {"vcpus": 32, "memory_gib": 128, "gpus": 1},
    "g6.12xlarge": {"vcpus": 48, "memory_gib": 192, "gpus": 4},
    "g6.16xlarge": {"vcpus": 64, "memory_gib": 256, "gpus": 1},
    "g6.24xlarge": {"vcpus": 96, "memory_gib": 384, "gpus": 4},
    "g6.48xlarge": {"vcpus": 192, "memory_gib": 768, "gpus": 8},
}


# -- the images' Dockerfile ------------------------------------------------------------------


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
class Stage:
    """`FROM <base> AS <name>` and the instructions after it (the FROM line first)."""

    instructions: list[Instruction]

    @property
    def base(self) -> str:
        return self.instructions[0].args.split()[0]

    @property
    def name(self) -> str | None:
        words = self.instructions[0].args.split()
        return words[2] if len(words) == 3 and words[1].upper() == "AS" else None

    def copied_from(self) -> list[str]:
        """The stages (or images) this stage copies files from (`COPY --from=...`)."""
        sources = []
        for ins in self.instructions:
            if ins.keyword == "COPY":
                flags, _ = ins.flags_and_words()
                if "from" in flags:
                    sources.append(flags["from"])
        return sources


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction]

    @property
    def global_args(self) -> list[Instruction]:
        """The ARGs before the first FROM: the build arguments every stage may use."""
        found = []
        for ins in self.instructions:
            if ins.keyword == "FROM":
                break
            if ins.keyword == "ARG":
                found.append(ins)
        return found

    def arg_values(self, build_args: dict[str, str] | None = None) -> dict[str, str]:
        """Global build arguments: their defaults (which may use earlier ones), or overrides."""
        values: dict[str, str] = {}
        for ins in self.global_args:
            name, _, default = ins.args.partition("=")
            name = name.strip()
            given = (build_args or {}).get(name)
            values[name] = given if given is not None else self._expand(default.strip('"'), values)
        return values

    @staticmethod
    def _expand(text: str, values: dict[str, str]) -> str:
        return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], text)

    def resolve(self, text: str, build_args: dict[str, str] | None = None) -> str:
        return self._expand(text, self.arg_values(build_args))

    @functools.cached_property
    def stages(self) -> list[Stage]:
        stages: list[Stage] = []
        for ins in self.instructions:
            if ins.keyword == "FROM":
                stages.append(Stage([]))
            if stages:
                stages[-1].instructions.append(ins)
        return stages

    def stage(self, name: str) -> Stage:
        (found,) = [s for s in self.stages if s.name == name]
        return found

    def image(self, target: str, build_args: dict[str, str] | None = None) -> Image:
        return Image(self, target, build_args or {})


@dataclass
class Image:
    """One target of the Dockerfile, seen as the image it builds (with these build args)."""

    dockerfile: Dockerfile
    target: str
    build_args: dict[str, str]

    def _stage_named(self, reference: str) -> Stage | None:
        names = {s.name: s for s in self.dockerfile.stages if s.name}
        return names.get(self.dockerfile.resolve(reference, self.build_args))

    @property
    def chain(self) -> list[Stage]:
        """The target stage and the stages it is built FROM, the first one first."""
        chain = [self.dockerfile.stage(self.target)]
        while (parent := self._stage_named(chain[0].base)) is not None:
            chain.insert(0, parent)
        return chain

    @property
    def runtime(self) -> list[Instruction]:
        """The instructions the image's own filesystem and configuration come from."""
        return [ins for stage in self.chain for ins in stage.instructions]

    @property
    def base_image(self) -> str:
        """The external image the final image starts from."""
        return self.dockerfile.resolve(self.chain[0].base, self.build_args)

    @property
    def stages(self) -> list[Stage]:
        """Every stage the build of this target runs: its chain and what it copies from."""
        needed: list[Stage] = []
        pending = [self.dockerfile.stage(self.target)]
        while pending:
            stage = pending.pop()
            if any(stage is seen for seen in needed):
                continue
            needed.append(stage)
            for reference in [stage.base, *stage.copied_from()]:
                if (found := self._stage_named(reference)) is not None:
                    pending.append(found)
        order = {id(stage): i for i, stage in enumerate(self.dockerfile.stages)}
        return sorted(needed, key=lambda stage: order[id(stage)])

    @property
    def instructions(self) -> list[Instruction]:
        """The instructions of every stage the build runs, in file order."""
        return [ins for stage in self.stages for ins in stage.instructions]

    def base_images(self) -> list[str]:
        """The external images the build pulls (FROM and COPY --from), build args resolved."""
        images = []
        for stage in self.stages:
            for reference in [stage.base, *stage.copied_from()]:
                if self._stage_named(reference) is None:
                    images.append(self.dockerfile.resolve(reference, self.build_args))
        return images

    def _settings(self, keyword: str) -> dict[str, str]:
        """`KEY=value` pairs of every ENV or LABEL of the image, the last one winning."""
        values: dict[str, str] = {}
        for ins in self.runtime:
            if ins.keyword == keyword:
                for word in shlex.split(ins.args):
                    key, _, value = word.partition("=")
                    values[key] = value
        return values

    def env(self) -> dict[str, str]:
        return self._settings("ENV")

    def labels(self) -> dict[str, str]:
        return self._settings("LABEL")


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
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE)


@pytest.fixture(scope="session")
def images(dockerfile: Dockerfile) -> dict[str, Image]:
    """services/<dir> -> the image its target builds (default build args: the CUDA images)."""
    return {service: dockerfile.image(IMAGE_TARGETS[service]) for service in SERVICES}


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
