"""Failed sign-in throttling, per username and per client IP, on django-ratelimit's cache counters."""

from django.conf import settings
from django.http import HttpRequest
from django_ratelimit.core import get_usage

GROUP = "accounts.login-failures"


def _usages(request: HttpRequest, username: str, *, increment: bool) -> list[dict]:
    checks = [
        ("username", lambda group, req: username.strip().lower(), settings.LOGIN_FAILURES_PER_USERNAME),
        ("ip", "ip", settings.LOGIN_FAILURES_PER_IP),
    ]
    usages = []
    for name, key, rate in checks:
        usage = get_usage(request, group=f"{GROUP}.{name}", key=key, rate=rate, increment=increment)
        if usage is not None:
            usages.append(usage)
    return usages


def seconds_until_login_allowed(request: HttpRequest, username: str) -> int:
    """0 when another attempt may be made; otherwise how long until the oldest window ends."""
    blocked = [
        usage["time_left"] for usage in _usages(request, username, increment=False) if usage["count"] >= usage["limit"]
    ]
    return max(blocked, default=0)


def record_failed_login(request: HttpRequest, username: str) -> None:
    _usages(request, username, increment=True)
