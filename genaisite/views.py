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
