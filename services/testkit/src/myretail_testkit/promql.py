"""PromQL as the chart's alerts and Grafana dashboards write it, read with a real PromQL parser
(PyPI ``promql-parser``, Prometheus' grammar in Rust): parse a query, list the metric names it
reads, and collect every query of a Grafana dashboard (panel targets and query variables).

Grafana's own variables are not PromQL: the interval variables (``$__rate_interval``...) become
a duration before parsing; the others (``$namespace``) only appear inside label values, which
are strings to the parser.
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser

_INTERVALS = re.compile(
    r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}"
)
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.DOTALL)


def parse_query(query: str) -> Any:
    """The parsed expression; ValueError (the parser's message) when it is not valid PromQL.
    A Grafana ``label_values(<selector>, <label>)`` variable query parses its selector."""
    text = _INTERVALS.sub("5m", query)
    values = _LABEL_VALUES.match(text)
    if values:
        text = values.group(1)
    try:
        return promql_parser.parse(text)
    except ValueError as error:
        raise ValueError(f"{error}: {query}") from error


def metric_names(query: str) -> set[str]:
    """The metric names a query reads (every vector selector's name)."""
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        return True

    promql_parser.walk(parse_query(query), visit)
    return names


def dashboard_queries(board: dict[str, Any]) -> list[str]:
    """Every query of a Grafana dashboard: its panels' targets (rows' nested panels
    included) and its query variables."""
    panels = []
    for panel in board.get("panels", []):
        panels += [panel, *panel.get("panels", [])]
    queries = [t["expr"] for p in panels for t in p.get("targets", []) if t.get("expr")]
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries
