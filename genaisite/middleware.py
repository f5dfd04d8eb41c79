"""Middleware for the machine API (/v1/): async-native, so requests there never hop to a thread for it.

Django runs classic middleware (``MiddlewareMixin``) under ASGI by moving each ``process_request`` and
``process_response`` to a thread: about a dozen thread hops per request for the default stack. The OpenAI-compatible
API authenticates by bearer key only, so sessions, CSRF, messages and clickjacking protection have nothing to do
there; it gets this stack instead (see genaisite/asgi.py).
"""

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware


@sync_and_async_middleware
def api_security_headers(get_response):
    def add_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request):
            return add_headers(await get_response(request))

    else:

        def middleware(request):
            return add_headers(get_response(request))

    return middleware
