"""One error shape for /api/v1/: ``{"error": {"code", "message", "fields"?}}``, with the right status."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ServiceError


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
