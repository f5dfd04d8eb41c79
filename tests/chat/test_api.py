"""/api/v1/conversations/…, /messages/ (JSON and Server-Sent Events) and /usage/."""

import json

import pytest
from channels.db import database_sync_to_async as db

from chat import services
from chat.models import Conversation, DailyUsage, Message
from tests.factories import make_key, make_user, session_client

pytestmark = pytest.mark.django_db(transaction=True)


async def sse_events(response) -> list[dict]:
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append({"event": lines["event"], **json.loads(lines["data"])})
    return events


def test_conversations_are_created_listed_searched_renamed_and_deleted(fake_llm):
    user = make_user()
    client = session_client(user)
    first = client.post("/api/v1/conversations/", {"title": "Holiday plans"}, format="json").json()
    second = client.post("/api/v1/conversations/", {}, format="json").json()
    assert first["model"] == "fake-echo"
    Message.objects.create(conversation_id=second["id"], role="user", content="the quarterly budget")
    make_user()  # someone else's data must never show up
    listing = client.get("/api/v1/conversations/").json()
    assert listing["count"] == 2
    assert [c["id"] for c in client.get("/api/v1/conversations/?q=holiday").json()["results"]] == [first["id"]]
    assert [c["id"] for c in client.get("/api/v1/conversations/?q=BUDGET").json()["results"]] == [second["id"]]
    renamed = client.patch(f"/api/v1/conversations/{second['id']}/", {"title": "Budget"}, format="json").json()
    assert renamed["title"] == "Budget"
    archived = client.patch(f"/api/v1/conversations/{first['id']}/", {"archived": True}, format="json").json()
    assert archived["archived"] is True
    assert client.get("/api/v1/conversations/?archived=false").json()["count"] == 1
    assert client.delete(f"/api/v1/conversations/{first['id']}/").status_code == 204
    assert not Conversation.objects.filter(pk=first["id"]).exists()


@pytest.mark.parametrize(("query", "code"), [("q=caf%00e", "nul_character"), ("archived=maybe", "invalid")])
def test_a_list_query_that_cannot_be_used_is_a_400(fake_llm, query, code):
    response = session_client(make_user()).get(f"/api/v1/conversations/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_a_message_gets_a_json_answer(fake_llm):
    user = make_user()
    conversation = services.conversation_create(owner=user)
    response = session_client(user).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "json please"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["role"] == "assistant"
    assert body["status"] == "complete"
    assert body["content"] == "".join(f"json:{i} " for i in range(8))
    messages = session_client(user).get(f"/api/v1/conversations/{conversation.pk}/messages/").json()
    assert [m["role"] for m in messages["results"]] == ["user", "assistant"]


async def test_a_message_streams_as_server_sent_events(fake_llm, async_client):
    user = await db(make_user)()
    conversation = await db(services.conversation_create)(owner=user)
    key = await db(make_key)(user, scopes=["chat"])
    # The async client runs the view on this test's event loop, where the answer keeps streaming after it returns.
    response = await async_client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        {"content": "sse", "stream": True},
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = await sse_events(response)
    assert [e["event"] for e in events][:2] == ["started", "delta"]
    assert events[-1]["event"] == "done"
    text = "".join(e["text"] for e in events if e["event"] == "delta")
    assert text == events[-1]["content"] == "".join(f"sse:{i} " for i in range(8))


def test_an_upstream_failure_is_a_502_with_the_saved_message(fake_llm):
    user = make_user()
    conversation = services.conversation_create(owner=user, model="fake-500")
    response = session_client(user).post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "boom"}, format="json"
    )
    assert response.status_code == 502
    body = response.json()
    assert body["error"]["code"] == "upstream_error"
    assert body["message"]["status"] == "failed"
    assert Message.objects.get(pk=body["message"]["id"]).error == body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": ""}, 400, "empty_message"),
        ({"content": "x" * 40000}, 413, "message_too_long"),
        ({"content": "hi", "model": "nope"}, 404, "model_not_found"),
        ({}, 400, "invalid"),
    ],
)
def test_bad_messages_get_a_clear_4xx(fake_llm, body, status, code):
    user = make_user()
    conversation = services.conversation_create(owner=user)
    response = session_client(user).post(f"/api/v1/conversations/{conversation.pk}/messages/", body, format="json")
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_a_conversation_exports_as_json_and_markdown(fake_llm):
    user = make_user()
    conversation = services.conversation_create(owner=user, title="Export me")
    session_client(user).post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "hello"}, format="json")
    client = session_client(user)
    exported = client.get(f"/api/v1/conversations/{conversation.pk}/export/?format=json")
    assert exported["Content-Disposition"].endswith('.json"')
    assert [m["role"] for m in exported.json()["messages"]] == ["user", "assistant"]
    markdown = client.get(
        f"/api/v1/conversations/{conversation.pk}/export/?format=markdown", HTTP_ACCEPT="text/markdown"
    )
    assert markdown["Content-Type"].startswith("text/markdown")
    text = markdown.content.decode()
    assert text.startswith("# Export me")
    assert "## You\n\nhello" in text
    assert client.get(f"/api/v1/conversations/{conversation.pk}/export/?format=pdf").status_code == 400


def test_usage_reports_today_and_this_month_by_model(fake_llm):
    user = make_user()
    conversation = services.conversation_create(owner=user)
    client = session_client(user)
    for text in ("one", "two"):
        client.post(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": text}, format="json")
    usage = client.get("/api/v1/usage/").json()
    today = usage["today"]["by_model"]["fake-echo"]
    assert today["completion_tokens"] == 16
    assert today["requests"] == 2
    assert usage["month"]["total_tokens"] == usage["today"]["total_tokens"] > 16
    assert DailyUsage.objects.get(user=user).requests == 2
