"""Huey tasks for documents. They take ids; the database holds each job's state (documents/ingestion.py)."""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.dispatch import receiver
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from documents import embeddings, ingestion, services

logger = logging.getLogger(__name__)


_reaper_started = threading.Lock()


@HUEY.on_startup()
def load_tokenizer() -> None:
    # At worker start, not on the first document: two uploads right after a start must not race on the load.
    embeddings.load_tokenizer()


@HUEY.on_startup()
def start_reaper() -> None:
    """Every INGEST_REAP_SECONDS, in each worker process: Huey's periodic tasks run at most once a minute, too
    rarely to pick up a dead worker's document within half a minute. Several workers reaping at once is safe: each
    document is re-queued under a row lock (skip_locked)."""
    if not _reaper_started.acquire(blocking=False):  # on_startup runs once per worker thread
        return

    def reap_forever() -> None:
        while True:
            try:
                reap_stalled_ingestions.call_local()
            except Exception:  # a database hiccup: the next round tries again
                logger.exception("reaping stalled ingestions failed")
            finally:
                close_old_connections()
            time.sleep(settings.INGEST_REAP_SECONDS)

    threading.Thread(target=reap_forever, name="ingestion-reaper", daemon=True).start()


@db_task()
def ingest_document(document_id: str) -> str:
    attempt = ingestion.ingest(document_id)
    if attempt.retry_in is not None:
        ingest_document.schedule((document_id,), delay=attempt.retry_in)
    return attempt.status


@receiver(services.document_uploaded)
def _ingest_after_upload(sender, document_id, **kwargs) -> None:
    ingest_document(str(document_id))


@db_periodic_task(crontab(minute="*"))
def reap_stalled_ingestions() -> dict:
    reaped = ingestion.reap()
    for document_id in reaped.to_queue:
        ingest_document(document_id)
    return reaped.counts
