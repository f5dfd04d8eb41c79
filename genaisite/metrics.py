"""/metrics for the whole instance, and the HTTP middleware that counts requests.

One scrape of any web process reads the samples every process wrote (core.metrics: multiprocess mode), plus two
values computed at scrape time from Valkey: the queue's depth and the worker heartbeat's age. The model server's
own /metrics (llama-server's ``--metrics``) is scraped by Prometheus directly, never proxied here
(docs/observability.md).

Who may read it: with ``METRICS_TOKEN`` set, whoever sends it as a bearer token; without, only a direct loopback
connection (a request forwarded by a proxy on the same host carries forwarding headers and is refused).
"""

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import sync_and_async_middleware
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from huey.contrib.djhuey import HUEY

from core import metrics
from genaisite.tasks import HEARTBEAT_KEY

logger = logging.getLogger(__name__)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _route(request: HttpRequest) -> str:
    """The URL pattern that answered (``api/v1/conversations/<uuid:pk>/``), never the path someone typed."""
    match = getattr(request, "resolver_match", None)
    return match.route if match is not None and match.route else "unmatched"


def _record(request: HttpRequest, response: HttpResponse, started: float) -> None:
    route = _route(request)
    method = metrics.bounded(request.method or "", METHODS)
    metrics.HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    metrics.HTTP_DURATION.labels(route).observe(time.perf_counter() - started)


@sync_and_async_middleware
def request_metrics(get_response):
    """Outermost, so it sees the status the client gets (errors turned into responses by the layers inside)."""
    if not settings.METRICS_ENABLED:
        return get_response

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            started = time.perf_counter()
            response = await get_response(request)
            _record(request, response, started)
            return response

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            started = time.perf_counter()
            response = get_response(request)
            _record(request, response, started)
            return response

    return middleware


class QueueCollector:
    """Read from Valkey at scrape time: cheap (two commands), and the same for whichever web process answers."""

    def collect(self) -> Iterator:
        try:
            depth = HUEY.pending_count()
            beat = HUEY.get(HEARTBEAT_KEY, peek=True)
        except Exception as exc:  # the broker is down: the scrape still answers, without these two
            logger.warning("metrics: queue not readable: %s", exc)
            return
        yield metrics.gauge_sample("genaisite_queue_depth", "Tasks waiting in the queue", depth)
        if beat is not None:
            age = time.time() - beat
            yield metrics.gauge_sample("genaisite_worker_heartbeat_age_seconds", "Since a worker last reported in", age)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _refusal(request: HttpRequest) -> JsonResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return None
        message = "Send the metrics token as 'Authorization: Bearer <METRICS_TOKEN>'."
        return JsonResponse({"error": {"code": "metrics_token_required", "message": message}}, status=401)
    forwarded = any(header in request.META for header in FORWARDING_HEADERS)
    if _is_loopback(request.META.get("REMOTE_ADDR", "")) and not forwarded:
        return None
    message = "Metrics are served to loopback only; set METRICS_TOKEN to read them from elsewhere."
    return JsonResponse({"error": {"code": "metrics_forbidden", "message": message}}, status=403)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_ENABLED:
        message = "Metrics are turned off (METRICS_ENABLED)."
        return JsonResponse({"error": {"code": "metrics_disabled", "message": message}}, status=404)
    refused = _refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(metrics.exposition(QueueCollector()), content_type=metrics.CONTENT_TYPE)
