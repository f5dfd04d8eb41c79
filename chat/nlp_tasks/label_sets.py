"""Saved label sets: a user's named lists of labels for classification."""

from django.db import IntegrityError, transaction

from accounts.models import User
from accounts.permissions import NotFound
from chat.models import LabelSet
from chat.nlp_tasks.classify import clean_labels
from core.errors import ServiceError

MAX_LABEL_SETS = 200


def label_set_list(*, user: User):
    return LabelSet.objects.filter(owner=user)


def access_label_set(user: User, label_set_id: int) -> LabelSet:
    label_set = LabelSet.objects.filter(owner=user, pk=label_set_id).first()
    if label_set is None:
        raise NotFound(f"No label set with id {label_set_id}.")
    return label_set


def label_set_named(user: User, name: str) -> LabelSet:
    label_set = LabelSet.objects.filter(owner=user, name=name).first()
    if label_set is None:
        raise ServiceError("label_set_not_found", f"You have no label set named {name!r}.", param="label_set")
    return label_set


def label_set_create(*, owner: User, name: str, labels: object) -> LabelSet:
    name = name.strip()
    if not name:
        raise ServiceError("invalid_name", "Name the label set.", param="name")
    cleaned = clean_labels(labels)
    if LabelSet.objects.filter(owner=owner).count() >= MAX_LABEL_SETS:
        raise ServiceError("too_many_label_sets", f"You can keep at most {MAX_LABEL_SETS} label sets.", status=409)
    try:
        with transaction.atomic():
            return LabelSet.objects.create(owner=owner, name=name, labels=cleaned)
    except IntegrityError:
        raise ServiceError(
            "duplicate_name", f"You already have a label set named {name!r}.", status=409, param="name"
        ) from None


def label_set_delete(*, label_set: LabelSet) -> None:
    label_set.delete()
