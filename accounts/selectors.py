"""Reads for accounts."""

from django.db.models import QuerySet

from accounts.models import ApiKey, AuditEvent, User


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def audit_event_list(*, target_user: User | None = None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    return events.filter(target_user=target_user) if target_user is not None else events
