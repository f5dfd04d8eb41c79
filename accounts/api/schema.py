"""The OpenAPI schema of /api/v1 describes every answer, errors included, in the shape genaisite.api_errors gives.

Each operation documents its own successes and the errors only it can give (``errors(409, 413)`` in its
``extend_schema``). The errors that come from the gates every request passes — the query or body is invalid (400),
a body too large (413), no credentials (401), not allowed (403), no such object (404), too many requests (429) — are
added here from the view itself (its permissions, throttles, body and path), so no operation can forget one.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated

ERROR_DESCRIPTIONS = {
    400: "The request is invalid: `error.fields` names each field's problems when a field is at fault.",
    401: "No credentials, or they are invalid, revoked or expired.",
    403: "Not allowed: your role, your API key's scopes, or (for browser sessions) a missing CSRF token.",
    404: "No such object, or it is not yours.",
    409: "It conflicts with the current state (a duplicate, an answer still being written).",
    413: "Too large.",
    422: "Understood, but refused (a guardrail, or no readable text).",
    429: "Too many requests, or today's token budget is spent: `Retry-After` says when to try again.",
    502: "An upstream (the model server, a web site) failed.",
    503: "A service this needs is unavailable; try again shortly.",
    504: "An upstream did not answer in time.",
}
BODY_METHODS = ("POST", "PUT", "PATCH")


class ErrorDetail(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable: `invalid`, `not_found`, `rate_limited`…")
    message = serializers.CharField(help_text="For people: what went wrong and what to do.")
    fields = serializers.DictField(
        required=False, help_text="On invalid input: the problems of each field, by field name."
    )
    existing_id = serializers.CharField(
        required=False, help_text="On a duplicate (409): the id of the object that already exists, to use instead."
    )


class ErrorResponse(serializers.Serializer):
    error = ErrorDetail()


def error_response(status: int) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponse, description=ERROR_DESCRIPTIONS[status])


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """``responses={201: X, **errors(409, 413)}``: the errors an operation can give beyond the common ones."""
    return {status: error_response(status) for status in statuses}


class ApiAutoSchema(AutoSchema):
    def gate_errors(self) -> list[int]:
        """The errors this operation's request passes through, whatever the view does with it."""
        # The input gate (genaisite/api_input.py) checks every query string (NUL, broken UTF-8, lone surrogates) and
        # every body (size, depth, the same characters): any operation can answer 400, and 413 when it takes a body.
        statuses = [400]
        if self.method in BODY_METHODS:
            statuses.append(413)
        permissions = self.view.get_permissions()
        if any(isinstance(permission, IsAuthenticated) for permission in permissions):
            statuses += [401, 403]
        if "{" in self.path:
            statuses.append(404)
        if self.view.get_throttles():
            statuses.append(429)
        return statuses

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        for status in self.gate_errors():
            code = str(status)
            if code not in responses:
                responses[code] = self._get_response_for_code(error_response(status), code, direction=direction)
        return dict(sorted(responses.items()))

    def _get_response_headers_for_code(self, status_code: str, direction: str = "response") -> dict:
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code == "429":
            headers.setdefault(
                "Retry-After",
                {"schema": {"type": "integer"}, "description": "Seconds until a request may succeed again."},
            )
        return headers


def drop_legacy_paths(endpoints: list[tuple], **kwargs) -> list[tuple]:
    """Preprocessing hook: the old slashless aliases (accounts.api.routes) answer, but are not documented."""
    return [endpoint for endpoint in endpoints if endpoint[0].endswith("/")]
