"""Response-header middleware, async-native, so requests never hop to a thread for it.

Django runs classic middleware (``MiddlewareMixin``) under ASGI by moving each ``process_request`` and
``process_response`` to a thread: about a dozen thread hops per request for the default stack. The OpenAI-compatible
API authenticates by bearer key only, so sessions, CSRF, messages and clickjacking protection have nothing to do
there; it gets ``api_security_headers`` alone (see genaisite/asgi.py). Browser pages also get the CSP.
"""

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction
from django.http.response import HttpResponseBase
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


def header_middleware(headers: dict[str, str | Callable[[HttpResponseBase], str]]):
    """A middleware that adds ``headers`` to every response that does not set them itself; a callable value is asked
    for the value from the response."""

    @sync_and_async_middleware
    def factory(get_response):
        def add(response):
            for name, value in headers.items():
                if name not in response.headers:
                    response.headers[name] = value(response) if callable(value) else value
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


def policy_allowing_form_targets(origins: list[str]) -> str:
    """The policy, with forms also allowed to lead to ``origins``: browsers apply form-action to the redirects that
    follow a submission, so a sign-in button whose POST is answered by a redirect to an identity provider needs it."""
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", " ".join(["form-action 'self'", *origins]))


def _page_policy(response: HttpResponseBase) -> str:
    # A page widens form-action by setting ``response.csp_form_action`` (the sign-in page, for its providers).
    origins = getattr(response, "csp_form_action", None)
    return policy_allowing_form_targets(origins) if origins else CONTENT_SECURITY_POLICY


content_security_policy = header_middleware({"Content-Security-Policy": _page_policy})
