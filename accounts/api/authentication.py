from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.authentication import InvalidApiKey, api_key_authenticate, bearer_token
from accounts.models import ApiKey, User


class ApiKeyAuthentication(BaseAuthentication):
    """DRF: ``Authorization: Bearer <key>``. ``request.auth`` is the ApiKey, so views can check its scopes."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None
        try:
            api_key = api_key_authenticate(token)
        except InvalidApiKey as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        return api_key.user, api_key

    def authenticate_header(self, request: Request) -> str:
        # Present, so DRF answers 401 (not 403) when credentials are missing or wrong.
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the scheme in the OpenAPI schema, so the docs page offers an "Authorize" box for keys."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema) -> dict:
        return {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer gsk_…`"}
