import sys

from django.db import OperationalError as DatabaseOperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.input_checks import InvalidInput
from genaisite import health
from genaisite.api_errors import SERVER_ERROR_MESSAGE, error_response, is_api_path
from genaisite.api_input import django_refusal, refusal_response
from genaisite.middleware import CONTENT_SECURITY_POLICY


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("chat:home")
    return render(request, "home.html")


@never_cache
@require_GET
async def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches nothing, so a slow dependency never gets a healthy process killed."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
async def readyz(request: HttpRequest) -> JsonResponse:
    states = await health.readiness()
    not_ready = [name for name, state in states.items() if not state.ready]
    body = {
        "status": "ready" if not not_ready else "not ready",
        "not_ready": not_ready,
        "components": {name: {"ready": s.ready, "detail": s.detail} for name, s in states.items()},
    }
    return JsonResponse(body, status=503 if not_ready else 200)


# Under DEBUG Django answers 404 and 500 with its debug pages instead of these; for the APIs the middleware in
# genaisite/api_input.py rewrites those as JSON too.


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's refusals of a request outside a view (a body too big, too many fields), in the API's shape."""
    if is_api_path(request.path_info):
        error = django_refusal(exception) or InvalidInput("bad_request", "The request could not be understood.")
        return refusal_response(request, error)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if is_api_path(request.path_info):
        detail = exception.args[0] if exception.args and isinstance(exception.args[0], str) else None
        return error_response(request.path_info, 404, "not_found", detail or f"No such endpoint: {request.path}")
    return render(request, "404.html", status=404)


def _unavailable_part() -> str | None:
    """Which part of the service the error being handled says is down: "database", "broker", or None."""
    exc = sys.exc_info()[1]
    seen = 0
    while exc is not None and seen < 10:  # the cause chain (Django wraps the driver's errors)
        if isinstance(exc, DatabaseOperationalError | PoolTimeout):
            return "database"
        if isinstance(exc, RedisConnectionError | RedisTimeoutError):
            return "broker"
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def server_error(request: HttpRequest) -> HttpResponse:
    part = _unavailable_part()
    if part is not None:
        message = f"The {part} is unavailable right now; try again in a few seconds."
        if is_api_path(request.path_info):
            response = error_response(request.path_info, 503, f"{part}_unavailable", message)
        else:
            # No template: the page's layout reads the session and the user, from the database that is down.
            page = f"<!doctype html><title>Unavailable · genaisite</title><h1>Unavailable</h1><p>{message}</p>"
            response = HttpResponse(page, status=503)
        response["Retry-After"] = "5"
        return response
    if is_api_path(request.path_info):
        return error_response(request.path_info, 500, "server_error", SERVER_ERROR_MESSAGE)
    return render(request, "500.html", status=500)


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI, served from our own static files. Its start-up script is a file (the split view), so scripts
    stay 'self'-only; but the UI injects <style> elements as it renders, so this one page allows inline styles."""

    CSP = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = self.CSP
        return response
