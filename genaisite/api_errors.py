"""One error shape per entry point, with the right status: ``{"error": {"code", "message", "fields"?,
"existing_id"?}}`` for /api/v1/, OpenAI's ``{"error": {"message", "type", "param", "code"}}`` for /v1/."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chat.openai_compat.views import openai_error
from core.errors import ServiceError

# Everything under /api/ is the REST API's (unknown versions included, so they get a JSON 404 too).
REST_PREFIX = "/api"
OPENAI_PREFIX = "/v1"
SERVER_ERROR_MESSAGE = "Internal error; it has been logged. Try again, or contact the administrator."


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def is_api_path(path: str) -> bool:
    """Is ``path`` (a request's path_info) answered by one of the APIs, so every answer to it is JSON?"""
    return _under(path, REST_PREFIX) or _under(path, OPENAI_PREFIX)


def is_openai_path(path: str) -> bool:
    return _under(path, OPENAI_PREFIX)


def error_response(path: str, status: int, code: str, message: str, *, field: str | None = None) -> JsonResponse:
    """An error in the shape of the API ``path`` belongs to; ``field`` names the input that holds the problem."""
    if is_openai_path(path):
        # OpenAI's types for the statuses answered here (the views type authentication and rate limits themselves).
        kind = "invalid_request_error" if status < 500 else "api_error"
        return openai_error(status, message, kind=kind, code=code, param=field)
    body: dict = {"error": {"code": code, "message": message}}
    if field is not None:
        body["error"]["fields"] = {field: [message]}  # as DRF reports a field's errors
    return JsonResponse(body, status=status)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key in ("non_field_errors", "__all__", "detail") else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _from_django(exc: Exception) -> Exception:
    """Services raise Django's exceptions; map them onto DRF's so they get the right status."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return exceptions.ValidationError(detail)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(str(exc) or None)
    if isinstance(exc, Http404):
        return exceptions.NotFound(str(exc) or None)
    return exc


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ServiceError):
        error = {"code": exc.code, "message": exc.message}
        if exc.param is not None:
            error["fields"] = {exc.param: [exc.message]}
        if exc.existing_id is not None:
            error["existing_id"] = exc.existing_id
        response = Response({"error": error}, status=exc.status)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    exc = _from_django(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers (in JSON under /api/)
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else code
    body = {"error": {"code": code, "message": _first_message(response.data)}}
    if isinstance(exc, exceptions.ValidationError) and isinstance(response.data, dict):
        body["error"]["fields"] = response.data
    if response.status_code == status.HTTP_401_UNAUTHORIZED and code == "not_authenticated":
        body["error"]["message"] = "Sign in, or send an API key as 'Authorization: Bearer <key>'."
    response.data = body
    return response
