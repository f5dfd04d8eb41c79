from channels.db import database_sync_to_async

from accounts.authentication import InvalidApiKey, api_key_authenticate, bearer_token


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
                api_key = await database_sync_to_async(api_key_authenticate)(token)
            except InvalidApiKey:
                scope = {**scope, "user": AnonymousUser(), "api_key": None}
            else:
                scope = {**scope, "user": api_key.user, "api_key": api_key}
        return await self.app(scope, receive, send)
