"""``myretail-store check-tag NAME TAG --against SERVING --max-accuracy-drop X``: the
promotion gate the chart's pre-upgrade check runs before a new tag is served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from myretail_common.model_store import ModelStore
from myretail_common.storage import Storage
from myretail_common.store_cli import main
from myretail_testkit.store_fixtures import adapter_folder


def metrics(accuracy: float | None) -> dict[str, Any]:
    """A manifest's metrics as the fine-tune records them (``None``: no accuracy)."""
    after = {"eval_loss": 0.5} if accuracy is None else {"eval_accuracy": accuracy}
    return {"metrics": {"before": {"eval_accuracy": 0.1}, "after": after}}


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    uri = f"file://{tmp_path / 'store'}"
    store = ModelStore(Storage(uri))
    tags = {"v1": 0.80, "v2": 0.78, "v3": 0.70, "v4": None, "v5": 0.95}
    for tag, accuracy in tags.items():
        store.publish(adapter_folder(tmp_path / tag), "loyalty", tag, metrics(accuracy))
    return uri


def check(store_uri: str, tag: str, *extra: str) -> int:
    return main(["--store", store_uri, "check-tag", "loyalty", tag, *extra])


@pytest.mark.parametrize(
    ("tag", "drop", "code"),
    [
        ("v2", "0.05", 0),  # 0.02 lower: within the tolerance
        ("v3", "0.05", 1),  # 0.10 lower: refused
        ("v3", "0.10", 0),  # exactly the tolerance
        ("v5", "0", 0),  # better
        ("v2", "0", 1),  # any drop refused at tolerance 0
    ],
)
def test_the_gate_compares_eval_accuracy(store_uri: str, tag: str, drop: str, code: int):
    assert check(store_uri, tag, "--against", "v1", "--max-accuracy-drop", drop) == code


def test_a_refusal_names_both_accuracies_and_the_tolerance(store_uri: str, capsys):
    assert check(store_uri, "v3", "--against", "v1", "--max-accuracy-drop", "0.05") == 1
    error = capsys.readouterr().err
    assert "promotion refused for loyalty:v3" in error
    assert "0.7000" in error and "0.8000" in error and "--max-accuracy-drop=0.05" in error
    assert "--allow-regression" in error


def test_allow_regression_overrides_with_a_warning(store_uri: str, capsys):
    args = ("--against", "v1", "--max-accuracy-drop", "0.05", "--allow-regression")
    assert check(store_uri, "v3", *args) == 0
    assert "warning:" in capsys.readouterr().err


@pytest.mark.parametrize(("tag", "against"), [("v4", "v1"), ("v1", "v4")])
def test_a_missing_accuracy_is_refused_unless_allowed(
    store_uri: str, tag: str, against: str, capsys
):
    assert check(store_uri, tag, "--against", against, "--max-accuracy-drop", "0.5") == 1
    assert "records no eval accuracy" in capsys.readouterr().err
    args = ("--against", against, "--max-accuracy-drop", "0.5", "--allow-regression")
    assert check(store_uri, tag, *args) == 0


def test_no_comparison_without_another_serving_tag(store_uri: str, capsys):
    assert check(store_uri, "v4") == 0  # no --against: the existence check only
    assert check(store_uri, "v3", "--against", "v3", "--max-accuracy-drop", "0") == 0
    assert "promotion" not in capsys.readouterr().out


def test_the_older_flags_still_work_and_a_missing_serving_tag_fails(store_uri: str, capsys):
    assert main(["--store", store_uri, "check-tag", "--model", "loyalty", "--tag", "v1"]) == 0
    assert check(store_uri, "v1", "--against", "v9") == 1
    assert "loyalty:v9 not found" in capsys.readouterr().err


def test_a_tolerance_outside_0_to_1_is_a_usage_error(store_uri: str):
    with pytest.raises(SystemExit) as exited:
        check(store_uri, "v2", "--against", "v1", "--max-accuracy-drop", "5")
    assert exited.value.code == 2
