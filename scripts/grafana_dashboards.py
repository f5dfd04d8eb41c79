"""Writes deploy/grafana/dashboards/*.json: the four dashboards, kept as code so every panel has the same shape.

Run ``python scripts/grafana_dashboards.py`` after editing a panel here; commit the JSON it writes.
tests/genaisite/test_dashboards.py parses every expression, and test_metrics_flow.py checks that each genaisite_
metric they use is in a real /metrics.
"""

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}  # provisioned under this uid (datasources/prometheus.yaml)


def p(q: float, metric: str, by: str = "model") -> str:
    """A quantile of a histogram over five minutes, per ``by`` (empty: over everything)."""
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket[5m])))"


def panel(title: str, targets: list[tuple[str, str]], *, unit: str = "short", kind: str = "timeseries") -> dict:
    return {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + n)}
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard(uid: str, title: str, panels: list[dict]) -> dict:
    for n, item in enumerate(panels):  # two panels a row, 8 units high
        item["id"] = n + 1
        item["gridPos"] = {"h": 8, "w": 12, "x": 12 * (n % 2), "y": 8 * (n // 2)}
    return {
        "uid": uid,
        "title": title,
        "tags": ["genaisite"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "panels": panels,
    }


TTFT = "genaisite_llm_time_to_first_token_seconds"
GAP = "genaisite_llm_inter_token_seconds"
E2E = "genaisite_llm_request_duration_seconds"
HTTP = "genaisite_http_request_duration_seconds"

DASHBOARDS = {
    "service-overview": dashboard(
        "genaisite-overview",
        "genaisite: service overview",
        [
            panel(
                "Requests by route",
                [("sum by (route) (rate(genaisite_http_requests_total[5m]))", "{{route}}")],
                unit="reqps",
            ),
            panel(
                "Error rate (5xx share)",
                [
                    (
                        'sum(rate(genaisite_http_requests_total{status=~"5.."}[5m]))'
                        " / clamp_min(sum(rate(genaisite_http_requests_total[5m])), 1e-9)",
                        "5xx",
                    )
                ],
                unit="percentunit",
            ),
            panel("HTTP p95 by route", [(p(0.95, HTTP, "route"), "{{route}}")], unit="s"),
            panel(
                "Answers running and waiting",
                [
                    ("genaisite_llm_requests_running", "running"),
                    ("genaisite_llm_requests_waiting", "waiting"),
                    ("llamacpp:requests_deferred", "queued in the model server"),
                ],
            ),
            panel("Queue depth", [("genaisite_queue_depth", "tasks waiting")]),
            panel(
                "Worker heartbeats",
                [
                    ("genaisite_worker_heartbeat_age_seconds", "age of the last"),
                    ("sum(rate(genaisite_worker_heartbeats_total[5m])) * 60", "per minute"),
                ],
            ),
        ],
    ),
    "llm-latency-tokens": dashboard(
        "genaisite-llm",
        "genaisite: LLM latency and tokens",
        [
            panel("Time to first token", [(p(0.5, TTFT), "p50 {{model}}"), (p(0.95, TTFT), "p95 {{model}}")], unit="s"),
            panel("Inter-token latency", [(p(0.5, GAP), "p50 {{model}}"), (p(0.95, GAP), "p95 {{model}}")], unit="s"),
            panel("End-to-end p95 by entry point", [(p(0.95, E2E, "source"), "{{source}}")], unit="s"),
            panel(
                "Answers by model and outcome",
                [("sum by (model, outcome) (rate(genaisite_llm_requests_total[5m]))", "{{model}} {{outcome}}")],
                unit="reqps",
            ),
            panel(
                "Tokens per second",
                [("sum by (model, kind) (rate(genaisite_llm_tokens_total[5m]))", "{{model}} {{kind}}")],
            ),
            panel(
                "Model server (llama-server --metrics)",
                [
                    ("llamacpp:predicted_tokens_seconds", "decode tokens/s"),
                    ("llamacpp:prompt_tokens_seconds", "prompt tokens/s"),
                    ("llamacpp:requests_processing", "processing"),
                ],
            ),
        ],
    ),
    "rag-ingestion": dashboard(
        "genaisite-rag",
        "genaisite: RAG and ingestion",
        [
            panel(
                "Retrieval latency",
                [
                    (p(0.5, "genaisite_retrieval_duration_seconds", ""), "p50"),
                    (p(0.95, "genaisite_retrieval_duration_seconds", ""), "p95"),
                ],
                unit="s",
            ),
            panel(
                "Answer-cache hit rate",
                [
                    (
                        'sum by (kind) (rate(genaisite_answer_cache_lookups_total{result="hit"}[15m]))'
                        " / clamp_min(sum by (kind) (rate(genaisite_answer_cache_lookups_total[15m])), 1e-9)",
                        "{{kind}}",
                    )
                ],
                unit="percentunit",
            ),
            panel(
                "Ingestions by outcome",
                [("sum by (outcome) (increase(genaisite_ingestions_total[1h]))", "{{outcome}}")],
            ),
            panel("Chunks embedded per minute", [("sum(rate(genaisite_ingestion_chunks_total[5m])) * 60", "chunks")]),
            panel("Ingestion p95", [(p(0.95, "genaisite_ingestion_duration_seconds", ""), "p95")], unit="s"),
            panel(
                "Batch lines by outcome",
                [("sum by (outcome) (increase(genaisite_batch_lines_total[1h]))", "{{outcome}}")],
            ),
        ],
    ),
    "safety": dashboard(
        "genaisite-safety",
        "genaisite: safety",
        [
            panel(
                "Guardrail decisions",
                [
                    (
                        "sum by (stage, guardrail, action) (increase(genaisite_guardrail_decisions_total[1h]))",
                        "{{stage}} {{guardrail}} {{action}}",
                    )
                ],
            ),
            panel("Limit refusals", [("sum by (limit) (increase(genaisite_limit_refusals_total[1h]))", "{{limit}}")]),
            panel(
                "Answers cut by the output guardrails",
                [('sum(increase(genaisite_llm_requests_total{outcome="cut"}[1h]))', "cut")],
            ),
            panel(
                "Blocked share of requests",
                [
                    (
                        'sum(rate(genaisite_guardrail_decisions_total{action="blocked"}[1h]))'
                        " / clamp_min(sum(rate(genaisite_http_requests_total[1h])), 1e-9)",
                        "blocked",
                    )
                ],
                unit="percentunit",
            ),
        ],
    ),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, board in DASHBOARDS.items():
        (OUT / f"{name}.json").write_text(json.dumps(board, indent=2) + "\n")


if __name__ == "__main__":
    main()
