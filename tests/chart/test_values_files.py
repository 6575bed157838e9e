"""values/<env>.yaml: each documents what it changes, overrides only what differs from the
chart's defaults, and they are not near-duplicates of each other."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from chart_render import ENVS, VALUES_DIR, chart_defaults, load_env_values

# Maps whose keys are the user's (annotations, selectors, ...): any key may be added.
FREE_FORM = {"annotations", "nodeSelector", "podLabels", "podAnnotations", "data", "matchLabels"}


def _leaves(node: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    if isinstance(node, dict) and node:
        found: dict[tuple[str, ...], Any] = {}
        for key, value in node.items():
            found.update(_leaves(value, (*path, str(key))))
        return found
    return {path: node}


def _default_at(path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = chart_defaults()
    for i, key in enumerate(path):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif i > 0 and path[i - 1] in FREE_FORM:
            return True, None  # a new key in a free-form map
        else:
            return False, None
    return True, node


@pytest.mark.parametrize("env", ENVS)
def test_header_documents_what_the_file_changes(env: str) -> None:
    text = (VALUES_DIR / f"{env}.yaml").read_text()
    header = list(itertools.takewhile(lambda line: line.startswith("#"), text.splitlines()))
    assert len(header) >= 8, f"values/{env}.yaml needs a header comment"
    assert "what it changes" in " ".join(header).lower()
    assert f"-f values/{env}.yaml" in " ".join(header), "show the command that uses the file"


@pytest.mark.parametrize("env", ENVS)
def test_overrides_only_existing_settings_and_only_what_differs(env: str) -> None:
    for path, value in _leaves(load_env_values(env)).items():
        known, default = _default_at(path)
        dotted = ".".join(path)
        assert known, f"values/{env}.yaml sets {dotted}, which the chart does not define"
        assert value != default, f"values/{env}.yaml repeats the default of {dotted}"


def test_files_are_not_near_duplicates() -> None:
    leaves = {env: _leaves(load_env_values(env)) for env in ENVS}
    for a, b in itertools.combinations(ENVS, 2):
        same = {k for k in leaves[a].keys() & leaves[b].keys() if leaves[a][k] == leaves[b][k]}
        smaller = min(len(leaves[a]), len(leaves[b]))
        assert len(same) / smaller < 0.34, (
            f"values/{a}.yaml and values/{b}.yaml share {len(same)} of {smaller} settings: "
            "move what they share into the chart's defaults"
        )
