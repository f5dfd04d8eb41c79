"""Ingestion with real Huey worker processes: progress to the browser, idempotence, failures, a killed worker."""

import os
import signal
import time

import pytest
from channels.db import database_sync_to_async as db
from django.core.files.uploadedfile import SimpleUploadedFile

from documents import embeddings, ingestion, services
from documents.models import Chunk, Document
from genaisite.embedded.processes import ManagedProcess
from tests.conftest import BASE_DIR, manage_py, user_events_socket, wait_until
from tests.documents.files import make_pdf, pdf_with_bomb_page
from tests.factories import make_key, make_user, session_client

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "Project Zephyr overview.\nIt is an internal research programme.",
    "The Zephyr budget for 2027 is 4.2 million euros.\nIt is led by Ada Moreau.",
    "Appendix: glossary of terms.",
]


def upload(user, name: str, content: bytes) -> Document:
    return services.document_upload(owner=user, upload=SimpleUploadedFile(name, content))


def long_text(paragraphs: int) -> bytes:
    return "\n\n".join(
        f"Section {i}. " + " ".join(f"Observation {i}.{j} concerns the sample under test." for j in range(12))
        for i in range(paragraphs)
    ).encode()


async def test_a_document_is_ingested_by_the_worker_with_live_progress(huey_worker):
    user = await db(make_user)()
    key = await db(make_key)(user)
    socket = user_events_socket(key)
    assert (await socket.connect())[0]
    document = await db(upload)(user, "zephyr.pdf", make_pdf(PAGES))
    statuses = []
    while not statuses or statuses[-1] not in ("ready", "failed"):
        event = await socket.receive_json_from(timeout=120)
        assert event["type"] == "document.progress"
        statuses.append(event["document"]["status"])
    assert statuses[0] == "queued"
    assert statuses[-1] == "ready"
    assert {"extracting", "chunking", "embedding"} <= set(statuses)
    saved = await db(Document.objects.get)(pk=document.pk)
    assert (saved.pages, saved.progress, saved.attempts) == (3, 100, 1)
    assert saved.chunk_count == await db(Chunk.objects.filter(document=saved).count)()
    pages = await db(lambda: set(Chunk.objects.filter(document=saved).values_list("page", flat=True)))()
    assert pages == {1, 2, 3}
    await socket.disconnect()


def test_running_an_ingestion_again_gives_the_same_chunks():
    user = make_user()
    document = upload(user, "notes.txt", long_text(12))
    assert ingestion.ingest(document.pk).status == "ready"
    first = list(Chunk.objects.filter(document=document).order_by("ordinal").values_list("ordinal", "text"))
    Document.objects.filter(pk=document.pk).update(status=Document.Status.QUEUED)  # as the reaper would
    assert ingestion.ingest(document.pk).status == "ready"
    second = list(Chunk.objects.filter(document=document).order_by("ordinal").values_list("ordinal", "text"))
    assert first == second
    assert len({ordinal for ordinal, _ in second}) == len(second)


def test_a_corrupt_pdf_ends_failed_with_a_reason():
    document = upload(make_user(), "broken.pdf", b"%PDF-1.7\n1 0 obj << garbage")
    assert ingestion.ingest(document.pk).status == "failed"
    document.refresh_from_db()
    assert "damaged" in document.error
    assert document.lease_expires_at is None
    assert not Chunk.objects.filter(document=document).exists()


def test_a_text_longer_than_the_cap_is_read_up_to_it_and_says_so(settings):
    settings.DOCUMENT_MAX_EXTRACTED_CHARS = 2000
    one_block = " ".join(f"Observation {i} concerns the sample under test." for i in range(300)).encode()
    user = make_user()
    document = upload(user, "one-block.txt", one_block)
    assert ingestion.ingest(document.pk).status == "ready"
    document.refresh_from_db()
    note = "Only the first 2,000 characters were read: that is the limit per file."
    assert (document.error, document.progress) == (note, 100)
    stored = " ".join(Chunk.objects.filter(document=document).values_list("text", flat=True))
    assert "Observation 0 concerns" in stored
    assert "Observation 299" not in stored
    # Where the owner looks: the API's document and the library page.
    assert session_client(user).get(f"/api/v1/documents/{document.pk}").json()["error"] == note
    assert note in session_client(user).get("/documents/").content.decode()


def test_a_pdf_stopped_by_a_limit_is_ready_with_the_pages_read_and_the_reason():
    document = upload(make_user(), "bomb-page.pdf", pdf_with_bomb_page(PAGES))
    assert ingestion.ingest(document.pk).status == "ready"
    document.refresh_from_db()
    assert document.pages == 4
    assert document.error == (
        "Only pages 1–3 of 4 were read: page 4 is damaged or too complex to read (LimitReachedError)."
    )
    assert set(Chunk.objects.filter(document=document).values_list("page", flat=True)) == {1, 2, 3}


def test_a_transient_error_retries_later_and_then_succeeds(monkeypatch):
    document = upload(make_user(), "retry.txt", long_text(2))
    real = embeddings.embed_texts
    monkeypatch.setattr(embeddings, "embed_texts", lambda texts: (_ for _ in ()).throw(ConnectionError("api down")))
    attempt = ingestion.ingest(document.pk)
    assert attempt.status == "queued"
    assert attempt.retry_in == 5, "the first retry comes after 5 s, for the task to schedule"
    document.refresh_from_db()
    assert "Retrying shortly" in document.error
    monkeypatch.setattr(embeddings, "embed_texts", real)
    assert ingestion.ingest(document.pk).status == "ready"


def test_a_document_that_keeps_killing_workers_is_failed(settings):
    document = upload(make_user(), "poison.txt", b"text")
    Document.objects.filter(pk=document.pk).update(attempts=settings.INGEST_MAX_ATTEMPTS)
    assert ingestion.ingest(document.pk).status == "skipped"
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert "interrupted" in document.error


def test_a_worker_killed_mid_ingestion_leaves_nothing_stuck_or_duplicated(subprocess_env, tmp_path, settings):
    settings.INGEST_LEASE_SECONDS = 3
    env = subprocess_env | {"INGEST_LEASE_SECONDS": "3", "INGEST_REAP_SECONDS": "2"}

    def worker(name: str) -> ManagedProcess:
        process = ManagedProcess(
            name, manage_py("run_huey", "--flush-locks"), env=env, cwd=BASE_DIR, log_file=tmp_path / f"{name}.log"
        )
        process.start()
        return process

    from huey.contrib.djhuey import HUEY

    HUEY.flush()
    first = worker("worker-1")
    document = upload(make_user(), "long.txt", long_text(420))  # ~500 chunks: two embedding batches
    # Kill it once the first batch of chunks is stored: mid-embedding, with partial work on disk.
    assert wait_until(lambda: Chunk.objects.filter(document_id=document.pk).exists(), timeout=180, interval=0.05)
    os.kill(first.process.pid, signal.SIGKILL)  # no chance to clean up
    first.process.wait()
    stuck = Document.objects.get(pk=document.pk)
    assert stuck.status == Document.Status.EMBEDDING
    assert 0 < Chunk.objects.filter(document=stuck).count() < 400
    killed = time.monotonic()
    # The supervisor restarts a dead worker: its reaper finds the lapsed lease (3 s here) within a round (2 s).
    second = worker("worker-2")
    try:
        assert wait_until(lambda: Document.objects.get(pk=document.pk).attempts == 2, timeout=30)
        picked_up = time.monotonic() - killed
        assert picked_up < settings.INGEST_LEASE_SECONDS + 2 + 10, f"picked up again after {picked_up:.1f} s"
        assert wait_until(
            lambda: Document.objects.filter(pk=document.pk, status__in=["ready", "failed"]).exists(), timeout=180
        )
    finally:
        second.stop()
    done = Document.objects.get(pk=document.pk)
    assert done.status == Document.Status.READY, done.error
    assert done.attempts == 2
    ordinals = list(Chunk.objects.filter(document=done).values_list("ordinal", flat=True))
    assert len(ordinals) == len(set(ordinals)) == done.chunk_count
    assert sorted(ordinals) == list(range(done.chunk_count))


def test_documents_uploaded_the_moment_a_worker_starts_all_ingest(subprocess_env, tmp_path):
    from huey.contrib.djhuey import HUEY

    HUEY.flush()
    user = make_user()
    documents = [upload(user, f"early-{i}.txt", long_text(3 + i)) for i in range(2)]
    worker = ManagedProcess(
        "worker", manage_py("run_huey", "--flush-locks"), env=subprocess_env, cwd=BASE_DIR, log_file=tmp_path / "w.log"
    )
    worker.start()  # both tasks are waiting: the worker's threads take them at once, as it starts
    try:
        finished = wait_until(
            lambda: (
                Document.objects.filter(pk__in=[d.pk for d in documents], status__in=["ready", "failed"]).count() == 2
            ),
            timeout=120,
        )
    finally:
        worker.stop()
    assert finished, (tmp_path / "w.log").read_text()[-2000:]
    for document in documents:
        document.refresh_from_db()
        assert (document.status, document.error, document.attempts) == (Document.Status.READY, "", 1)
        assert document.chunk_count > 0


def test_an_unreachable_embedding_service_is_retried_later_not_failed(settings):
    settings.EMBEDDINGS_BASE_URL = "http://127.0.0.1:9/v1"
    document = upload(make_user(), "later.txt", long_text(2))
    assert ingestion.ingest(document.pk).status == "queued"
    document.refresh_from_db()
    assert "Retrying shortly" in document.error
    assert "embedding service" in document.error


@pytest.mark.parametrize(
    ("name", "content", "expect"),
    [
        ("a.pdf", make_pdf(PAGES), "4.2 million euros"),
        ("b.docx", None, "Ada Moreau leads"),
        ("c.md", b"# Zephyr\n\n## Budget\n\nThe budget is 4.2 million euros.", "4.2 million euros"),
        (
            "d.html",
            b"<html><body><nav>menu</nav><main><h1>Zephyr</h1><p>Led by Ada Moreau.</p></main></body></html>",
            "Led by Ada Moreau.",
        ),
        ("e.txt", b"Plain notes.\n\nThe budget is 4.2 million euros.", "4.2 million euros"),
    ],
)
def test_every_format_ingests(name, content, expect):
    if content is None:
        from tests.documents.files import make_docx

        content = make_docx([("Zephyr", ["Ada Moreau leads the project."])])
    document = upload(make_user(), name, content)
    assert ingestion.ingest(document.pk).status == "ready", Document.objects.get(pk=document.pk).error
    assert any(expect in text for text in Chunk.objects.filter(document=document).values_list("text", flat=True))
