"""Who is calling: sessions (through the auth backend below) and API keys (``Authorization: Bearer <key>``)."""

from django.contrib.auth.backends import ModelBackend

from accounts import keys
from accounts.models import ApiKey, User
from accounts.permissions import can_manage_api_keys
from accounts.services import api_key_touch


class SuspensionAwareBackend(ModelBackend):
    """Refuses suspended users at sign-in *and* when loading the user of an existing session, which signs a
    suspended user out of every browser on their next request."""

    def user_can_authenticate(self, user: User) -> bool:
        return super().user_can_authenticate(user) and not getattr(user, "is_suspended", False)


class InvalidApiKey(Exception):
    """The presented key cannot be used; the message is safe to show to the caller."""


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def api_key_authenticate(raw_key: str) -> ApiKey:
    """The usable key matching ``raw_key``, with its user; InvalidApiKey otherwise. Never cached, so revocation,
    expiry and suspension take effect on the very next request."""
    prefix = keys.prefix_of(raw_key)
    if prefix is None:
        raise InvalidApiKey("Malformed API key.")
    # One query brings the key, its user and the user's policy override (policy checks follow on every call).
    api_key = ApiKey.objects.select_related("user", "user__policy_override").filter(prefix=prefix).first()
    if api_key is None or not keys.matches(raw_key, api_key.hashed_key):
        raise InvalidApiKey("Invalid API key.")
    if api_key.revoked_at is not None:
        raise InvalidApiKey("This API key has been revoked.")
    if api_key.is_expired:
        raise InvalidApiKey("This API key has expired.")
    user = api_key.user
    if not user.is_active or user.is_suspended:
        raise InvalidApiKey("The account that owns this API key is suspended or inactive.")
    if not can_manage_api_keys(user):
        raise InvalidApiKey("The role of this key's owner no longer allows API keys.")
    api_key_touch(api_key)
    return api_key
