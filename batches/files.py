"""The Files API's service: batch input files (uploaded) and batch output files (written), owned per user.

An upload is checked as it is stored: UTF-8, not empty, at most BATCH_FILE_MAX_LINES requests and
BATCH_FILE_MAX_BYTES; the lines themselves are validated when a batch is created from the file (OpenAI does the
same: a malformed line fails the batch, not the upload). Another user's file looks exactly like a missing one.
"""

import codecs
import os
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from batches.models import BatchFile
from batches.shapes import cursor_page
from core.errors import ServiceError
from documents.services import store_file

MAX_LIST = 10_000


def _invalid(param: str, message: str, code: str = "invalid_value", status: int = 400) -> ServiceError:
    return ServiceError(code, message, param=param, status=status)


def _count_lines(upload: UploadedFile) -> int:
    """Requests in the file (non-blank lines), checking it is UTF-8 as it goes, without holding it in memory."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, current_blank = 0, True
    try:
        for chunk in upload.chunks():
            for char in decoder.decode(chunk):
                if char == "\n":
                    lines += 0 if current_blank else 1
                    current_blank = True
                elif not char.isspace():
                    current_blank = False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _invalid("file", "The file is not UTF-8 text (one JSON request per line).", "invalid_file") from None
    finally:
        upload.seek(0)
    return lines + (0 if current_blank else 1)


def clean_name(name: str | None) -> str:
    base = os.path.basename(name or "") or "upload"
    return "".join(c for c in base if c.isprintable())[:200] or "upload"


def file_create(*, owner: User, upload: UploadedFile | None, purpose: object) -> BatchFile:
    if purpose != BatchFile.Purpose.BATCH:
        raise _invalid("purpose", "Only files with purpose 'batch' can be uploaded here.")
    if upload is None:
        raise _invalid("file", "Send the file as the multipart field 'file'.", "missing_required_parameter")
    if upload.size > settings.BATCH_FILE_MAX_BYTES:
        limit = settings.BATCH_FILE_MAX_BYTES // 1_048_576
        raise _invalid("file", f"The file is larger than {limit} MB.", "file_too_large", status=413)
    lines = _count_lines(upload)
    if lines == 0:
        raise _invalid("file", "The file is empty: it needs at least one request line.", "empty_file")
    if lines > settings.BATCH_FILE_MAX_LINES:
        message = f"The file holds {lines} requests; a batch may hold at most {settings.BATCH_FILE_MAX_LINES}."
        raise _invalid("file", message, "too_many_tasks")
    created = BatchFile(
        owner=owner,
        purpose=purpose,
        filename=clean_name(upload.name),
        bytes=upload.size,
        lines=lines,
        expires_at=timezone.now() + timedelta(days=settings.BATCH_FILE_RETENTION_DAYS),
    )
    store_file(created.file, f"{created.id}.jsonl", upload)
    try:
        created.save()
    except Exception:
        created.file.delete(save=False)  # no file without its row
        raise
    return created


def output_file_create(*, owner: User, name: str, lines: list[str]) -> BatchFile:
    """A file the service writes (a batch's output or errors): one JSON object per line."""
    content = "".join(line + "\n" for line in lines).encode()
    written = BatchFile(
        owner=owner,
        purpose=BatchFile.Purpose.BATCH_OUTPUT,
        filename=name,
        bytes=len(content),
        lines=len(lines),
        expires_at=timezone.now() + timedelta(days=settings.BATCH_FILE_RETENTION_DAYS),
    )
    store_file(written.file, f"{written.id}.jsonl", ContentFile(content))
    written.save()
    return written


def access_file(owner: User, file_id: str) -> BatchFile:
    found = BatchFile.objects.filter(pk=file_id, owner=owner).first()
    if found is None:
        raise ServiceError("not_found", f"No such File object: {file_id}", status=404, param="id")
    return found


@transaction.atomic
def file_delete(*, owner: User, file_id: str) -> dict:
    found = access_file(owner, file_id)
    found.delete()
    transaction.on_commit(lambda: found.file.delete(save=False))
    return {"id": file_id, "object": "file", "deleted": True}


def file_data(file: BatchFile) -> dict:
    """OpenAI's FileObject; ``status`` is deprecated there but required by the SDK."""
    return {
        "id": file.id,
        "object": "file",
        "bytes": file.bytes,
        "created_at": int(file.created_at.timestamp()),
        "expires_at": int(file.expires_at.timestamp()) if file.expires_at else None,
        "filename": file.filename,
        "purpose": file.purpose,
        "status": "processed",
        "status_details": None,
    }


def file_page(*, owner: User, after: str | None, limit: int, order: str, purpose: str | None) -> dict:
    """The owner's files, newest (or oldest) first, as a cursor page."""
    files = BatchFile.objects.filter(owner=owner)
    if purpose:
        files = files.filter(purpose=purpose)
    ordering = ("created_at", "id") if order == "asc" else ("-created_at", "-id")
    files = files.order_by(*ordering)
    if after:
        anchor = access_file(owner, after)
        before = {"created_at__gt": anchor.created_at} if order == "asc" else {"created_at__lt": anchor.created_at}
        files = files.filter(**before)
    return cursor_page(list(files[: limit + 1]), limit, file_data)
