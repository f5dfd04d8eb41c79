"""/api/v1/tasks/: classify, summarize and extract on the real local model, each call admitted and recorded."""

import json

import jsonschema
import pytest
from channels.db import database_sync_to_async as db
from django.core.files.uploadedfile import SimpleUploadedFile

from chat.models import Conversation, DailyUsage, LabelSet, Message
from chat.nlp_tasks.classify import label_scores
from documents import ingestion
from documents import services as document_services
from documents.models import Document
from tests.documents.files import make_pdf
from tests.factories import key_client, make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)

SENTIMENT = ["positive", "negative", "neutral"]
PAGES = [
    "Chapter one. The lighthouse keeper Mara lived alone on the island of Vell. Every evening she climbed the tower "
    "and lit the great lamp so that fishing boats could find the harbour. " * 3,
    "Chapter two. One winter a storm broke the lamp. Mara rowed to the mainland through the waves to buy new glass, "
    "and returned before dark to light the tower again. " * 3,
    "Chapter three. The fishermen of Vell built Mara a new house beside the tower to thank her, and the harbour "
    "held a festival in her name every spring. " * 3,
]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def ready_document(owner, pages: list[str]) -> Document:
    upload = SimpleUploadedFile("story.pdf", make_pdf(pages))
    document = document_services.document_upload(owner=owner, upload=upload)
    assert ingestion.ingest(document.pk).status == "ready"
    return Document.objects.get(pk=document.pk)


def task_records(user) -> tuple[int, int]:
    """Recorded task conversations of ``user``, and the model requests counted on their usage ledger."""
    conversations = Conversation.objects.filter(owner=user, source=Conversation.Source.TASK).count()
    return conversations, sum(DailyUsage.objects.filter(user=user).values_list("requests", flat=True))


@pytest.fixture
def caller(local_llm):
    user = make_user()
    return user, key_client(make_key(user))


def test_classify_answers_one_of_the_labels_with_scores_from_the_model(caller):
    user, client = caller
    response = client.post(
        "/api/v1/tasks/classify/",
        {"text": "I loved this film, it was wonderful and moving.", "labels": SENTIMENT},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["label"] in SENTIMENT
    assert set(body["scores"]) == set(SENTIMENT)
    assert sum(body["scores"].values()) == pytest.approx(1.0)
    assert all(0 <= score <= 1 for score in body["scores"].values())
    # Greedy decoding under the grammar: the label written is the one most likely where the labels part.
    assert max(body["scores"], key=body["scores"].get) == body["label"]
    assert body["usage"]["calls"] == 1
    assert body["usage"]["total_tokens"] > 0
    answer = Message.objects.get(conversation__owner=user, role="assistant")
    assert answer.conversation.source == "task"
    assert answer.status == "complete"
    assert json.loads(answer.content) == {"label": body["label"]}
    assert task_records(user) == (1, 1)


def test_a_saved_label_set_is_used_by_name_and_managed_per_user(caller):
    _user, client = caller
    created = client.post("/api/v1/tasks/label-sets/", {"name": "mood", "labels": SENTIMENT}, format="json")
    assert created.status_code == 201, created.content
    assert (
        client.post("/api/v1/tasks/label-sets/", {"name": "mood", "labels": ["a", "b"]}, format="json").status_code
        == 409
    )
    response = client.post(
        "/api/v1/tasks/classify/", {"text": "Awful, broken, a waste.", "label_set": "mood"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["label"] in SENTIMENT
    stranger = key_client(make_key(make_user()))
    assert stranger.get("/api/v1/tasks/label-sets/").json() == []
    assert stranger.delete(f"/api/v1/tasks/label-sets/{created.json()['id']}/").status_code == 404
    refused = stranger.post("/api/v1/tasks/classify/", {"text": "hi", "label_set": "mood"}, format="json")
    assert refused.status_code == 400
    assert "label_set" in refused.json()["error"]["fields"]
    assert client.delete(f"/api/v1/tasks/label-sets/{created.json()['id']}/").status_code == 204
    assert not LabelSet.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x", "labels": ["only one"]}, "labels"),
        ({"text": "x", "labels": ["same", "same"]}, "labels"),
        ({"text": "x", "labels": [f"l{n}" for n in range(51)]}, "labels"),
        ({"text": "x"}, "labels"),
        ({"text": "", "labels": ["a", "b"]}, "text"),
        ({"labels": ["a", "b"]}, "text"),
    ],
)
def test_classify_rejects_bad_input_naming_the_field(fake_llm, body, field):
    response = key_client(make_key(make_user())).post("/api/v1/tasks/classify/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not Conversation.objects.exists(), "nothing reaches the model"


def test_a_multi_page_document_is_summarised_by_map_reduce_with_its_pages_cited(caller, settings):
    user, client = caller
    document = ready_document(user, PAGES)
    # A small window, so the three pages cannot be read in one call.
    settings.LLM_MODELS = [model | {"context_window": 400} for model in settings.LLM_MODELS]
    response = client.post("/api/v1/tasks/summarize/", {"document_id": str(document.pk)}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["summary"].strip()
    citations = body["citations"]
    assert len(citations) >= 2
    assert sorted({page for citation in citations for page in citation["pages"]}) == [1, 2, 3]
    assert all(citation["summary"].strip() for citation in citations)
    calls = body["usage"]["calls"]
    # One call per window and the final one; plus a combining round when the real model's partial summaries
    # together overflow the small window (their length varies with the model's sampling: seen here, 3 + 3).
    assert calls >= len(citations) + 1
    assert task_records(user) == (calls, calls), "every map and reduce call is its own recorded generation"


async def test_a_summary_streams_its_final_step_as_server_sent_events(local_llm, async_client):
    key = await db(lambda: make_key(make_user()))()
    response = await async_client.post(
        "/api/v1/tasks/summarize/",
        {"text": PAGES[0], "stream": True, "max_words": 30},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    events = [dict(line.split(": ", 1) for line in block.splitlines()) for block in body.strip().split("\n\n")]
    assert {event["event"] for event in events[:-1]} == {"delta"}
    final = json.loads(events[-1]["data"])
    assert events[-1]["event"] == "summary"
    assert final["summary"] == "".join(json.loads(event["data"])["text"] for event in events[:-1]).strip()
    assert final["citations"][0]["summary"] == final["summary"]


def test_nobody_summarises_or_extracts_from_a_document_they_may_not_read(local_llm):
    document = ready_document(make_user(), PAGES[:1])
    client = key_client(make_key(make_user()))
    for path, extra in (("summarize", {}), ("extract", {"schema": PERSON})):
        response = client.post(f"/api/v1/tasks/{path}/", {"document_id": str(document.pk), **extra}, format="json")
        assert response.status_code == 404, response.content
    assert not Conversation.objects.exists()


def test_extract_returns_data_valid_against_the_schema(caller):
    user, client = caller
    response = client.post(
        "/api/v1/tasks/extract/",
        {"text": "Ada Moreau is 36 years old and leads Project Zephyr.", "schema": PERSON},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    jsonschema.validate(body["data"], PERSON)
    assert body["truncated"] is False
    assert task_records(user) == (1, 1)


def test_extract_reads_the_start_of_a_long_document_and_says_so(caller, settings):
    user, client = caller
    document = ready_document(user, PAGES)
    settings.LLM_MODELS = [model | {"context_window": 400} for model in settings.LLM_MODELS]
    response = client.post("/api/v1/tasks/extract/", {"document_id": str(document.pk), "schema": PERSON}, format="json")
    assert response.status_code in (200, 422), response.content
    if response.status_code == 200:
        assert response.json()["truncated"] is True
        assert 3 not in response.json()["read"]["pages"]


def test_extract_answers_422_when_the_model_cannot_fill_the_schema_twice(fake_llm):
    user = make_user()
    response = key_client(make_key(user)).post(
        "/api/v1/tasks/extract/", {"text": "Ada is 36.", "schema": PERSON}, format="json"
    )
    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == "schema_validation_failed"
    answer = Message.objects.get(role="assistant")
    assert answer.status == "failed", "the failed call is recorded too"
    assert len([r for r in fake_llm.requests if r.get("response_format")]) == 2, "one retry, then the refusal"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "x", "schema": "not a schema"}, "schema"),
        ({"text": "x", "schema": {"type": "object", "properties": {"a": {"$ref": "http://x/y"}}}}, "schema"),
        ({"text": "x"}, "schema"),
        ({"schema": PERSON}, "text"),
        ({"text": "x", "document_id": "00000000-0000-0000-0000-000000000000", "schema": PERSON}, "text"),
    ],
)
def test_extract_rejects_bad_input_naming_the_field(fake_llm, body, field):
    response = key_client(make_key(make_user())).post("/api/v1/tasks/extract/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_summarize_rejects_a_request_with_no_source_or_a_bad_limit(fake_llm):
    client = key_client(make_key(make_user()))
    assert "text" in client.post("/api/v1/tasks/summarize/", {}, format="json").json()["error"]["fields"]
    refused = client.post("/api/v1/tasks/summarize/", {"text": "x", "max_words": 0}, format="json")
    assert refused.status_code == 400
    assert "max_words" in refused.json()["error"]["fields"]


def entry(token: str, logprob: float, alternatives: dict[str, float]) -> dict:
    return {
        "token": token,
        "logprob": logprob,
        "top_logprobs": [{"token": t, "logprob": p} for t, p in alternatives.items()],
    }


def test_scores_share_a_token_that_starts_several_labels_in_proportion():
    import math

    log = math.log
    tokens = [
        entry('{"', log(0.9), {}),
        entry("label", log(0.9), {}),
        entry('":', log(0.9), {}),
        entry(' "', log(0.9), {}),
        # "n" starts both "negative" and "neutral"; "Positive" is no label (the grammar forbids it).
        entry(
            "positive",
            log(0.5),
            {"positive": log(0.5), "negative": log(0.2), "neutral": log(0.1), "n": log(0.1), "Positive": log(0.1)},
        ),
        entry('"}', log(0.9), {}),
    ]
    scores = label_scores(tokens, SENTIMENT)
    assert scores == pytest.approx(
        {"positive": 0.5 / 0.9, "negative": (0.2 + 0.1 * 2 / 3) / 0.9, "neutral": (0.1 + 0.1 / 3) / 0.9}
    )


def test_scores_follow_the_written_token_until_the_label_is_decided():
    import math

    log = math.log
    tokens = [
        entry('{"label": "', 0.0, {}),
        entry("bug", log(0.6), {"bug": log(0.6), "b": log(0.2), "feature": log(0.2)}),
        entry(" report", log(0.5), {" report": log(0.5), " fix": log(0.5)}),
        entry('"}', 0.0, {}),
    ]
    scores = label_scores(tokens, ["bug report", "bug fix", "billing", "feature request"])
    assert scores == pytest.approx(
        {"bug report": 0.3 + 0.2 * 0.5, "bug fix": 0.3 + 0.2 * 0.5, "billing": 0.0, "feature request": 0.2}
    )
    assert label_scores([entry("no json here", 0.0, {})], SENTIMENT) is None


def test_the_tasks_page_requires_sign_in_and_offers_the_users_ready_documents(fake_llm):
    from django.test import Client

    assert Client().get("/tasks/").status_code == 302
    user = make_user()
    document = Document.objects.create(
        owner=user, title="Handbook", filename="h.txt", kind="txt", size_bytes=1, sha256="a" * 64, status="ready"
    )
    Document.objects.create(
        owner=make_user(), title="Secret", filename="s.txt", kind="txt", size_bytes=1, sha256="b" * 64, status="ready"
    )
    client = Client()
    client.force_login(user)
    page = client.get("/tasks/").content.decode()
    assert f'value="{document.pk}"' in page
    assert "Secret" not in page
    assert 'src="/static/js/tasks.js"' in page
