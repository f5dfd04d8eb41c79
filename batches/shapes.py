"""Batches in OpenAI's JSON shape: every field always present (null where empty), as the SDK reads them."""

from batches.models import Batch
from batches.selectors import owned_batches


def _at(value) -> int | None:
    return int(value.timestamp()) if value else None


def batch_data(batch: Batch) -> dict:
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "model": batch.model or None,
        "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
        "input_file_id": batch.requested_file_id,
        "completion_window": batch.completion_window,
        "status": batch.status,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": _at(batch.created_at),
        "in_progress_at": _at(batch.in_progress_at),
        "expires_at": _at(batch.expires_at),
        "finalizing_at": _at(batch.finalizing_at),
        "completed_at": _at(batch.completed_at),
        "failed_at": _at(batch.failed_at),
        "expired_at": _at(batch.expired_at),
        "cancelling_at": _at(batch.cancelling_at),
        "cancelled_at": _at(batch.cancelled_at),
        "request_counts": {"total": batch.total, "completed": batch.completed, "failed": batch.failed},
        "metadata": batch.metadata,
        "usage": None,
        # Ours, beside OpenAI's fields: why a batch is not moving (e.g. the daily budget is spent until the reset).
        "waiting_reason": batch.waiting_reason or None,
    }


def cursor_page(found: list, limit: int, shape) -> dict:
    """OpenAI's cursor page from up to ``limit + 1`` rows: ``has_more`` is exact, so the SDK's pager neither loops
    nor stops short."""
    data = [shape(item) for item in found[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(found) > limit,
    }


def batch_page(owner, *, after: str | None, limit: int) -> dict:
    return cursor_page(list(owned_batches(owner, after=after)[: limit + 1]), limit, batch_data)
