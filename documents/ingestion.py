"""Ingestion: queued → extracting → chunking → embedding → ready, or failed with a reason.

The database, not the queue, holds the job: a worker *claims* a document (status, attempts, a lease) and renews the
lease from a heartbeat thread while it works. Chunks are written batch by batch as they are embedded, after deleting
whatever an earlier attempt left; only a document marked ready is ever searched, and
(document, ordinal) is unique, so running an ingestion again never duplicates a chunk. A worker killed mid-job leaves
a lapsed lease; the reaper re-queues the document, or fails it after INGEST_MAX_ATTEMPTS. Transient errors retry
with backoff.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone
from pgvector.psycopg import register_vector

from core import metrics, tracing
from documents import chunking, embeddings
from documents.extraction import ExtractionFailed, extract_file
from documents.models import Chunk, Document
from documents.services import announce

logger = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
# Texts per request to the embedding service (it sorts each by length and pads less); progress once per batch.
EMBED_BATCH = 256
EMBED_IN_FLIGHT = 2  # one being encoded, one waiting: the model never idles between batches
# Where each stage starts on the progress bar.
PROGRESS = {"extracting": 2, "chunking": 20, "embedding": 25, "ready": 100}


class TransientError(Exception):
    """Worth retrying later (the database or the embeddings API was briefly unavailable)."""


def _save(document: Document, **changes) -> None:
    with transaction.atomic():
        for name, value in changes.items():
            setattr(document, name, value)
        document.save(update_fields=[*changes, "updated_at"])
        announce(document)


def claim(document_id: uuid.UUID | str) -> Document | None:
    """Take the document for this worker, or None if it is done, failed, or in someone else's live hands."""
    now = timezone.now()
    with transaction.atomic():
        document = Document.objects.select_for_update(skip_locked=True).filter(pk=document_id).first()
        if document is None or document.status in (Document.Status.READY, Document.Status.FAILED):
            return None
        if (
            document.status in Document.WORKING_STATUSES
            and document.lease_expires_at
            and document.lease_expires_at > now
        ):
            return None
        if document.attempts >= settings.INGEST_MAX_ATTEMPTS:
            _give_up(document)
            return None
        document.status = Document.Status.EXTRACTING
        document.progress = PROGRESS["extracting"]
        document.error = ""
        document.attempts += 1
        document.lease_expires_at = now + timedelta(seconds=settings.INGEST_LEASE_SECONDS)
        document.leased_by = WORKER_ID
        document.save()
        announce(document)
    return document


def _give_up(document: Document) -> None:
    document.status = Document.Status.FAILED
    document.error = (
        f"Reading this document was interrupted {document.attempts} times (the worker stopped or ran out of "
        "memory). Try a smaller or simpler file."
    )
    document.lease_expires_at = None
    document.save()
    announce(document)


@contextmanager
def heartbeat(document_id: uuid.UUID) -> Iterator[None]:
    """Renew the lease every third of its length while the body runs, from a thread of its own."""
    done = threading.Event()

    def beat() -> None:
        try:
            while not done.wait(settings.INGEST_LEASE_SECONDS / 3):
                Document.objects.filter(pk=document_id, leased_by=WORKER_ID).update(
                    lease_expires_at=timezone.now() + timedelta(seconds=settings.INGEST_LEASE_SECONDS)
                )
        finally:
            close_old_connections()

    thread = threading.Thread(target=beat, name=f"lease-{document_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(5)


@dataclass(frozen=True)
class Attempt:
    status: str  # the document's status after the attempt, or "skipped" (someone else holds it, or it is done)
    retry_in: int | None = None  # seconds: a transient failure; the caller schedules the next attempt


def ingest(document_id: uuid.UUID | str) -> Attempt:
    """Run one ingestion attempt. Scheduling a retry is the caller's (the task's): this module never queues."""
    with tracing.span("documents.ingest") as span, metrics.timer(metrics.INGESTION_DURATION):
        attempt = _attempt(document_id)
    outcome = "retry" if attempt.retry_in is not None else attempt.status
    if span is not None:
        span.set_attribute("genaisite.outcome", outcome)
    metrics.count(metrics.INGESTIONS, metrics.bounded(outcome, metrics.INGESTION_OUTCOMES))
    return attempt


def _attempt(document_id: uuid.UUID | str) -> Attempt:
    document = claim(document_id)
    if document is None:
        return Attempt("skipped")
    try:
        with heartbeat(document.pk):
            _run_stages(document)
    except ExtractionFailed as exc:
        fail(document, str(exc))
    except (TransientError, DatabaseError) as exc:
        delay = _retry_later(document, exc)
        return Attempt(document.status, retry_in=delay)
    except Exception:
        logger.exception("ingestion of %s failed", document.pk)
        fail(document, "An unexpected error stopped the ingestion; it has been logged.")
    return Attempt(document.status)


def _run_stages(document: Document) -> None:
    clock = [time.perf_counter()]

    def lap() -> float:
        clock.append(time.perf_counter())
        return clock[-1] - clock[-2]

    extracted = extract_file(
        document.file.path,
        document.kind,
        max_chars=settings.DOCUMENT_MAX_EXTRACTED_CHARS,
        max_pages=settings.DOCUMENT_MAX_PDF_PAGES,
        timeout=settings.EXTRACTION_TIMEOUT_SECONDS,
        memory_mb=settings.EXTRACTION_MEMORY_MB,
    )
    extract_seconds = lap()
    _save(document, status=Document.Status.CHUNKING, progress=PROGRESS["chunking"], pages=extracted.pages)
    drafts = chunking.chunk_blocks(extracted.blocks)
    chunk_seconds = lap()
    _save(document, status=Document.Status.EMBEDDING, progress=PROGRESS["embedding"])
    Chunk.objects.filter(document=document).delete()  # what an earlier, interrupted attempt left
    _embed(document, drafts)
    _finish(document, len(drafts), note=extracted.note)
    metrics.count(metrics.INGESTION_CHUNKS, amount=len(drafts))
    logger.info(
        "ingested %s: %d chunks; extract %.2f s, chunk %.2f s, embed and store %.2f s (%.1f chunks/s)",
        document.pk,
        len(drafts),
        extract_seconds,
        chunk_seconds,
        lap(),
        len(drafts) / max(clock[-1] - clock[0], 1e-9),
    )


def _embedding_text(draft: chunking.ChunkDraft) -> str:
    # The heading path gives a chunk the context its section title carries.
    return f"{draft.heading_path}\n{draft.text}" if draft.heading_path else draft.text


COPY_CHUNKS = (
    "COPY documents_chunk (document_id, ordinal, text, page, heading_path, token_count, embedding) "
    "FROM STDIN WITH (FORMAT BINARY)"
)


def _copy_chunks(document: Document, start: int, drafts: list[chunking.ChunkDraft], vectors) -> None:
    """Binary COPY: five times cheaper than bulk_create per chunk, which matters because on a small machine every
    millisecond spent here is taken from the embedding model."""
    connection.ensure_connection()
    raw = connection.connection
    register_vector(raw)
    with raw.cursor() as cursor, cursor.copy(COPY_CHUNKS) as copy:
        copy.set_types(["uuid", "int4", "text", "int4", "varchar", "int4", "vector"])
        for offset, (draft, vector) in enumerate(zip(drafts, vectors, strict=True)):
            copy.write_row(
                (
                    document.pk,
                    start + offset,
                    draft.text,
                    draft.page,
                    draft.heading_path[:500],
                    draft.token_count,
                    vector,
                )
            )


def _embed(document: Document, drafts: list[chunking.ChunkDraft]) -> None:
    """Embed in batches with EMBED_IN_FLIGHT requests at the service at once, storing each batch as it returns:
    the service (another process, or a remote API) then always has the next batch queued and never waits for us."""
    batches = [drafts[start : start + EMBED_BATCH] for start in range(0, len(drafts), EMBED_BATCH)]
    with ThreadPoolExecutor(max_workers=EMBED_IN_FLIGHT, thread_name_prefix="embed-ahead") as ahead:
        in_flight = deque(ahead.submit(_vectors_for, batch) for batch in batches[:EMBED_IN_FLIGHT])
        for index, batch in enumerate(batches):
            vectors = in_flight.popleft().result()
            if index + EMBED_IN_FLIGHT < len(batches):
                in_flight.append(ahead.submit(_vectors_for, batches[index + EMBED_IN_FLIGHT]))
            _store_batch(document, index * EMBED_BATCH, batch, vectors, total=len(drafts))


def _store_batch(document: Document, start: int, batch: list[chunking.ChunkDraft], vectors, *, total: int) -> None:
    _copy_chunks(document, start, batch, vectors)
    progress = PROGRESS["embedding"] + int((99 - PROGRESS["embedding"]) * (start + len(batch)) / total)
    if progress != document.progress:
        _save(document, progress=progress)


def _vectors_for(batch: list[chunking.ChunkDraft]):
    try:
        return embeddings.embed_texts([_embedding_text(draft) for draft in batch])
    except (OSError, ConnectionError, TimeoutError, embeddings.EmbeddingError) as exc:
        raise TransientError(f"embedding failed: {exc}") from exc


def _finish(document: Document, chunk_count: int, *, note: str) -> None:
    """Ready; ``note`` (kept in ``error``, which the library shows under the status) says what was left out."""
    with transaction.atomic():
        current = Document.objects.select_for_update().get(pk=document.pk)
        if current.leased_by != WORKER_ID or current.status != Document.Status.EMBEDDING:
            return  # our lease lapsed and someone else took over: their result stands
        document.status, document.progress, document.error = Document.Status.READY, 100, note[:2000]
        document.chunk_count, document.lease_expires_at, document.ready_at = chunk_count, None, timezone.now()
        document.save()
        announce(document)


def fail(document: Document, reason: str) -> None:
    _save(document, status=Document.Status.FAILED, error=reason[:2000], lease_expires_at=None)


def _retry_later(document: Document, exc: Exception) -> int:
    """Back in the queue with the reason; returns the delay before the next attempt."""
    delay = min(300, 5 * 2 ** (document.attempts - 1))
    logger.warning("ingestion of %s hit a transient error (%s); retrying in %d s", document.pk, exc, delay)
    close_old_connections()
    _save(document, status=Document.Status.QUEUED, lease_expires_at=None, error=f"Retrying shortly: {exc}"[:500])
    return delay


# A queued document nobody has claimed for this long lost its task (e.g. the queue's storage was wiped).
FORGOTTEN_AFTER = timedelta(minutes=10)


@dataclass
class Reaped:
    counts: dict
    to_queue: list[str]  # documents whose ingestion must be (re)queued, by the caller: this module never queues


def reap() -> Reaped:
    """Re-queue documents whose worker died (lapsed lease), or fail them after too many attempts; find documents
    whose task the queue forgot."""
    now = timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0}
    to_queue: list[str] = []
    stalled = Document.objects.filter(status__in=Document.WORKING_STATUSES, lease_expires_at__lt=now)
    for pk in list(stalled.values_list("pk", flat=True)):
        with transaction.atomic():
            document = Document.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if document is None or document.status not in Document.WORKING_STATUSES:
                continue
            if document.lease_expires_at and document.lease_expires_at > timezone.now():
                continue  # renewed since we looked
            if document.attempts >= settings.INGEST_MAX_ATTEMPTS:
                _give_up(document)
                counts["failed"] += 1
                continue
            document.status, document.lease_expires_at, document.progress = Document.Status.QUEUED, None, 0
            document.save()
            announce(document)
            to_queue.append(str(pk))  # committed when this block ends, before the caller queues it
            counts["requeued"] += 1
    forgotten = Document.objects.filter(status=Document.Status.QUEUED, updated_at__lt=now - FORGOTTEN_AFTER)
    for pk in forgotten.values_list("pk", flat=True):
        to_queue.append(str(pk))  # claiming is idempotent: a duplicate task finds nothing to do
        counts["resent"] += 1
    return Reaped(counts, to_queue)
