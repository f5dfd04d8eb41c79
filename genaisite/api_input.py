"""The APIs' front door: a request under /api/v1/ or /v1/ has its size, query string and JSON body checked before
any other code reads them, and every error it gets back is JSON in the shape of its API, whatever produced it
(Django's 404 and 405, its debug pages, its refusal of a body too large).

Behind Daphne the ASGI guard (genaisite/asgi_guard.py) has already refused a body over the limit before Django
spooled it; this middleware holds the same limits for every other way in (the test client, WSGI).
"""

import functools

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponsePermanentRedirect, HttpResponseRedirectBase
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.urls import reverse
from django.utils.http import escape_leading_slashes

from core.input_checks import InvalidInput, check_query_string, parse_json
from genaisite.api_errors import SERVER_ERROR_MESSAGE, error_response, is_api_path, is_openai_path

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# Codes for the errors Django answers itself; views answer the rest with codes of their own.
ERROR_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    500: "server_error",
}
KEPT_HEADERS = ("Allow", "Retry-After")
# Checking a body this big takes milliseconds of CPU (a crafted one of a few MB, a few hundred): done in a thread,
# so the event loop keeps serving the streams in flight.
OFF_LOOP_BYTES = 256 * 1024


@functools.cache
def _upload_path() -> str:
    return reverse("api-documents").rstrip("/")


@functools.cache
def _batch_upload_paths() -> frozenset[str]:
    return frozenset(reverse(name).rstrip("/") for name in ("openai-files", "api-batches"))


def body_limit(method: str, path: str, content_type: str) -> int:
    """The largest body a request may send: a document upload's on the upload endpoint, a batch file's on the two
    batch upload endpoints, any other the JSON one."""
    if method == "POST" and content_type == MULTIPART and path.rstrip("/") == _upload_path():
        return settings.UPLOAD_MAX_BODY_BYTES
    if method == "POST" and content_type == MULTIPART and path.rstrip("/") in _batch_upload_paths():
        return settings.BATCH_FILE_MAX_BYTES + 64 * 1024  # the file and the form around it
    return settings.REQUEST_MAX_BODY_BYTES


def too_large(limit: int) -> InvalidInput:
    megabytes = limit / 1_048_576
    message = f"The request body is larger than this endpoint accepts ({megabytes:.1f} MB)."
    return InvalidInput("request_too_large", message, status=413)


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        raise InvalidInput("bad_request", "The Content-Length header is not a number.") from None


def _reads_as_json(path: str, content_type: str) -> bool:
    if content_type == "application/json" or content_type.endswith("+json"):
        return True
    # The OpenAI-compatible views read any body as JSON, whatever it is labelled.
    return is_openai_path(path) and content_type not in (FORM, MULTIPART)


def check_request(request: HttpRequest) -> None:
    """Raise ``InvalidInput`` for the first problem with an API request's query string, size or body."""
    path = request.path_info
    check_query_string(request.META.get("QUERY_STRING", ""))
    content_type = (request.content_type or "").lower()
    limit = body_limit(request.method or "GET", path, content_type)
    if _content_length(request) > limit:
        raise too_large(limit)
    if content_type == MULTIPART:
        # Files stream to disk as Django parses; the form's other fields go through serializers, whose CharFields
        # refuse NUL and surrogates themselves. Reading the body here would hold a whole upload in memory.
        return
    # Read even without a Content-Length: a chunked body has none, and the views read it all the same.
    body = request.body
    if len(body) > limit:
        raise too_large(limit)
    if not body:
        return
    if content_type == FORM:
        check_query_string(body)
    elif _reads_as_json(path, content_type):
        parse_json(body)


def django_refusal(exc: Exception) -> InvalidInput | None:
    """Django's own refusals of a request (a body, or too many fields or files), said as ours."""
    if isinstance(exc, InvalidInput):
        return exc
    if isinstance(exc, RequestDataTooBig):
        return too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, TooManyFieldsSent):
        return InvalidInput("too_many_fields", "The request has more parameters or form fields than accepted.")
    if isinstance(exc, TooManyFilesSent):
        return InvalidInput("too_many_files", "The request has more files than accepted.")
    return None


def refusal_response(request: HttpRequest, error: InvalidInput) -> HttpResponse:
    return error_response(request.path_info, error.status, error.code, error.message, field=error.field)


def _message(request: HttpRequest, response: HttpResponse) -> str:
    status = response.status_code
    if status == 404:
        return f"No such endpoint: {request.path}"
    if status == 405:
        allowed = response.get("Allow", "")
        return f"{request.method} is not allowed on {request.path}" + (f"; use {allowed}." if allowed else ".")
    if status == 413:
        return too_large(settings.REQUEST_MAX_BODY_BYTES).message
    if status >= 500:
        return SERVER_ERROR_MESSAGE
    return f"{response.reason_phrase}."


def as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """An error that is not JSON yet (Django's plain 405, its debug 404 and 500 pages) rewritten in the API's
    shape; anything else as it is."""
    if response.status_code < 400 or response.streaming:
        return response
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return response
    code = ERROR_CODES.get(response.status_code, "error")
    shaped = error_response(request.path_info, response.status_code, code, _message(request, response))
    for header in KEPT_HEADERS:
        if header in response:
            shaped[header] = response[header]
    return shaped


class ApiInputMiddleware:
    """Checks API requests before anything reads them; answers every API error as JSON. Async-native (no thread
    hop under ASGI): its checks are CPU only, on a body the server has already received."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        if not is_api_path(request.path_info):
            return self.get_response(request)
        return self._refusal(request) or as_json(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path_info):
            return await self.get_response(request)
        if request.META.get("CONTENT_LENGTH", "").isdigit() and int(request.META["CONTENT_LENGTH"]) > OFF_LOOP_BYTES:
            refusal = await sync_to_async(self._refusal, thread_sensitive=False)(request)
        else:
            refusal = self._refusal(request)
        return refusal or as_json(request, await self.get_response(request))

    def _refusal(self, request: HttpRequest) -> HttpResponse | None:
        try:
            check_request(request)
        except (InvalidInput, RequestDataTooBig) as exc:
            return refusal_response(request, django_refusal(exc))
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        # A view that reads a multipart body meets Django's limits only then (a form field over
        # DATA_UPLOAD_MAX_MEMORY_SIZE, too many files); Django would answer an HTML 400.
        error = django_refusal(exception) if is_api_path(request.path_info) else None
        return None if error is None else refusal_response(request, error)


class HttpResponsePermanentRedirectKeepingMethod(HttpResponseRedirectBase):
    status_code = 308


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's, except for an API call missing its trailing slash. Django answers that with a 301, which clients
    follow as a GET (a POST to a list would list it), and under DEBUG raises RuntimeError for a write (a 500). An
    API write is redirected with 308, which keeps its method and body."""

    def get_full_path_with_slash(self, request: HttpRequest) -> str:
        if not is_api_path(request.path_info):
            return super().get_full_path_with_slash(request)
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if is_api_path(request.path_info) and response.status_code == 404 and self.should_redirect_with_slash(request):
            location = self.get_full_path_with_slash(request)
            if request.method in SAFE_METHODS:
                return HttpResponsePermanentRedirect(location)
            return HttpResponsePermanentRedirectKeepingMethod(location)
        return super().process_response(request, response)
