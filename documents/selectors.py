"""Reads for documents. What a user may read: their own documents and those shared with everyone or a group of
theirs. Retrieval applies the same rule inside its SQL (documents/retrieval.py)."""

import uuid
from typing import NamedTuple

from django.db.models import Case, Q, QuerySet, Value, When
from django.db.models.functions import Lower

from accounts.models import User
from accounts.permissions import NotFound
from core.errors import ServiceError
from documents.models import Chunk, Document


def group_ids(user: User) -> list[int]:
    return list(user.groups.values_list("id", flat=True))


def readable_q(user: User) -> Q:
    return (
        Q(owner=user)
        | Q(visibility=Document.Visibility.EVERYONE)
        | Q(visibility=Document.Visibility.GROUP, shared_group__in=group_ids(user))
    )


# Sorting by status puts what needs attention first: failed, then being read, then queued, then ready.
_STATUS_RANK = Case(
    When(status=Document.Status.FAILED, then=Value(0)),
    When(status__in=Document.WORKING_STATUSES, then=Value(1)),
    When(status=Document.Status.QUEUED, then=Value(2)),
    default=Value(3),
)
# How the library can be sorted: the query parameter's value → the order, ties broken newest first.
SORTS = {
    "newest": ("-created_at",),
    "oldest": ("created_at",),
    "name": (Lower("title"), "-created_at"),
    "name_desc": (Lower("title").desc(), "-created_at"),
    "largest": ("-size_bytes", "-created_at"),
    "smallest": ("size_bytes", "-created_at"),
    "status": (_STATUS_RANK, "-created_at"),
}


def document_list(
    *, user: User, mine_only: bool = False, status: str | None = None, q: str = "", sort: str = "newest"
) -> QuerySet[Document]:
    """``q`` matches the title or the file name, in any case; ``sort`` is a key of SORTS (unknown: newest)."""
    documents = Document.objects.filter(owner=user) if mine_only else Document.objects.filter(readable_q(user))
    if status:
        documents = documents.filter(status=status)
    if q.strip():
        documents = documents.filter(Q(title__icontains=q.strip()) | Q(filename__icontains=q.strip()))
    return documents.select_related("owner", "shared_group").order_by(*SORTS.get(sort, SORTS["newest"]))


def _as_uuid(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"No document with id {value}.") from None


def access_document(user: User, document_id: uuid.UUID | str) -> Document:
    """A document the user may read (own or shared); NotFound otherwise, whether it exists or not."""
    document = Document.objects.filter(readable_q(user), pk=_as_uuid(document_id)).select_related("owner").first()
    if document is None:
        raise NotFound(f"No document with id {document_id}.")
    return document


def access_own_document(user: User, document_id: uuid.UUID | str) -> Document:
    """A document the user may change: their own. Someone else's shared document is readable, not theirs to
    change (403); anything else is NotFound."""
    document = access_document(user, document_id)
    if document.owner_id != user.pk:
        raise ServiceError("forbidden", "Only the owner can change or delete this document.", status=403)
    return document


def readable_ready_ids(user: User, ids: list[str]) -> list[uuid.UUID]:
    """Of ``ids``, those the user may read; NotFound names the first that is not."""
    wanted = [_as_uuid(raw) for raw in ids]
    ready = Document.objects.filter(readable_q(user), pk__in=wanted, status=Document.Status.READY)
    found = set(ready.values_list("pk", flat=True))
    for document_id in wanted:
        if document_id not in found:
            raise NotFound(f"No ready document with id {document_id}.")
    return wanted


class ChunkText(NamedTuple):
    id: int
    text: str
    page: int | None
    heading_path: str


def document_chunks(*, document: Document) -> list[ChunkText]:
    """The document's chunks in reading order, without their vectors (the reader needs only the text)."""
    rows = Chunk.objects.filter(document=document).order_by("ordinal").values_list("id", "text", "page", "heading_path")
    return [ChunkText(*row) for row in rows]
