"""Writes for accounts: every change to users goes through here."""

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction


@transaction.atomic
def initial_admin_ensure(*, username: str, email: str, password: str | None) -> tuple[object, str | None] | None:
    """Create the first superuser unless one exists.

    Returns the new user and the password that was generated for it (None when the operator supplied one), or None
    when a superuser already existed, so the caller prints a generated password exactly once.
    """
    user_model = get_user_model()
    if user_model.objects.filter(is_superuser=True).exists():
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = user_model.objects.create_superuser(username=username, email=email, password=password)
    return user, generated
