"""values.schema.json: wrong values fail at install with a message that names the key."""

from __future__ import annotations

import helm_python as helm
import pytest
from chart_render import CHART, deep_merge, load_env_values, render

SCHEMA_ERROR = "values don't meet the specifications of the schema"


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (
            {"inference": {"replicaCount": -1}},
            "at '/inference/replicaCount': minimum: got -1, want 0",
        ),
        ({"ragApi": {"replicas": 2}}, "at '/ragApi': additional properties 'replicas' not allowed"),
        ({"staging": {"inference": {}}}, "additional properties 'staging' not allowed"),
        ({"global": {"environment": "qa"}}, "at '/global/environment': value must be one of"),
        ({"global": {"modelStorage": {}}}, "additional properties 'modelStorage' not allowed"),
        (
            {"inference": {"model": {"tag": 2}}},
            "at '/inference/model/tag': got number, want string",
        ),
        ({"inference": {"model": {"quantization": "int3"}}}, "at '/inference/model/quantization'"),
        ({"chatbotUi": {"service": {"type": "Public"}}}, "at '/chatbotUi/service/type'"),
        ({"qdrant": {"image": {"pullPolicy": "Sometimes"}}}, "at '/qdrant/image/pullPolicy'"),
        ({"global": {"modelStore": {"uri": "/models"}}}, "at '/global/modelStore/uri'"),
        ({"ragApi": {"resources": {"limits": {"memory": "2Gi"}}}}, None),
        ({"ragApi": {"resources": {"requests": {"cpu": None}}}}, "missing property 'cpu'"),
        (
            {"global": {"devSecrets": {"data": {"admin-token": "dev-only-admin-token"}}}},
            "at '/global/devSecrets/data/admin-token': minLength: got 20, want 32",
        ),
        (
            {"chatbotUi": {"service": {"awsNlb": {"certificateArn": "chat-certificate"}}}},
            "at '/chatbotUi/service/awsNlb/certificateArn'",
        ),
        (
            {"global": {"networkPolicy": {"externalEgress": {"vpcCidrs": ["10.0.0.0"]}}}},
            "at '/global/networkPolicy/externalEgress/vpcCidrs/0'",
        ),
    ],
)
def test_schema_rejects_bad_values_with_a_readable_message(values: dict, says: str | None) -> None:
    if says is None:
        render(values)
        return
    with pytest.raises(helm.HelmValuesError) as caught:
        render(values)
    message = str(caught.value)
    assert SCHEMA_ERROR in message
    assert says in message, message
    assert len(message.splitlines()) <= 6, f"one mistake, one short message:\n{message}"


def test_prod_refuses_chart_created_secrets() -> None:
    values = deep_merge(load_env_values("prod"), {"global": {"devSecrets": {"create": True}}})
    with pytest.raises(
        helm.HelmValuesError, match="at '/global/devSecrets/create': value must be false"
    ):
        render(values)


def test_lint_reports_a_bad_values_file() -> None:
    report = helm.lint(CHART, {"inference": {"replicaCount": -3}})
    assert any("replicaCount" in error for error in report["errors"]), report
