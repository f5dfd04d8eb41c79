"""The Grafana dashboards and the Prometheus config as files: every PromQL expression parses (brackets, ranges, only
known functions) and names only metrics the service defines or llama-server exports. That each genaisite_ name is
in a real /metrics is checked by test_metrics_flow.py, after real traffic."""

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Histogram

from core import metrics
from scripts.grafana_dashboards import DASHBOARDS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD_FILES = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
FUNCTIONS = {"histogram_quantile", "sum", "rate", "increase", "clamp_min"}
KEYWORDS = {"by", "without", "on", "ignoring", "and", "or", "unless"}
# llama-server --metrics (checked against its /metrics on this machine: docs/observability.md).
LLAMACPP = {"llamacpp:predicted_tokens_seconds", "llamacpp:prompt_tokens_seconds", "llamacpp:requests_processing",
            "llamacpp:requests_deferred"}  # fmt: skip
SCRAPE_TIME = {"genaisite_queue_depth", "genaisite_worker_heartbeat_age_seconds"}  # genaisite.metrics.QueueCollector
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def expressions() -> list[str]:
    return [
        target["expr"]
        for path in DASHBOARD_FILES
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]


def metric_names(expr: str) -> set[str]:
    """The series an expression reads: identifiers outside label matchers, groupings and strings, not called."""
    bare = re.sub(r'"[^"]*"', '""', expr)
    bare = re.sub(r"\{[^}]*\}", "", bare)
    bare = re.sub(r"\b(by|without)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[0-9]+[smhd]\]", "", bare)
    bare = re.sub(r"(?<![\w:])\d+(\.\d+)?(e[+-]?\d+)?", "", bare)  # numbers, 1e-9 included
    names = set()
    for match in IDENTIFIER.finditer(bare):
        word, following = match.group(), bare[match.end() :].lstrip()[:1]
        if following == "(":
            assert word in FUNCTIONS, f"unknown function {word} in {expr}"
        elif word not in KEYWORDS:
            names.add(word)
    return names


def dashboard_metric_names() -> set[str]:
    return {name for expr in expressions() for name in metric_names(expr)}


def defined_samples() -> set[str]:
    """Sample names core.metrics can expose: a counter's ``_total``, a histogram's ``_bucket``, ``_count``, ``_sum``."""
    names = set(SCRAPE_TIME)
    for value in vars(metrics).values():
        if isinstance(value, Counter):
            names.add(f"{value._name}_total")
        elif isinstance(value, Histogram):
            names |= {f"{value._name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        elif hasattr(value, "_multiprocess_mode"):  # a Gauge
            names.add(value._name)
    return names


def test_the_four_dashboards_are_written_and_match_their_source():
    assert [path.stem for path in DASHBOARD_FILES] == sorted(DASHBOARDS)
    for path in DASHBOARD_FILES:
        assert json.loads(path.read_text()) == DASHBOARDS[path.stem], f"rerun scripts/grafana_dashboards.py: {path}"


@pytest.mark.parametrize("expr", expressions())
def test_every_expression_parses_and_reads_known_metrics(expr):
    assert expr.count("(") == expr.count(")"), expr
    assert expr.count("{") == expr.count("}"), expr
    names = metric_names(expr)
    assert names, f"reads no metric: {expr}"
    unknown = {n for n in names if n not in defined_samples() and n not in LLAMACPP}
    assert not unknown, f"{expr} reads {unknown}"


def test_every_dashboard_uses_the_provisioned_datasource_and_has_unique_panel_ids():
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for path in DASHBOARD_FILES:
        board = json.loads(path.read_text())
        assert len({panel["id"] for panel in board["panels"]}) == len(board["panels"])
        assert {target["datasource"]["uid"] for panel in board["panels"] for target in panel["targets"]} == {uid}


def test_prometheus_scrapes_the_service_with_its_token_and_the_model_server():
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["genaisite"]["authorization"]["credentials_file"] == "/run/secrets/metrics_token"
    assert jobs["genaisite"]["static_configs"][0]["targets"] == ["web:8000"]
    assert jobs["llm"]["metrics_path"] == "/metrics"
