"""Request ids and structured logs, and the optional OpenTelemetry set-up (docs/observability.md).

A request id is taken from ``X-Request-ID`` (when it is short and plain) or made up, returned in the response, put on
every log line of the request (the JSON format carries it as a field) and carried into the Huey tasks the request
enqueues: a hidden keyword the enqueue signal adds and the worker's pre-execute hook takes off before the task runs.
"""

import json
import logging
from datetime import UTC, datetime

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from huey.signals import SIGNAL_ENQUEUED

from core import request_id, tracing

logger = logging.getLogger(__name__)

HEADER = "X-Request-ID"
TASK_KEYWORD = "_request_id"  # never a task's own argument: tasks take ids, named for what they are


@sync_and_async_middleware
def request_context(get_response):
    """Outermost but metrics: every later layer's log lines carry the id."""

    def begin(request: HttpRequest):
        value = request_id.accepted_or_new(request.headers.get(HEADER))
        request.request_id = value
        return value, request_id.use(value)

    def end(request: HttpRequest, response: HttpResponse, value: str, span) -> HttpResponse:
        response.headers.setdefault(HEADER, value)
        if span is not None:
            match = getattr(request, "resolver_match", None)
            span.set_attribute("http.route", match.route if match is not None else "unmatched")
            span.set_attribute("http.response.status_code", response.status_code)
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            value, token = begin(request)
            try:
                with tracing.span("http.request", **{"http.request.method": request.method or ""}) as span:
                    return end(request, await get_response(request), value, span)
            finally:
                request_id.reset(token)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            value, token = begin(request)
            try:
                with tracing.span("http.request", **{"http.request.method": request.method or ""}) as span:
                    return end(request, get_response(request), value, span)
            finally:
                request_id.reset(token)

    return middleware


class RequestIdFilter(logging.Filter):
    """Gives every record the current request id ("" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line (LOG_FORMAT=json), for a log shipper; the message is already PII-redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", ""),
            "process": record.process,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def install_huey_hooks(huey) -> None:
    """The request id rides along with each task enqueued while serving a request."""

    @huey.signal(SIGNAL_ENQUEUED)
    def carry_request_id(signal: str, task, *args) -> None:
        current = request_id.get()
        if current and task.kwargs is not None:
            task.kwargs[TASK_KEYWORD] = current

    @huey.pre_execute()
    def take_request_id(task) -> None:
        carried = task.kwargs.pop(TASK_KEYWORD, "") if task.kwargs else ""
        request_id.use(carried)  # this worker thread's id until the next task sets its own

    @huey.post_execute()
    def drop_request_id(task, task_value, exc) -> None:
        request_id.use("")


def setup_tracing() -> None:
    """Spans to the OTLP endpoint, when one is set and the packages are there (imported only then)."""
    if not settings.OTEL_EXPORTER_OTLP_ENDPOINT or tracing.enabled():
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        logger.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed (%s): no spans", exc)
        return
    provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # reads the endpoint from the environment
    tracing.enable(provider.get_tracer("genaisite"))
