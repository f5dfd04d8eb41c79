"""ASGI entry point: HTTP through Django (static files included), websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

# Servers get production settings unless told otherwise; `manage.py serve` passes its own module explicitly.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genaisite.settings.production")
django_application = get_asgi_application()

# Imported after Django is set up: these modules touch models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402

from accounts.middleware import ApiKeyWebsocketMiddleware  # noqa: E402
from accounts.routing import websocket_urlpatterns as account_sockets  # noqa: E402
from chat.routing import websocket_urlpatterns as chat_sockets  # noqa: E402
from genaisite.asgi_guard import ApiRequestGuard  # noqa: E402


class MachineAPIHandler(ASGIHandler):
    """Django for /v1/ (bearer keys only) with the async-native MACHINE_API_MIDDLEWARE instead of the browser stack."""

    def load_middleware(self, is_async: bool = False) -> None:
        browser_stack = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.MACHINE_API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = browser_stack


browser_http = ASGIStaticFilesHandler(django_application)
machine_http = MachineAPIHandler()


async def http_application(scope, receive, send):
    handler = machine_http if scope["path"].startswith("/v1/") else browser_http
    return await handler(scope, receive, send)


application = ProtocolTypeRouter(
    {
        # API requests over their size limit are refused before Django spools their body (genaisite/asgi_guard.py).
        "http": ApiRequestGuard(http_application),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(ApiKeyWebsocketMiddleware(URLRouter([*account_sockets, *chat_sockets])))
        ),
    }
)


def _quiet_autobahn_highlighting() -> None:
    # autobahn (Daphne's websocket layer) colours the arguments of its debug log lines with click on every frame
    # it sends, even when debug logging is off: about a tenth of a millisecond per streamed token.
    import autobahn.util

    autobahn.util._HAS_CLICK = False


_quiet_autobahn_highlighting()


def _leave_request_bodies_to_django() -> None:
    # Twisted (under Daphne) parses the body of every form or multipart POST into request.args, which Daphne never
    # reads: Django parses the body again itself. That first parse runs on the reactor thread, so a 25 MB upload
    # stalled every stream of the process for about a second; and a multipart body it cannot parse (one with no
    # parts) got a bare 400, without the API's error shape, before Django saw the request.
    from daphne import http_protocol

    parsing_init = http_protocol.WebRequest.__init__

    def __init__(self, *args, **kwargs) -> None:
        parsing_init(self, *args, **{"parsePOSTFormSubmission": False, **kwargs})

    http_protocol.WebRequest.__init__ = __init__


_leave_request_bodies_to_django()
