"""Presets for tests, made the way the product makes them (presets.services)."""

import uuid

from django.contrib.auth.models import Group
from django.core.files.base import ContentFile

from accounts.models import User
from documents.models import Document
from presets import services
from presets.models import Preset


def make_preset(owner: User, name: str = "Helper", **settings) -> Preset:
    settings.setdefault("base_model", "fake-echo")
    return services.preset_create(owner=owner, name=name, **settings)


def group_of(*members: User, name: str = "team") -> Group:
    group = Group.objects.create(name=name)
    for member in members:
        member.groups.add(group)
    return group


def stored_document(owner: User, title: str, *, visibility: str = "private") -> Document:
    """A document row with its file, not ingested (for tests that only need one to point at)."""
    document = Document(
        owner=owner,
        title=title,
        filename=title,
        kind="txt",
        size_bytes=5,
        sha256=uuid.uuid4().hex,
        visibility=visibility,
    )
    document.file.save(f"{owner.pk}/{document.pk}.txt", ContentFile(b"hello"), save=False)
    document.save()
    return document
