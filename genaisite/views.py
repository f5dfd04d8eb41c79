from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView

from genaisite import health
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


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI, served from our own static files. Its start-up script is a file (the split view), so scripts
    stay 'self'-only; but the UI injects <style> elements as it renders, so this one page allows inline styles."""

    CSP = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = self.CSP
        return response
