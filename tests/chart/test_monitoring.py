"""Observability in the chart (global.monitoring), rendered by the real Helm engine: the Grafana
dashboards are valid dashboard JSON whose queries parse as PromQL; the ServiceMonitors, the UI's
PodMonitor and the PrometheusRule render in prod when the cluster has the Prometheus Operator's
CRDs, never in dev unless enabled, and without the CRDs the chart still installs and NOTES says
what was left out; the monitors select Services and ports that exist; the alert expressions
parse and take their thresholds from values; what renders validates strictly and passes
checkov. Which metric names the queries use, and that the live services serve them, is
tests/e2e/test_metrics_catalog.py's part."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import test_checkov as checkov_skips  # the chart's reasoned skip list and how an entry matches
from chart_render import (
    CHART,
    NAMESPACE,
    RELEASE,
    Rendered,
    cached_env_render,
    chart_defaults,
    containers,
    deep_merge,
    install_values,
    load_env_values,
    pod_labels,
    render_env,
)
from test_kube_schemas import VERSIONS as KUBERNETES_VERSIONS

from myretail_testkit.chart_scans import checkov_failures, render_with_api_versions
from myretail_testkit.promql import dashboard_queries, metric_names, parse_query

DASHBOARDS = sorted((CHART / "dashboards").glob("*.json"))
CRDS = [
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PodMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
]
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
SCRAPERS = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
ENABLED = {"global": {"monitoring": {"enabled": True}}}
ALERTS = {
    "MyRetailHighErrorRate",
    "MyRetailShoppingSlow",
    "MyRetailLoyaltySlow",
    "MyRetailTimeToFirstTokenSlow",
    "MyRetailInferenceQueueSaturated",
    "MyRetailInferenceUnavailable",
    "MyRetailInferenceReplicasNotReady",
    "MyRetailCatalogEmpty",
    "MyRetailCatalogStale",
    "MyRetailFineTuneFailed",
    "MyRetailGPUMemoryNearFull",
}
NOT_INSTALLED = "ServiceMonitors, PodMonitor and alert rules were NOT installed"
UNBOUNDED_LABELS = re.compile(r"session|prompt|user|(^|_)id$", re.IGNORECASE)


# -- helpers -----------------------------------------------------------------------------------


def render_with_apis(
    overrides: dict[str, Any], api_versions: list[str], env: str = "prod"
) -> Rendered:
    """Render values/<env>.yaml plus overrides on a cluster that offers these APIs."""
    values = deep_merge(install_values(env), overrides)
    return Rendered(
        render_with_api_versions(CHART, values, api_versions, release=RELEASE, namespace=NAMESPACE)
    )


def prod_alert_rules() -> dict[str, dict[str, Any]]:
    """alert name -> rule, of the prod render on a cluster with the operator's CRDs."""
    return _rules(_prod_with_crds())


@functools.cache
def _prod_with_crds() -> Rendered:
    return render_with_apis({}, CRDS)


@functools.cache
def _prod_scraped() -> Rendered:
    """prod with the CRDs and global.monitoring.scrapeFrom set (the scrape NetworkPolicies)."""
    return render_with_apis({"global": {"monitoring": {"scrapeFrom": SCRAPERS}}}, CRDS)


def _monitoring_objects(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        o
        for o in rendered.objects
        if o["kind"] in CRD_KINDS
        or o["metadata"].get("name", "").endswith("-scrape")
        or "grafana_dashboard" in o["metadata"].get("labels", {})
    ]


def _dashboard_maps(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        o for o in rendered.of_kind("ConfigMap") if "grafana_dashboard" in o["metadata"]["labels"]
    ]


def _scrape_policies(rendered: Rendered) -> list[dict[str, Any]]:
    return [
        o for o in rendered.of_kind("NetworkPolicy") if o["metadata"]["name"].endswith("-scrape")
    ]


def _rules(rendered: Rendered) -> dict[str, dict[str, Any]]:
    (rule,) = rendered.of_kind("PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def _dashboard(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those nested in collapsed rows included."""
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found += panel.get("panels", [])
    return found


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) == {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


# -- dashboards --------------------------------------------------------------------------------


def test_three_dashboards_ship_with_the_chart() -> None:
    titles = {_dashboard(p)["title"] for p in DASHBOARDS}
    assert len(DASHBOARDS) == 3, DASHBOARDS
    assert any("Overview" in t for t in titles)
    assert any("Shopping" in t for t in titles) and any("Loyalty" in t for t in titles)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_is_valid_grafana_json(path: Path) -> None:
    board = _dashboard(path)
    for key in ("uid", "title", "panels", "templating", "schemaVersion", "time"):
        assert key in board, key
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"]), board["uid"]
    assert isinstance(board["schemaVersion"], int) and board["schemaVersion"] >= 30
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = _panels(board)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"
    assert len(panels) >= 8
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        targets = panel["targets"]
        assert targets, f"{panel['title']}: no query"
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["expr"].strip(), f"{panel['title']}: a target without expr"
            assert target.get("datasource", panel["datasource"]) == panel["datasource"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_parse_as_promql(path: Path) -> None:
    queries = dashboard_queries(_dashboard(path))
    assert len(queries) >= 10
    for query in queries:
        parse_query(query)  # raises with the parser's message
    names = set().union(*(metric_names(q) for q in queries))
    assert len(names) >= 8, names


def test_loyalty_dashboard_shows_vllm_and_gpu_metrics() -> None:
    loyalty = next(p for p in DASHBOARDS if "loyalty" in p.stem)
    names = set().union(*(metric_names(q) for q in dashboard_queries(_dashboard(loyalty))))
    vllm = {n.removeprefix("vllm:") for n in names if n.startswith("vllm:")}
    assert {"num_requests_waiting", "num_requests_running", "kv_cache_usage_perc"} <= vllm
    assert {"time_to_first_token_seconds_bucket", "generation_tokens_total"} <= vllm
    assert "DCGM_FI_DEV_FB_USED" in names


def test_queries_never_group_by_an_unbounded_label() -> None:
    texts = [q for p in DASHBOARDS for q in dashboard_queries(_dashboard(p))]
    texts += [r["expr"] for r in _rules(_prod_with_crds()).values()]
    for text in texts:
        for group in re.findall(r"\bby \(([^)]*)\)", text):
            for label in (g.strip() for g in group.split(",")):
                assert not UNBOUNDED_LABELS.search(label), f"by ({group}) in {text}"


def test_parser_refuses_what_prometheus_refuses() -> None:
    """The parse checks above mean something."""
    with pytest.raises(ValueError):
        parse_query("sum(rate(http_requests_total[5m])")
    with pytest.raises(ValueError):
        parse_query("rate(http_requests_total)")


# -- what renders where ------------------------------------------------------------------------


def test_prod_renders_monitors_rules_and_dashboards() -> None:
    rendered = _prod_with_crds()
    assert rendered.get("ServiceMonitor", "myretail-inference")
    assert rendered.get("ServiceMonitor", "myretail-rag-api")
    assert rendered.get("PodMonitor", "myretail-chatbot-ui")
    assert set(_rules(rendered)) == ALERTS
    assert len(_dashboard_maps(rendered)) == len(DASHBOARDS)
    for obj in _monitoring_objects(rendered):
        labels = obj["metadata"]["labels"]
        assert obj["metadata"]["namespace"] == NAMESPACE
        if obj["kind"] != "NetworkPolicy":
            assert labels["release"] == "kube-prometheus-stack", obj["metadata"]["name"]


def test_dashboard_configmaps_hold_the_chart_files_for_the_grafana_sidecar() -> None:
    rendered = _prod_with_crds()
    by_file = {}
    for obj in rendered.of_kind("ConfigMap"):
        labels = obj["metadata"]["labels"]
        if labels.get("grafana_dashboard") == "1":
            assert obj["metadata"]["annotations"]["grafana_folder"] == "MyRetail"
            ((name, text),) = obj["data"].items()
            by_file[name] = json.loads(text)
    assert by_file == {p.name: _dashboard(p) for p in DASHBOARDS}


@pytest.mark.parametrize("env", ["dev", "staging", "defaults"])
def test_nothing_renders_unless_enabled(env: str) -> None:
    assert _monitoring_objects(cached_env_render(env)) == []
    if env == "dev":
        assert _monitoring_objects(render_with_apis({}, CRDS, env="dev")) == []
        enabled = render_with_apis(ENABLED, CRDS, env="dev")
        assert {o["kind"] for o in _monitoring_objects(enabled)} == {*CRD_KINDS, "ConfigMap"}
        assert set(_rules(enabled)) == ALERTS


def test_without_the_crds_the_chart_installs_and_notes_say_so() -> None:
    without = cached_env_render("prod")  # no monitoring.coreos.com API in the cluster
    assert not [o for o in without.objects if o["kind"] in CRD_KINDS]
    assert len(_dashboard_maps(without)) == len(DASHBOARDS)
    notes = " ".join(without.notes.split())
    assert NOT_INSTALLED in notes
    assert "global.monitoring.scrapeFrom is empty" in notes
    with_crds = " ".join(_prod_with_crds().notes.split())
    assert NOT_INSTALLED not in with_crds
    assert "PrometheusRule myretail-alerts (selected by release=kube-prometheus-stack)" in with_crds
    assert "Monitoring" not in cached_env_render("dev").notes


def test_dashboards_can_be_left_out() -> None:
    off = {"global": {"monitoring": {"dashboards": {"enabled": False}}}}
    rendered = render_with_apis(off, CRDS)
    assert not _dashboard_maps(rendered)
    assert rendered.of_kind("PrometheusRule")


# -- monitors point at what exists ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["myretail-inference", "myretail-rag-api"])
def test_service_monitors_select_one_service_and_its_named_ports(name: str) -> None:
    rendered = _prod_with_crds()
    monitor = rendered.get("ServiceMonitor", name)["spec"]
    assert monitor["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    selected = [
        s
        for s in rendered.of_kind("Service")
        if _matches(monitor["selector"], s["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in selected] == [name]
    ports = {p["name"] for p in selected[0]["spec"]["ports"]}
    for endpoint in monitor["endpoints"]:
        assert endpoint["port"] in ports, endpoint
        assert endpoint["path"] == "/metrics" and endpoint["interval"] == "30s"


def test_ui_pod_monitor_scrapes_the_metrics_port_the_service_does_not_expose() -> None:
    rendered = _prod_with_crds()
    monitor = rendered.get("PodMonitor", "myretail-chatbot-ui")["spec"]
    pods = [
        o for o in rendered.of_kind("Deployment") if _matches(monitor["selector"], pod_labels(o))
    ]
    assert [p["metadata"]["name"] for p in pods] == ["myretail-chatbot-ui"]
    ports = {p["name"]: p["containerPort"] for c in containers(pods[0]) for p in c.get("ports", [])}
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and endpoint["port"] in ports
    service = rendered.get("Service", "myretail-chatbot-ui")
    assert "metrics" not in {p["name"] for p in service["spec"]["ports"]}


def test_vllm_metrics_are_scraped_from_vllms_own_port() -> None:
    rendered = _prod_with_crds()
    endpoints = rendered.get("ServiceMonitor", "myretail-inference")["spec"]["endpoints"]
    assert len(endpoints) == 2
    relabel = {r["targetLabel"]: r for r in endpoints[1]["relabelings"] if "replacement" in r}
    (vllm,) = [
        c
        for c in containers(rendered.get("Deployment", "myretail-inference"))
        if c["name"] == "vllm"
    ]
    port = vllm["args"][vllm["args"].index("--port") + 1]
    assert relabel["__address__"]["replacement"].endswith(f":{port}")
    assert relabel["container"]["replacement"] == "vllm"
    assert relabel["endpoint"]["replacement"] == "vllm"
    cpu = {"engine": "native", "gpu": {"enabled": False}, "model": {"quantization": "none"}}
    native = render_with_apis({"inference": cpu}, CRDS)
    assert len(native.get("ServiceMonitor", "myretail-inference")["spec"]["endpoints"]) == 1


def test_scrapers_reach_exactly_the_metrics_ports() -> None:
    rendered = _prod_scraped()
    assert not _scrape_policies(_prod_with_crds())
    expected = {
        "myretail-inference-scrape": ("inference", {8000, 8001}),
        "myretail-rag-api-scrape": ("rag-api", {8080}),
        "myretail-chatbot-ui-scrape": ("chatbot-ui", {9090}),
    }
    for name, (component, ports) in expected.items():
        spec = rendered.get("NetworkPolicy", name)["spec"]
        assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == component
        assert spec["policyTypes"] == ["Ingress"]
        (rule,) = spec["ingress"]
        assert rule["from"] == SCRAPERS
        assert {p["port"] for p in rule["ports"]} == ports, name
    off = deep_merge(
        ENABLED,
        {"global": {"networkPolicy": {"enabled": False}, "monitoring": {"scrapeFrom": SCRAPERS}}},
    )
    assert not render_with_apis(off, CRDS).of_kind("NetworkPolicy")


# -- alerts ------------------------------------------------------------------------------------


def test_alert_expressions_parse_and_read_the_release() -> None:
    for alert, rule in _rules(_prod_with_crds()).items():
        parse_query(rule["expr"])
        assert rule["labels"]["severity"] in {"warning", "critical"}, alert
        assert (
            rule["annotations"]["summary"]
            and "docs/operations.md" in rule["annotations"]["runbook"]
        )
        if not alert.startswith("MyRetailGPU"):  # DCGM's series belong to the GPU nodes
            assert 'namespace="myretail"' in rule["expr"], alert


def test_thresholds_come_from_the_objectives() -> None:
    objectives = {
        "errorRatio": 0.05,
        "shoppingP95Seconds": 4,
        "loyaltyP95Seconds": 12,
        "timeToFirstTokenP95Seconds": 1.5,
        "queueSaturationRatio": 0.5,
        "catalogMaxAgeHours": 24,
        "gpuMemoryRatio": 0.99,
    }
    rules = _rules(render_with_apis({"global": {"monitoring": {"objectives": objectives}}}, CRDS))
    expected = {
        "MyRetailHighErrorRate": "> 0.05",
        "MyRetailShoppingSlow": "> 4",
        "MyRetailLoyaltySlow": "> 12",
        "MyRetailTimeToFirstTokenSlow": "> 1.5",
        "MyRetailInferenceQueueSaturated": "/ 64 > 0.5",
        "MyRetailCatalogStale": "> 86400",
        "MyRetailGPUMemoryNearFull": "> 0.99",
    }
    for alert, threshold in expected.items():
        assert threshold in " ".join(rules[alert]["expr"].split()), (alert, rules[alert]["expr"])


def test_alerts_follow_the_components_that_run() -> None:
    rules = _rules(
        render_with_apis(
            {"inference": {"enabled": False}, "ragApi": {"chat": {"provider": "openai"}}}, CRDS
        )
    )
    assert not [a for a in rules if "Loyalty" in a or "Inference" in a or "FirstToken" in a]
    assert 'container=~"rag-api"' in rules["MyRetailHighErrorRate"]["expr"]


# -- the render is valid -------------------------------------------------------------------------


def test_monitoring_objects_validate_strictly() -> None:
    """Core kinds against the Kubernetes schemas; the operator's kinds by their shape."""
    objects = _monitoring_objects(_prod_scraped())
    core = [o for o in objects if o["kind"] not in CRD_KINDS]
    assert {o["kind"] for o in core} == {"ConfigMap", "NetworkPolicy"}
    for version in KUBERNETES_VERSIONS:
        for obj in core:
            kubernetes_validate.validate(obj, version, strict=True)
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            assert obj["apiVersion"] == "monitoring.coreos.com/v1"
            assert set(obj) == {"apiVersion", "kind", "metadata", "spec"}
            assert set(obj["metadata"]) <= {"name", "namespace", "labels", "annotations"}
    shapes = {
        "ServiceMonitor": ({"namespaceSelector", "selector", "endpoints"}, "endpoints"),
        "PodMonitor": (
            {"namespaceSelector", "selector", "podMetricsEndpoints"},
            "podMetricsEndpoints",
        ),
    }
    endpoint_keys = {"port", "path", "interval", "relabelings"}
    relabel_keys = {"sourceLabels", "regex", "replacement", "targetLabel", "action"}
    for obj in objects:
        if obj["kind"] in shapes:
            keys, list_key = shapes[obj["kind"]]
            assert set(obj["spec"]) == keys, obj["metadata"]["name"]
            for endpoint in obj["spec"][list_key]:
                assert set(endpoint) <= endpoint_keys, endpoint
                for relabel in endpoint.get("relabelings", []):
                    assert set(relabel) <= relabel_keys and relabel["targetLabel"], relabel
                    re.compile(relabel.get("regex", ".*"))
        if obj["kind"] == "PrometheusRule":
            assert set(obj["spec"]) == {"groups"}
            for group in obj["spec"]["groups"]:
                assert set(group) == {"name", "rules"} and group["rules"]
                for rule in group["rules"]:
                    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
                    assert re.fullmatch(r"[0-9]+[smh]", rule.get("for", "0s")), rule


def test_checkov_finds_nothing_outside_the_skip_list(tmp_path: Path) -> None:
    """The whole prod render with monitors, rules, dashboards and scrape policies."""
    outside = sorted(
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in checkov_failures(_prod_scraped().objects, tmp_path)
        if not any(checkov_skips._covered(c, skip) for skip in checkov_skips._skips())
    )
    assert outside == [], "\n".join(outside)


def test_prod_turns_monitoring_on_labelled_for_kube_prometheus_stack() -> None:
    assert load_env_values("prod")["global"]["monitoring"]["enabled"] is True
    labels = {"release": "kube-prometheus-stack"}  # what that chart's Prometheus selects by
    assert chart_defaults()["global"]["monitoring"]["labels"] == labels
    assert "Monitoring" in render_env("prod").notes
