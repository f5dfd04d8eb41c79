from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from genaisite import health


@require_GET
def home(request: HttpRequest) -> HttpResponse:
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


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(("/api/", "/v1/"))


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        detail = exception.args[0] if exception.args and isinstance(exception.args[0], str) else None
        message = detail or f"No such endpoint: {request.path}"
        return JsonResponse({"error": {"code": "not_found", "message": message}}, status=404)
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        message = "Internal error; it has been logged. Try again, or contact the administrator."
        return JsonResponse({"error": {"code": "server_error", "message": message}}, status=500)
    return render(request, "500.html", status=500)
