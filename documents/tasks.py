"""Huey tasks for documents. They take ids; the database holds each job's state (documents/ingestion.py)."""

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from documents import ingestion


@db_task()
def ingest_document(document_id: str) -> str:
    return ingestion.ingest(document_id)


@db_periodic_task(crontab(minute="*"))
def reap_stalled_ingestions() -> dict:
    return ingestion.reap()
