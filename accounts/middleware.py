from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import ratelimits
from accounts.authentication import InvalidApiKey, api_key_authenticate, bearer_token
from core.db import in_db_thread

# Counted elsewhere (the APIs count after their own authentication) or not worth counting.
UNCOUNTED_PREFIXES = ("/api/", "/v1/", "/static/", "/healthz", "/readyz", "/favicon.ico")


def page_rate_limit(get_response):
    """Pages: signed-in users count on their own limit, visitors on their IP's (sign-in and sign-up included).
    Over the limit: a 429 page with Retry-After. Sync on purpose: reading ``request.user`` may query the database."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path.startswith(UNCOUNTED_PREFIXES):
            return get_response(request)
        if request.user.is_authenticated:
            decision = ratelimits.check_request(request.user)
        else:
            decision = ratelimits.anonymous_request(request)
        if decision.allowed:
            return get_response(request)
        error = ratelimits.refusal(decision)
        response = render(request, "429.html", {"message": error.message, "retry_after": error.retry_after}, status=429)
        response["Retry-After"] = str(error.retry_after)
        return response

    return middleware


class ApiKeyWebsocketMiddleware:
    """Channels: a client that sends ``Authorization: Bearer <key>`` with the websocket handshake is that key's user.

    Sits inside AuthMiddlewareStack, so browsers keep using their session. A bad key leaves the user anonymous and the
    consumer refuses the socket.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        if token is not None:
            from django.contrib.auth.models import AnonymousUser

            try:
                api_key = await in_db_thread(api_key_authenticate)(token)
            except InvalidApiKey:
                scope = {**scope, "user": AnonymousUser(), "api_key": None}
            else:
                scope = {**scope, "user": api_key.user, "api_key": api_key}
        return await self.app(scope, receive, send)
