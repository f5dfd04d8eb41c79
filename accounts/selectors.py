"""Reads for accounts."""

from allauth.account.models import EmailAddress
from django.db.models import Q, QuerySet

from accounts.models import ApiKey, AuditEvent, User


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def audit_event_list(*, target_user: User | None = None) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    return events.filter(target_user=target_user) if target_user is not None else events


def user_list_with_email(*, email: str) -> list[User]:
    """Every account that has ``email``, as its address or as one allauth recorded, compared without case: our own
    sign-up keeps addresses as typed, so allauth's lookup (of the lower-cased address) would miss "Ada@Example.org"."""
    recorded = EmailAddress.objects.filter(email__iexact=email).values("user_id")
    return list(User.objects.filter(Q(email__iexact=email) | Q(pk__in=recorded)).order_by("pk"))
