"""The one permission layer: ``can_*`` predicates and fetch-and-check ``access_*`` helpers.

HTML views, DRF views, websocket consumers and retrieval all ask here. Capabilities come from the role; limits come
from the role's policy (``accounts.policies``). Another user's object is reported as missing (404), never as
forbidden, so ids of other people's objects reveal nothing.
"""

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404

from accounts.models import ApiKey, Role, User
from accounts.policies import policy_for
from core.errors import ServiceError


class Capability:
    CHAT = "chat"
    DOCUMENTS = "documents"
    SHARE_DOCUMENTS = "share_documents"
    WEB = "web"
    API_KEYS = "api_keys"
    ML = "ml"
    MODERATE = "moderate"
    SUSPEND_USERS = "suspend_users"
    MANAGE_USERS = "manage_users"
    MANAGE_POLICIES = "manage_policies"
    READ_AUDIT_LOG = "read_audit_log"


_MEMBER = {
    Capability.CHAT,
    Capability.DOCUMENTS,
    Capability.SHARE_DOCUMENTS,
    Capability.WEB,
    Capability.API_KEYS,
    Capability.ML,
}
_MODERATOR = _MEMBER | {Capability.MODERATE, Capability.SUSPEND_USERS}
CAPABILITIES: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(
        _MODERATOR | {Capability.MANAGE_USERS, Capability.MANAGE_POLICIES, Capability.READ_AUDIT_LOG}
    ),
    Role.MODERATOR: frozenset(_MODERATOR),
    Role.MEMBER: frozenset(_MEMBER),
    # Predicting with a published ML model reads its answer and spends no tokens: viewers may, as they may chat.
    Role.VIEWER: frozenset({Capability.CHAT, Capability.ML}),
}


class NotFound(Http404):
    """Raised by ``access_*`` helpers: missing and not-yours look the same."""


def is_usable_account(user: User | None) -> bool:
    return bool(user and user.is_authenticated and user.is_active and not user.is_suspended)


def capabilities_of(user: User | None) -> frozenset[str]:
    if not is_usable_account(user):
        return frozenset()
    return CAPABILITIES.get(user.role, frozenset())


def has_capability(user: User | None, capability: str) -> bool:
    return capability in capabilities_of(user)


def missing_scope(api_key: ApiKey | None, scope: str) -> str | None:
    """Why a request made with ``api_key`` may not do what needs ``scope`` (None: it may). Sessions have every
    scope; this is the one place the rule is written."""
    if api_key is None or scope in api_key.scopes:
        return None
    return f"This API key lacks the '{scope}' scope."


def require_scope(api_key: ApiKey | None, scope: str) -> None:
    if (reason := missing_scope(api_key, scope)) is not None:
        raise ServiceError("insufficient_scope", reason, status=403)


def can_chat(user: User | None) -> bool:
    return has_capability(user, Capability.CHAT)


def can_use_model(user: User | None, model: str) -> bool:
    return can_chat(user) and policy_for(user).allows_model(model)


def can_manage_documents(user: User | None) -> bool:
    return has_capability(user, Capability.DOCUMENTS)


def can_upload_documents(user: User | None) -> bool:
    return can_manage_documents(user) and policy_for(user).max_upload_bytes > 0


def can_share_documents(user: User | None) -> bool:
    return has_capability(user, Capability.SHARE_DOCUMENTS)


def can_share_presets(user: User | None) -> bool:
    # One right to share, for documents and presets alike: a role that may not publish a document may not publish the
    # instructions and knowledge of a preset either.
    return has_capability(user, Capability.SHARE_DOCUMENTS)


def can_edit_builtin_presets(user: User | None) -> bool:
    """The built-in presets are the service's own, like its policies: admins edit them."""
    return has_capability(user, Capability.MANAGE_POLICIES)


def can_predict(user: User | None) -> bool:
    return has_capability(user, Capability.ML)


def can_manage_ml_models(user: User | None) -> bool:
    """Versions, aliases, approved artifact types and training are the service's own, like its policies: admins."""
    return has_capability(user, Capability.MANAGE_POLICIES)


def can_fetch_web(user: User | None) -> bool:
    return has_capability(user, Capability.WEB) and policy_for(user).web_access


def can_manage_api_keys(user: User | None) -> bool:
    return has_capability(user, Capability.API_KEYS)


def can_moderate(user: User | None) -> bool:
    return has_capability(user, Capability.MODERATE)


def can_suspend_users(user: User | None) -> bool:
    return has_capability(user, Capability.SUSPEND_USERS)


def can_manage_users(user: User | None) -> bool:
    return has_capability(user, Capability.MANAGE_USERS)


def can_manage_policies(user: User | None) -> bool:
    return has_capability(user, Capability.MANAGE_POLICIES)


def can_read_audit_log(user: User | None) -> bool:
    return has_capability(user, Capability.READ_AUDIT_LOG)


def access_owned(queryset: QuerySet, *, user: User, pk: object, owner_field: str = "user") -> Model:
    """Fetch ``pk`` from ``queryset`` if ``user`` owns it; otherwise NotFound, whether it exists or not."""
    try:
        return queryset.get(pk=pk, **{owner_field: user})
    except (queryset.model.DoesNotExist, ValidationError, ValueError, TypeError):
        raise NotFound(f"No {queryset.model._meta.verbose_name} with id {pk}.") from None


def access_api_key(user: User, key_id: object) -> Model:
    return access_owned(ApiKey.objects.all(), user=user, pk=key_id)
