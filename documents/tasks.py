"""Huey tasks for documents. They take ids; the database holds each job's state (documents/ingestion.py)."""

from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task

from documents import embeddings, ingestion


@HUEY.on_startup()
def load_tokenizer() -> None:
    # At worker start, not on the first document: two uploads right after a start must not race on the load.
    embeddings.load_tokenizer()


@db_task()
def ingest_document(document_id: str) -> str:
    return ingestion.ingest(document_id)


@db_periodic_task(crontab(minute="*"))
def reap_stalled_ingestions() -> dict:
    return ingestion.reap()
