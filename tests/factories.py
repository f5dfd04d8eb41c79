"""Builders for test data: real rows in the real database, made the way the product makes them."""

import itertools

from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKeyScope, Role, User

PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_user(role: str = Role.MEMBER, *, username: str | None = None, password: str = PASSWORD) -> User:
    username = username or f"{role}-{next(_counter)}"
    user = User.objects.create_user(username=username, email=f"{username}@example.com", password=password)
    return services.user_role_change(actor=None, user=user, role=role)


def make_key(user: User, scopes: list[str] | None = None, **kwargs) -> str:
    _, secret = services.api_key_create(user=user, name="test key", scopes=scopes or list(ApiKeyScope.values), **kwargs)
    return secret


def key_client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def session_client(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client
