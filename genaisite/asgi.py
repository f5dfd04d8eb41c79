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

from accounts.middleware import ApiKeyWebsocketMiddleware  # noqa: E402
from accounts.routing import websocket_urlpatterns as account_sockets  # noqa: E402
from chat.routing import websocket_urlpatterns as chat_sockets  # noqa: E402
from documents import embeddings  # noqa: E402
from genaisite.channel_layer import mark_web_process  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_application),
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(ApiKeyWebsocketMiddleware(URLRouter([*account_sockets, *chat_sockets])))
        ),
    }
)

mark_web_process()
if settings.EMBEDDING_WARMUP:
    embeddings.start_warmup()
