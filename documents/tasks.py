"""Huey tasks for documents. They take ids; the database holds each job's state (documents/ingestion.py)."""

from django.dispatch import receiver
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from documents import embeddings, ingestion, services


@HUEY.on_startup()
def load_tokenizer() -> None:
    # At worker start, not on the first document: two uploads right after a start must not race on the load.
    embeddings.load_tokenizer()


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
