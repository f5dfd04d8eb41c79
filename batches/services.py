"""Batches: create (parameters checked at once, lines by the worker), validate, cancel, finalize; OpenAI's shapes.

Statuses move only forward, each ``*_at`` set once: validating → in_progress → finalizing → completed | expired |
cancelled, or validating → failed; cancelling on the way to cancelled. Finalizing writes the output file (requests
that succeeded) and the error file (every other line: refused, failed, cancelled, expired) from the line rows, once:
every ``custom_id`` of the input appears exactly once across the two, and ``request_counts`` count the two files.
"""

import json
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from batches import files, tables
from batches.models import Batch, BatchFile, BatchLine
from batches.serializers import BatchSerializer
from batches.validation import CHAT_COMPLETIONS, ENDPOINTS, check_lines
from core.errors import ServiceError
from core.notifications import notify_user

COMPLETION_WINDOW = "24h"
METADATA_PAIRS, METADATA_KEY, METADATA_VALUE = 16, 64, 512
EXPIRED_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_MESSAGE = "This request was cancelled before it could be executed."


def _invalid(param: str, message: str, code: str = "invalid_value") -> ServiceError:
    return ServiceError(code, message, param=param)


def _metadata(value: object) -> dict | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > METADATA_PAIRS:
        raise _invalid("metadata", f"'metadata' must be an object of at most {METADATA_PAIRS} pairs.", "invalid_type")
    for key, item in value.items():
        if len(key) > METADATA_KEY or not isinstance(item, str) or len(item) > METADATA_VALUE:
            message = f"metadata.{key}: keys up to {METADATA_KEY} characters, string values up to {METADATA_VALUE}."
            raise _invalid(f"metadata.{key}"[:80], message, "invalid_type")
    return value


def batch_changed(batch: Batch) -> None:
    """Tell the owner's open pages (``/ws/events/``) where the batch stands, once the change commits."""
    notify_user(batch.owner_id, {"type": "batch.progress", "batch": BatchSerializer(batch).data})


def batch_changed_by_id(batch_id: str) -> None:
    batch_changed(Batch.objects.select_related("input_file").get(pk=batch_id))


def batch_create(*, owner: User, body: dict, title: str = "") -> Batch:
    """A new batch, ``validating``; its lines are read and checked by the worker (``batch_validate``)."""
    for name in ("input_file_id", "endpoint", "completion_window"):
        if not body.get(name):
            raise _invalid(name, f"Missing required parameter: '{name}'.", "missing_required_parameter")
    if body["endpoint"] not in ENDPOINTS:
        supported = ", ".join(f"'{endpoint}'" for endpoint in ENDPOINTS)
        raise _invalid("endpoint", f"Invalid value: {body['endpoint']!r}. Supported values are: {supported}.")
    if body["completion_window"] != COMPLETION_WINDOW:
        raise _invalid("completion_window", f"'completion_window' must be '{COMPLETION_WINDOW}'.")
    input_file = BatchFile.objects.filter(pk=str(body["input_file_id"]), owner=owner).first()
    return Batch.objects.create(
        owner=owner,
        endpoint=body["endpoint"],
        requested_file_id=str(body["input_file_id"])[:40],
        input_file=input_file,
        metadata=_metadata(body.get("metadata")),
        expires_at=timezone.now() + timedelta(hours=24),
        title=title[:200],
    )


@transaction.atomic
def batch_submit(*, owner: User, upload, defaults: tables.Defaults, metadata: dict | None = None) -> Batch:
    """A batch from a person's table of prompts (CSV or JSONL, see ``batches.tables``), for chat completions."""
    requests = tables.requests_file(upload, defaults)
    input_file = files.file_create(owner=owner, upload=requests, purpose=BatchFile.Purpose.BATCH)
    body = {"input_file_id": input_file.id, "endpoint": CHAT_COMPLETIONS, "completion_window": COMPLETION_WINDOW}
    return batch_create(owner=owner, body=body | {"metadata": metadata}, title=files.clean_name(upload.name))


def _fail(batch: Batch, errors: list[dict]) -> None:
    batch.status, batch.failed_at, batch.errors = Batch.Status.FAILED, timezone.now(), errors
    batch.save(update_fields=["status", "failed_at", "errors"])
    batch_changed(batch)


def batch_validate(batch_id: str) -> bool:
    """Check every line; store them as rows and start, or fail the batch with an error per bad line. True: the
    runner has work (lines to run, or a cancel to finish)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update(of=("self",)).select_related("owner", "input_file").get(pk=batch_id)
        if batch.status != Batch.Status.VALIDATING:
            return batch.status in (Batch.Status.IN_PROGRESS, Batch.Status.CANCELLING)
        source = batch.input_file
        if source is None or source.purpose != BatchFile.Purpose.BATCH:
            message = f"Cannot find file {batch.requested_file_id}, or it is not a batch input file of yours."
            _fail(batch, [{"code": "invalid_request", "message": message, "param": "input_file_id", "line": None}])
            return False
        with source.file.open("rb") as handle:
            checked = check_lines(batch.owner, batch.endpoint, (raw.decode("utf-8") for raw in handle))
        if checked.errors:
            _fail(batch, checked.errors)
            return False
        BatchLine.objects.bulk_create(
            [BatchLine(batch=batch, number=n, custom_id=c, body=b) for n, c, b in checked.lines], batch_size=1000
        )
        batch.status, batch.in_progress_at = Batch.Status.IN_PROGRESS, timezone.now()
        batch.model, batch.total = checked.model, len(checked.lines)
        batch.save(update_fields=["status", "in_progress_at", "model", "total"])
        batch_changed(batch)
    return True


def access_batch(owner: User, batch_id: str) -> Batch:
    found = Batch.objects.filter(pk=batch_id, owner=owner).first()
    if found is None:
        raise ServiceError("not_found", f"No batch found with id '{batch_id}'.", status=404, param="batch_id")
    return found


@transaction.atomic
def batch_cancel(*, owner: User, batch_id: str) -> Batch:
    batch = access_batch(owner, batch_id)
    batch = Batch.objects.select_for_update().get(pk=batch.pk)
    if batch.status in (Batch.Status.CANCELLING, Batch.Status.CANCELLED):
        return batch
    if batch.status in (Batch.Status.COMPLETED, Batch.Status.FAILED, Batch.Status.EXPIRED, Batch.Status.FINALIZING):
        raise ServiceError("batch_finished", f"Cannot cancel a batch with status '{batch.status}'.", status=409)
    batch.status, batch.cancelling_at = Batch.Status.CANCELLING, timezone.now()
    batch.save(update_fields=["status", "cancelling_at"])
    batch_changed(batch)
    return batch


def _output_line(line: BatchLine) -> dict:
    response = {"status_code": line.status_code, "request_id": f"req_{line.pk}", "body": line.response}
    return {"id": f"batch_req_{line.pk}", "custom_id": line.custom_id, "response": response, "error": None}


def _error_line(line: BatchLine) -> dict:
    if line.state == BatchLine.State.FAILED:  # it ran and was refused or failed: OpenAI keeps the response
        return _output_line(line)
    return {"id": f"batch_req_{line.pk}", "custom_id": line.custom_id, "response": None, "error": line.error}


def batch_finalize(batch_id: str) -> Batch:
    """The end: unfinished lines closed as cancelled or expired, both files written from the rows, counts from them."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().select_related("owner").get(pk=batch_id)
        if batch.status in Batch.FINAL_STATUSES:
            return batch
        now = timezone.now()
        end = Batch.Status.CANCELLED if batch.status == Batch.Status.CANCELLING else Batch.Status.COMPLETED
        if end == Batch.Status.COMPLETED and now >= batch.expires_at:
            end = Batch.Status.EXPIRED
        closing = BatchLine.State.CANCELLED if end == Batch.Status.CANCELLED else BatchLine.State.EXPIRED
        code, message = (
            ("batch_cancelled", CANCELLED_MESSAGE) if closing == "cancelled" else ("batch_expired", EXPIRED_MESSAGE)
        )
        batch.lines.filter(state__in=[BatchLine.State.PENDING, BatchLine.State.RUNNING]).update(
            state=closing, error={"code": code, "message": message}, finished_at=now, leased_until=None
        )
        lines = list(batch.lines.order_by("number"))
        succeeded = [line for line in lines if line.state == BatchLine.State.SUCCEEDED]
        others = [line for line in lines if line.state != BatchLine.State.SUCCEEDED]
        if succeeded:
            text = [json.dumps(_output_line(line)) for line in succeeded]
            batch.output_file = files.output_file_create(owner=batch.owner, name=f"{batch.id}_output.jsonl", lines=text)
        if others:
            text = [json.dumps(_error_line(line)) for line in others]
            batch.error_file = files.output_file_create(owner=batch.owner, name=f"{batch.id}_error.jsonl", lines=text)
        batch.completed, batch.failed = len(succeeded), len(others)
        assert batch.completed + batch.failed == batch.total == len(lines), "a line is missing from both files"
        batch.status, batch.finalizing_at = end, batch.finalizing_at or now
        setattr(batch, f"{end}_at", now)
        batch.waiting_reason = ""
        batch.save()
        batch_changed(batch)
    return batch


def open_lines(batch_id: str) -> dict:
    return BatchLine.objects.filter(batch_id=batch_id).aggregate(
        pending=Count("id", filter=Q(state=BatchLine.State.PENDING)),
        running=Count("id", filter=Q(state=BatchLine.State.RUNNING)),
    )
