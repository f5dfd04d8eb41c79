"""Facts about an HTTP request that several entry points need."""

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address as the server saw it (recorded in the audit log; per-IP limits use the same)."""
    return request.META.get("REMOTE_ADDR")
