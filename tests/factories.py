"""Builders for test data: real rows in the real database, made the way the product makes them."""

import itertools
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiKeyScope, Role, User
from batches.models import Batch, BatchFile

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


def make_batch(user: User) -> Batch:
    """A batch (validating, never queued) with its one-line input file, for tests that need one to point at."""
    batch_file = BatchFile(owner=user, purpose="batch", filename="in.jsonl", bytes=8, lines=1)
    batch_file.file.save(f"{batch_file.id}.jsonl", ContentFile(b'{"a": 1}\n'), save=False)
    batch_file.save()
    return Batch.objects.create(
        owner=user,
        endpoint="/v1/chat/completions",
        requested_file_id=batch_file.id,
        input_file=batch_file,
        expires_at=timezone.now() + timedelta(hours=24),
    )
