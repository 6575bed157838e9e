"""Write the option strings of ``vllm serve`` for one vLLM release, read from its source.

Not run by the tests: it made vllm-serve-flags.txt, which they read. vLLM cannot be imported
here (CUDA, torch), so the flags are read from the release's own parser code with ``ast``: every
option string of an ``add_argument`` call in vllm/engine/arg_utils.py (the engine flags) and
vllm/entrypoints/common/cli_args.py (the server's own), plus the fields of its FrontendArgs
classes, which that file registers as ``--field-name``.

    pip download vllm==0.33.0 --no-deps -d /tmp/vllm
    unzip -q /tmp/vllm/vllm-0.33.0-*.whl 'vllm/*' -d /tmp/vllm
    python tests/chart/data/extract_vllm_flags.py /tmp/vllm 0.33.0 \
        > tests/chart/data/vllm-serve-flags.txt
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PARSERS = ("vllm/engine/arg_utils.py", "vllm/entrypoints/common/cli_args.py")
FRONTEND_CLASSES = {"BaseFrontendArgs", "FrontendArgs"}


def option_strings(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            found |= {
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and arg.value.startswith("-")
            }
    return found


def frontend_fields(tree: ast.Module) -> set[str]:
    return {
        "--" + item.target.id.replace("_", "-")
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name in FRONTEND_CLASSES
        for item in node.body
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
    }


def _commit(root: Path) -> str:
    """The git commit the wheel was built from (vllm/_version.py), or "unknown"."""
    version_file = root / "vllm" / "_version.py"
    text = version_file.read_text() if version_file.exists() else ""
    for line in text.splitlines():
        if line.startswith("__commit_id__ = "):
            return line.split("=")[-1].strip().strip("'\"")
    return "unknown"


def main(root: Path, version: str) -> None:
    flags: set[str] = set()
    for path in PARSERS:
        tree = ast.parse((root / path).read_text())
        flags |= option_strings(tree) | frontend_fields(tree)
    commit = _commit(root)
    print(f"# vllm serve {version} (commit {commit}): its option strings, read from")
    print(f"# {', '.join(PARSERS)} of the vllm {version} wheel on PyPI")
    print(f"# by {Path(__file__).name}; the chart pins vllm/vllm-openai:v{version}.")
    print("\n".join(sorted(flags)))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
