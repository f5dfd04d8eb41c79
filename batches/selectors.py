"""Reads for batches: a person's own, newest first, and how far one has come."""

from django.db.models import QuerySet

from accounts.models import User
from batches.models import Batch


def owned_batches(owner: User, *, after: str | None = None) -> QuerySet[Batch]:
    batches = Batch.objects.filter(owner=owner).order_by("-created_at", "-id")
    if after:
        anchor = Batch.objects.filter(owner=owner, pk=after).values_list("created_at", flat=True).first()
        if anchor is not None:
            batches = batches.filter(created_at__lt=anchor)
    return batches
