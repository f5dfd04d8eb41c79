"""Request ids from the web to the worker, JSON log lines, and OpenTelemetry spans that never carry text."""

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from core import request_id, tracing
from documents.models import Document
from genaisite.observability import JsonFormatter
from tests.chat.test_websocket import conversation_for, frames_until_done, open_socket
from tests.conftest import wait_until
from tests.factories import make_user, session_client

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_returns_the_request_id_it_was_sent_or_a_new_one():
    client = Client()
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-42.a").headers["X-Request-ID"] == "edge-42.a"
    made_up = client.get("/healthz").headers["X-Request-ID"]
    assert len(made_up) == 32
    hostile = client.get("/healthz", HTTP_X_REQUEST_ID='x"}\n{"forged": 1').headers["X-Request-ID"]
    assert hostile != 'x"}\n{"forged": 1', "an id that could forge a log line is replaced"
    assert request_id.get() == "", "nothing of the request stays behind"


def test_a_json_line_carries_the_request_id_and_the_redacted_message(console_log):
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    previous = handler.formatter
    handler.setFormatter(JsonFormatter())
    token = request_id.use("req-1")
    try:
        logging.getLogger("genaisite.test").warning("mail ada.moreau@example.com about %s", "it")
    finally:
        request_id.reset(token)
        handler.setFormatter(previous)
    line = json.loads(console_log.getvalue().splitlines()[-1])
    assert line["request_id"] == "req-1"
    assert (line["level"], line["logger"]) == ("WARNING", "genaisite.test")
    assert line["message"] == "mail [email redacted] about it"


@pytest.fixture
def json_worker(monkeypatch, request):
    monkeypatch.setenv("LOG_FORMAT", "json")
    return request.getfixturevalue("huey_worker")


def test_the_request_id_follows_an_upload_into_the_worker_that_ingests_it(json_worker):
    user = make_user()
    upload = SimpleUploadedFile("note.txt", b"Project Zephyr is led by Ada Moreau.\n")
    response = session_client(user).post("/api/v1/documents/", {"file": upload}, HTTP_X_REQUEST_ID="upload-77")
    assert response.status_code == 201, response.content
    assert response.headers["X-Request-ID"] == "upload-77"
    document = Document.objects.get(owner=user)
    assert wait_until(lambda: Document.objects.get(pk=document.pk).status == "ready", timeout=120)
    json_worker.drain()
    lines = [json.loads(line) for line in json_worker.log_file.read_text().splitlines() if line.startswith("{")]
    assert lines, "the worker logs JSON"
    ours = [line for line in lines if line["request_id"] == "upload-77"]
    assert any(f"ingested {document.pk}" in line["message"] for line in ours), lines[-5:]
    assert all(line["request_id"] in ("", "upload-77") for line in lines), (
        "no other id, and the worker's own lines none"
    )


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider.get_tracer("test"))
    yield exporter
    tracing.enable(None)


async def test_spans_name_the_model_and_route_but_never_carry_the_prompt_or_answer(spans, fake_llm):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "zebra confidential words"})
    frames = await frames_until_done(socket)
    await socket.disconnect()
    answer = "".join(frame["text"] for frame in frames if frame["type"] == "delta")
    assert answer
    finished = spans.get_finished_spans()
    answered = [span for span in finished if span.name == "llm.answer"]
    assert len(answered) == 1
    assert answered[0].attributes["gen_ai.request.model"] == "fake-echo"
    assert answered[0].attributes["genaisite.source"] == "chat"
    for span in finished:
        for value in span.attributes.values():
            assert "zebra" not in str(value), f"{span.name} carries prompt text"
            assert answer.split()[0] not in str(value), f"{span.name} carries answer text"
