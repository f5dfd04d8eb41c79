"""Response-header middleware, async-native, so requests never hop to a thread for it.

Django runs classic middleware (``MiddlewareMixin``) under ASGI by moving each ``process_request`` and
``process_response`` to a thread: about a dozen thread hops per request for the default stack. The OpenAI-compatible
API authenticates by bearer key only, so sessions, CSRF, messages and clickjacking protection have nothing to do
there; it gets ``api_security_headers`` alone (see genaisite/asgi.py). Browser pages also get the CSP.
"""

from asgiref.sync import iscoroutinefunction
from django.utils.decorators import sync_and_async_middleware

# No inline script or style, nothing from other origins: an injected <script> or onerror= cannot run, and a page
# cannot be framed. Websockets to this host are covered by 'self'.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def header_middleware(headers: dict[str, str]):
    """A middleware that adds ``headers`` to every response that does not set them itself."""

    @sync_and_async_middleware
    def factory(get_response):
        def add(response):
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response

        if iscoroutinefunction(get_response):

            async def middleware(request):
                return add(await get_response(request))

        else:

            def middleware(request):
                return add(get_response(request))

        return middleware

    return factory


API_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
api_security_headers = header_middleware(API_SECURITY_HEADERS)
content_security_policy = header_middleware({"Content-Security-Policy": CONTENT_SECURITY_POLICY})
