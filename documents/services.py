"""Writes for documents: uploads, sharing, deletion. Ingestion lives in documents/ingestion.py."""

import errno
import hashlib
import logging
import uuid

from django.core.files import File
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.dispatch import Signal

from accounts.models import User
from accounts.permissions import can_share_documents, can_upload_documents
from accounts.policies import policy_for
from core.errors import ServiceError
from core.notifications import notify_user
from documents.models import Document
from documents.validation import check_upload

logger = logging.getLogger(__name__)


def document_event(document: Document) -> dict:
    return {
        "type": "document.progress",
        "document": {
            "id": str(document.pk),
            "title": document.title,
            "status": document.status,
            "progress": document.progress,
            "error": document.error,
            "pages": document.pages,
            "chunk_count": document.chunk_count,
        },
    }


def announce(document: Document) -> None:
    """Tell the owner's open pages, once the current transaction commits."""
    notify_user(document.owner_id, document_event(document))


def _sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for piece in upload.chunks():
        digest.update(piece)
    upload.seek(0)
    return digest.hexdigest()


def document_upload(*, owner: User, upload: UploadedFile, title: str = "") -> Document:
    if not can_upload_documents(owner):
        raise ServiceError("forbidden", "Your role does not allow uploading documents.", status=403)
    policy = policy_for(owner)
    checked = check_upload(
        upload, filename=upload.name or "document", size=upload.size, max_bytes=policy.max_upload_bytes
    )
    if Document.objects.filter(owner=owner).count() >= policy.max_documents:
        raise ServiceError(
            "document_limit",
            f"You have reached your limit of {policy.max_documents} documents; delete some first.",
            status=409,
        )
    sha256 = _sha256(upload)
    existing = Document.objects.filter(owner=owner, sha256=sha256).first()
    if existing is not None:
        message = f"You already uploaded this file as “{existing.title}” ({existing.pk})."
        raise ServiceError("duplicate", message, status=409, existing_id=str(existing.pk))
    document = Document(
        id=uuid.uuid4(),
        owner=owner,
        title=(title.strip() or checked.filename)[:200],
        filename=checked.filename,
        kind=checked.kind,
        size_bytes=upload.size,
        sha256=sha256,
    )
    try:
        with transaction.atomic():
            # Stored under its id, never under the uploaded name; the row is written only once the file is.
            _store(document, f"{owner.pk}/{document.pk}.{checked.kind}", upload)
            document.save(force_insert=True)
            announce(document)
            transaction.on_commit(lambda: _enqueue(document.pk))
    except DatabaseError as exc:
        document.file.delete(save=False)  # the row was not written, so its file must not stay either
        if isinstance(exc, IntegrityError):
            raise ServiceError("duplicate", "You already uploaded this file.", status=409) from None
        raise
    return document


# Storage errors a user can do nothing about but wait or tell an administrator; each says so in its own words.
_STORAGE_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _store(document: Document, name: str, upload: UploadedFile) -> None:
    store_file(document.file, name, upload)


def store_file(field_file: FieldFile, name: str, upload: File) -> None:
    """Save an uploaded (or written) file into a model's file field. A storage that fails part way (a full disk, a
    read-only or forbidden volume) leaves no partial file behind, and the refusal names the cause."""
    target = field_file.field.generate_filename(field_file.instance, name)
    try:
        field_file.save(name, upload, save=False)
    except OSError as exc:
        logger.error("storing the upload %s failed: %s", target, exc)
        _remove_partial(field_file.storage, target)
        raise storage_refusal(exc) from None


def _remove_partial(storage: Storage, name: str) -> None:
    try:
        if storage.exists(name):
            storage.delete(name)
    except OSError as exc:  # a read-only volume refuses the clean-up too, but then it wrote nothing either
        logger.warning("could not remove the partial upload %s: %s", name, exc)


def storage_refusal(exc: OSError) -> ServiceError:
    if exc.errno in _STORAGE_FULL:
        message = "The server has no room left to store the file. Try again later, or ask an administrator."
        return ServiceError("storage_full", message, status=507)
    if exc.errno == errno.EROFS:
        cause = "its storage is read-only"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        cause = "it may not write to its storage"
    else:
        cause = f"its storage failed ({errno.errorcode.get(exc.errno or 0, 'I/O error')})"
    message = f"The server cannot store files right now: {cause}. Try again later, or ask an administrator."
    return ServiceError("storage_unavailable", message, status=503)


# Sent with ``document_id`` once an upload is committed; the ingestion task listens (documents.tasks), so services
# never import the layer that queues work.
document_uploaded = Signal()


# Sent with ``document_id`` when a document is deleted or its sharing changes: whatever was derived from it for other
# readers (chat's answer cache) must go. Listeners live above this layer.
document_changed = Signal()


def _enqueue(document_id: uuid.UUID) -> None:
    document_uploaded.send(sender=None, document_id=document_id)


def document_retry(*, document: Document, actor: User) -> Document:
    """Read a failed document again from its stored file: back to queued with a fresh count of attempts, queued
    through the same signal an upload sends. Only a failed document: one being read, or ready, has nothing to retry."""
    if document.owner_id != actor.pk:
        raise ServiceError("forbidden", "Only the owner can retry reading this document.", status=403)
    if not can_upload_documents(actor):
        raise ServiceError("forbidden", "Your role does not allow uploading documents.", status=403)
    with transaction.atomic():
        current = Document.objects.select_for_update().get(pk=document.pk)
        if current.status != Document.Status.FAILED:
            label = current.get_status_display().lower()
            raise ServiceError(
                "not_failed", f"“{current.title}” is {label}: only a failed document is retried.", status=409
            )
        current.status, current.progress, current.error = Document.Status.QUEUED, 0, ""
        current.attempts, current.lease_expires_at, current.leased_by = 0, None, ""
        current.save(
            update_fields=["status", "progress", "error", "attempts", "lease_expires_at", "leased_by", "updated_at"]
        )
        announce(current)
        transaction.on_commit(lambda: _enqueue(current.pk))
    return current


def document_update(
    *,
    document: Document,
    actor: User,
    title: str | None = None,
    visibility: str | None = None,
    group_id: int | None = None,
) -> Document:
    if title is not None:
        if not title.strip():
            raise ServiceError("invalid_title", "A document needs a title.")
        document.title = title.strip()[:200]
    sharing_before = (document.visibility, document.shared_group_id)
    if visibility is not None:
        _share(document, actor, visibility, group_id)
    document.save(update_fields=["title", "visibility", "shared_group", "updated_at"])
    if (document.visibility, document.shared_group_id) != sharing_before:
        document_changed.send(sender=None, document_id=document.pk)
    return document


def _share(document: Document, actor: User, visibility: str, group_id: int | None) -> None:
    if visibility not in Document.Visibility.values:
        raise ServiceError("invalid_visibility", f"visibility must be one of {', '.join(Document.Visibility.values)}.")
    if visibility != Document.Visibility.PRIVATE and not can_share_documents(actor):
        raise ServiceError("forbidden", "Your role does not allow sharing documents.", status=403)
    document.visibility = visibility
    document.shared_group = None
    if visibility == Document.Visibility.GROUP:
        group = actor.groups.filter(pk=group_id).first() if group_id else None
        if group is None:
            raise ServiceError("invalid_group", "Share with a group you belong to (group_id).")
        document.shared_group = group


def document_delete(*, document: Document) -> None:
    stored = document.file.name
    with transaction.atomic():
        document_id = document.pk
        document.delete()  # chunks go with it (cascade)
        document_changed.send(sender=None, document_id=document_id)
        transaction.on_commit(lambda: document.file.storage.delete(stored))
