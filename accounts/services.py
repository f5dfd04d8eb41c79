"""Writes for accounts. Every security-relevant change goes through here and leaves an audit event."""

import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import keys
from accounts.models import ApiKey, ApiKeyScope, AuditAction, AuditEvent, PolicyOverride, Role, RolePolicy, User
from accounts.permissions import can_manage_api_keys, can_manage_users
from accounts.policies import forget_role_policies
from core.errors import ServiceError
from core.notifications import disconnect_user

MAX_ACTIVE_KEYS_PER_USER = 50
MAX_KEY_LIFETIME_DAYS = 3650


def audit_record(
    *,
    actor: User | None,
    action: str,
    target_user: User | None = None,
    target_label: str = "",
    details: dict | None = None,
    ip: str | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.username if actor else "system",
        action=action,
        target_user=target_user,
        target_label=target_label or (target_user.username if target_user else ""),
        details=details or {},
        ip_address=ip,
    )


def _sync_staff_flags(user: User) -> None:
    # The role is the source of truth; Django's flags follow it so the admin site admits the right people.
    user.is_superuser = user.role == Role.ADMIN
    user.is_staff = user.role in (Role.ADMIN, Role.MODERATOR)


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> User:
    user = get_user_model()(username=username, email=email, role=Role.MEMBER)
    user.set_password(password)
    _sync_staff_flags(user)
    try:
        user.full_clean()
    except ValidationError as exc:  # the sign-up form checked these already; other callers get our error type
        field, problems = next(iter(exc.message_dict.items()))
        raise ServiceError("invalid_user", problems[0], param=None if field == "__all__" else field) from None
    user.save()
    return user


@transaction.atomic
def user_role_change(*, actor: User | None, user: User, role: str, ip: str | None = None) -> User:
    if role not in Role.values:
        raise ServiceError("unknown_role", f"Unknown role {role!r}.", param="role")
    previous = User.objects.select_for_update().get(pk=user.pk).role
    user.role = role
    _sync_staff_flags(user)
    user.save(update_fields=["role", "is_staff", "is_superuser"])
    if previous != role:
        audit_record(
            actor=actor,
            action=AuditAction.ROLE_CHANGED,
            target_user=user,
            details={"from": previous, "to": role},
            ip=ip,
        )
    return user


@transaction.atomic
def user_suspend(*, actor: User | None, user: User, reason: str, ip: str | None = None) -> User:
    if actor is not None and actor.pk == user.pk:
        raise ServiceError("cannot_suspend_self", "You cannot suspend your own account.", status=403)
    if actor is not None and user.role == Role.ADMIN and not can_manage_users(actor):
        raise ServiceError("cannot_suspend_admin", "Only an admin can suspend an admin.", status=403)
    if user.is_suspended:
        return user
    user.suspended_at = timezone.now()
    user.suspension_reason = reason[:300]
    user.save(update_fields=["suspended_at", "suspension_reason"])
    audit_record(actor=actor, action=AuditAction.USER_SUSPENDED, target_user=user, details={"reason": reason}, ip=ip)
    # Sessions and keys stop working on the next request (the auth backend and key check refuse suspended users);
    # open websockets are told to close once this commits.
    disconnect_user(user.pk)
    return user


@transaction.atomic
def user_unsuspend(*, actor: User | None, user: User, ip: str | None = None) -> User:
    if not user.is_suspended:
        return user
    user.suspended_at = None
    user.suspension_reason = ""
    user.save(update_fields=["suspended_at", "suspension_reason"])
    audit_record(actor=actor, action=AuditAction.USER_UNSUSPENDED, target_user=user, ip=ip)
    return user


def sso_audit(
    *,
    action: str,
    provider: str,
    subject: str = "",
    user: User | None = None,
    email: str = "",
    reason: str = "",
    detail: str = "",
    ip: str | None = None,
) -> AuditEvent:
    """A single sign-on event: who the provider said it was (provider, subject, e-mail) and, for a refusal, why."""
    details = {"provider": provider, "subject": subject, "email": email, "reason": reason, "detail": detail[:500]}
    return audit_record(
        actor=user,
        action=action,
        target_user=user,
        target_label=user.username if user else f"{provider}:{subject or '?'}",
        details={name: value for name, value in details.items() if value},
        ip=ip,
    )


def password_changed(*, user: User, ip: str | None = None) -> None:
    audit_record(actor=user, action=AuditAction.PASSWORD_CHANGED, target_user=user, ip=ip)


@transaction.atomic
def api_key_create(
    *,
    user: User,
    name: str,
    scopes: list[str],
    expires_in_days: int | None = None,
    actor: User | None = None,
    ip: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored and cannot be shown again."""
    if not can_manage_api_keys(user):
        raise ServiceError("forbidden", "Your role does not allow API keys.", status=403)
    name = name.strip()
    if not name:
        raise ServiceError("invalid_name", "Give the key a name, so you can tell it apart later.", param="name")
    unknown = sorted(set(scopes) - set(ApiKeyScope.values))
    if not scopes or unknown:
        raise ServiceError("invalid_scopes", f"Choose one or more of: {', '.join(ApiKeyScope.values)}.", param="scopes")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_KEY_LIFETIME_DAYS:
        raise ServiceError(
            "invalid_expiry", f"Expiry must be between 1 and {MAX_KEY_LIFETIME_DAYS} days.", param="expires_in_days"
        )
    active = ApiKey.objects.filter(user=user, revoked_at__isnull=True).select_for_update()
    if active.count() >= MAX_ACTIVE_KEYS_PER_USER:
        raise ServiceError(
            "too_many_keys", f"You have {MAX_ACTIVE_KEYS_PER_USER} active keys; revoke one first.", status=409
        )
    secret, prefix, hashed = keys.new_key()
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    api_key = ApiKey.objects.create(
        user=user,
        name=name[:100],
        prefix=prefix,
        hashed_key=hashed,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    audit_record(
        actor=actor or user,
        action=AuditAction.KEY_CREATED,
        target_user=user,
        target_label=f"{user.username}: {api_key}",
        details={"prefix": prefix, "scopes": api_key.scopes, "expires_at": expires_at and expires_at.isoformat()},
        ip=ip,
    )
    return api_key, secret


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor: User | None, ip: str | None = None) -> ApiKey:
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action=AuditAction.KEY_REVOKED,
        target_user=api_key.user,
        target_label=f"{api_key.user.username}: {api_key}",
        details={"prefix": api_key.prefix},
        ip=ip,
    )
    return api_key


def api_key_touch(api_key: ApiKey) -> None:
    """Record use, at most once a minute per key: a write on every request would cost more than it tells."""
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > timedelta(minutes=1):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def _changed_fields(before: dict, after: dict) -> dict:
    return {name: {"from": before[name], "to": after[name]} for name in after if before.get(name) != after[name]}


@transaction.atomic
def role_policy_save(*, actor: User, policy: RolePolicy, before: dict, ip: str | None = None) -> RolePolicy:
    policy.full_clean()
    policy.save()
    forget_role_policies()
    after = {name: getattr(policy, name) for name in before}
    changes = _changed_fields(before, after)
    if changes:
        audit_record(actor=actor, action=AuditAction.POLICY_CHANGED, target_label=str(policy), details=changes, ip=ip)
    return policy


@transaction.atomic
def policy_override_save(*, actor: User, override: PolicyOverride, before: dict, ip: str | None = None) -> None:
    override.full_clean()
    override.save()
    after = {name: getattr(override, name) for name in before}
    changes = _changed_fields(before, after)
    if changes:
        audit_record(
            actor=actor, action=AuditAction.OVERRIDE_CHANGED, target_user=override.user, details=changes, ip=ip
        )


@transaction.atomic
def initial_admin_ensure(*, username: str, email: str, password: str | None) -> tuple[User, str | None] | None:
    """Create the first admin unless one exists.

    Returns the new user and the password generated for it (None when the operator supplied one), or None when an
    admin already existed, so the caller prints a generated password exactly once.
    """
    user_model = get_user_model()
    if user_model.objects.filter(is_superuser=True).exists():
        return None
    generated = None
    if not password:
        generated = password = secrets.token_urlsafe(12)
    user = user_model.objects.create_superuser(username=username, email=email, password=password, role=Role.ADMIN)
    return user, generated
