"""Every Prometheus metric of the service, defined once, with label values from bounded sets only.

Each process (web, worker) writes its samples to files in ``METRICS_DIR`` (prometheus-client's multiprocess mode);
``/metrics`` in any web process reads them all, so one scrape sees the whole instance. Labels never carry a user, a
key, a prompt or a raw path: a model is a configured model's name (or "other"), a route its URL pattern, an outcome
one of the values below. Recording is a few memory-mapped writes; with ``METRICS_ENABLED`` off it is nothing.
"""

import os
import socket
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _use_shared_directory() -> None:
    # prometheus-client chooses where values live when it is first imported: the variable must be set before.
    # Child processes inherit it, so a worker started by a test or by `serve` writes where the web reads.
    if settings.METRICS_ENABLED:
        settings.METRICS_DIR.mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.METRICS_DIR)


_use_shared_directory()

# The one import of prometheus_client (genaisite.metrics uses what this module offers), so none comes first.
from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402

if settings.METRICS_ENABLED and values.ValueClass is values.MutexValue:
    raise ImproperlyConfigured("prometheus_client was imported before core.metrics: metrics would stay per process.")


# Read once: prometheus-client asks for the identifier at every value it writes (to notice a fork).
_HOST = socket.gethostname().replace("_", "-")  # "_" splits file names


def process_identifier(pid: int | None = None) -> str:
    """Names this process's sample files. The host name too: containers sharing the directory (web and worker in
    compose.yaml) each number their processes from 1, and two writers of one file would corrupt it."""
    return f"{_HOST}-{pid or os.getpid()}"


if settings.METRICS_ENABLED:
    values.ValueClass = values.MultiProcessValue(process_identifier)

OTHER = "other"
LLM_OUTCOMES = ("complete", "cache_hit", "stopped", "failed", "cut")
LLM_SOURCES = ("chat", "api", "openai", "task", "batch")
INGESTION_OUTCOMES = ("ready", "failed", "retry", "skipped")
BATCH_LINE_OUTCOMES = ("succeeded", "failed", "parked")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
TOKEN_GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
ANSWER_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180)
JOB_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

HTTP_REQUESTS = Counter(
    "genaisite_http_requests", "HTTP requests answered, by URL pattern and status", ["route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "genaisite_http_request_duration_seconds",
    "Time until the response (its headers, for a streamed one), by URL pattern",
    ["route"],
    buckets=LATENCY_BUCKETS,
)
LLM_REQUESTS = Counter(
    "genaisite_llm_requests", "Answers generated, by model, entry point and outcome", ["model", "source", "outcome"]
)
LLM_TTFT = Histogram(
    "genaisite_llm_time_to_first_token_seconds",
    "From the start of an answer (retrieval included) to its first visible token",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
LLM_INTER_TOKEN = Histogram(
    "genaisite_llm_inter_token_seconds",
    "Mean gap between an answer's streamed pieces (one observation per answer)",
    ["model"],
    buckets=TOKEN_GAP_BUCKETS,
)
LLM_DURATION = Histogram(
    "genaisite_llm_request_duration_seconds", "Whole answers, end to end", ["model", "source"], buckets=ANSWER_BUCKETS
)
LLM_TOKENS = Counter("genaisite_llm_tokens", "Tokens of answered requests", ["model", "kind"])
LLM_RUNNING = Gauge("genaisite_llm_requests_running", "Answers being generated now", multiprocess_mode="livesum")
# Started but nothing shown yet: retrieval, screening, and the wait in the model server's own queue for a slot.
LLM_WAITING = Gauge(
    "genaisite_llm_requests_waiting", "Answers started that await their first token", multiprocess_mode="livesum"
)
CACHE_LOOKUPS = Counter("genaisite_answer_cache_lookups", "Answer-cache lookups", ["kind", "result"])
RETRIEVAL_DURATION = Histogram(
    "genaisite_retrieval_duration_seconds", "Document searches (query embedding included)", buckets=LATENCY_BUCKETS
)
GUARDRAIL_DECISIONS = Counter(
    "genaisite_guardrail_decisions", "Guardrail decisions recorded", ["stage", "guardrail", "action"]
)
LIMIT_REFUSALS = Counter("genaisite_limit_refusals", "Requests refused by a limit", ["limit"])
INGESTIONS = Counter("genaisite_ingestions", "Document ingestion attempts, by outcome", ["outcome"])
INGESTION_CHUNKS = Counter("genaisite_ingestion_chunks", "Chunks embedded and stored by ingestion")
INGESTION_DURATION = Histogram(
    "genaisite_ingestion_duration_seconds", "Document ingestion attempts, whole", buckets=JOB_BUCKETS
)
BATCH_LINES = Counter("genaisite_batch_lines", "Batch lines finished, by outcome", ["outcome"])
WORKER_HEARTBEATS = Counter("genaisite_worker_heartbeats", "Heartbeats sent by worker processes")


def on() -> bool:
    return settings.METRICS_ENABLED


def bounded(value: str, allowed: Collection[str]) -> str:
    return value if value in allowed else OTHER


def model_label(name: str) -> str:
    """A configured model's name as it is; anything else (a name a caller made up) is "other"."""
    return bounded(name, {entry["name"] for entry in settings.LLM_MODELS})


def count(counter: Counter, *labels: str, amount: float = 1) -> None:
    if settings.METRICS_ENABLED:
        (counter.labels(*labels) if labels else counter).inc(amount)


def observe(histogram: Histogram, seconds: float, *labels: str) -> None:
    if settings.METRICS_ENABLED:
        (histogram.labels(*labels) if labels else histogram).observe(seconds)


@contextmanager
def timer(histogram: Histogram, *labels: str) -> Iterator[None]:
    """Observes how long the block took, whether it returned or raised."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe(histogram, time.perf_counter() - started, *labels)


def answer_started() -> None:
    if settings.METRICS_ENABLED:
        LLM_RUNNING.inc()
        LLM_WAITING.inc()


def first_token() -> None:
    """The answer's first piece was shown: it no longer waits."""
    if settings.METRICS_ENABLED:
        LLM_WAITING.dec()


def answer_finished(
    *,
    model: str,
    source: str,
    outcome: str,
    ttft: float | None,
    inter_token: float | None,
    duration: float,
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    """One answer's numbers, recorded when it ends (seconds; ``None`` when it never streamed)."""
    if not settings.METRICS_ENABLED:
        return
    LLM_RUNNING.dec()
    if ttft is None:  # it never showed a token, so first_token() never took it off the waiting
        LLM_WAITING.dec()
    model, source = model_label(model), bounded(source, LLM_SOURCES)
    LLM_REQUESTS.labels(model, source, bounded(outcome, LLM_OUTCOMES)).inc()
    LLM_DURATION.labels(model, source).observe(duration)
    if ttft is not None:
        LLM_TTFT.labels(model).observe(ttft)
    if inter_token is not None:
        LLM_INTER_TOKEN.labels(model).observe(inter_token)
    if prompt_tokens:
        LLM_TOKENS.labels(model, "prompt").inc(prompt_tokens)
    if completion_tokens:
        LLM_TOKENS.labels(model, "completion").inc(completion_tokens)


# --- Reading them: /metrics (genaisite.metrics) and `serve` --------------------------------------------------------
CONTENT_TYPE = CONTENT_TYPE_LATEST


def gauge_sample(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """A value computed at scrape time, for a collector's ``collect()``."""
    return GaugeMetricFamily(name, documentation, value=value)


def exposition(*collectors) -> bytes:
    """Every process's samples (the files in METRICS_DIR), plus those of ``collectors`` (objects with ``collect()``)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(settings.METRICS_DIR))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry)


def process_dead(pid: int) -> None:
    """A child of `serve` exited: its live gauges (answers running) must stop counting."""
    if settings.METRICS_ENABLED:
        multiprocess.mark_process_dead(process_identifier(pid), path=str(settings.METRICS_DIR))


def directory_reset() -> None:
    """`serve` starts with no samples of an earlier run's processes (their pids may be reused)."""
    if settings.METRICS_ENABLED:
        for stale in settings.METRICS_DIR.glob("*.db"):
            stale.unlink(missing_ok=True)
