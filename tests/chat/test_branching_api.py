"""Regenerate, edit and switch versions on the REST API (/api/v1/conversations/…): the same tree as the websocket,
errors in the API's JSON shape."""

import pytest

from accounts.models import PolicyOverride
from chat import services
from chat.models import Message
from tests.factories import key_client, make_key, make_user, session_client

pytestmark = pytest.mark.django_db(transaction=True)


def told(fake_llm) -> list[list[tuple[str, str]]]:
    return [
        [(m["role"], m["content"]) for m in request["messages"] if m["role"] != "system"]
        for request in fake_llm.requests
        if request.get("stream")
    ]


@pytest.fixture
def chat(fake_llm):
    user = make_user()
    conversation = services.conversation_create(owner=user, model="fake-echo", title="api branches")
    return user, conversation, f"/api/v1/conversations/{conversation.pk}/"


def test_it_regenerates_an_answer_and_lists_the_branch_with_versions(chat, fake_llm):
    user, _conversation, url = chat
    client = session_client(user)
    first = client.post(url + "messages/", {"content": "alpha"}, format="json").json()
    again = client.post(url + f"messages/{first['id']}/regenerate/", {}, format="json")
    assert again.status_code == 201, again.content
    answer = again.json()
    assert answer["versions"] == [first["id"], answer["id"]]
    assert told(fake_llm)[-1] == [("user", "alpha")]

    listing = client.get(url + "messages/").json()["results"]
    assert [m["id"] for m in listing][1] == answer["id"], "the branch shown ends with the new version"
    assert len(listing) == 2
    assert client.get(url).json()["current_leaf_id"] == answer["id"]


def test_it_edits_a_question_and_switches_back_to_the_old_branch(chat, fake_llm):
    user, _conversation, url = chat
    client = key_client(make_key(user, scopes=["chat", "read"]))
    client.post(url + "messages/", {"content": "one"}, format="json")
    second = client.post(url + "messages/", {"content": "two"}, format="json").json()
    old_question = Message.objects.get(pk=second["id"]).parent_id

    edited = client.post(url + f"messages/{old_question}/edit/", {"content": "three"}, format="json")
    assert edited.status_code == 201, edited.content
    assert [c for _, c in told(fake_llm)[-1]][-1] == "three"
    assert "two" not in [c for _, c in told(fake_llm)[-1]]

    back = client.put(url + "branch/", {"message_id": str(old_question)}, format="json")
    assert back.status_code == 200, back.content
    body = back.json()
    assert body["current_leaf_id"] == second["id"]
    assert [m["content"] for m in body["messages"] if m["role"] == "user"] == ["one", "two"]
    question = next(m for m in body["messages"] if m["content"] == "two")
    assert len(question["versions"]) == 2

    client.post(url + "messages/", {"content": "four"}, format="json")
    assert [c for r, c in told(fake_llm)[-1] if r == "user"] == ["one", "two", "four"]


def test_it_rejects_versions_of_other_conversations_and_wrong_kinds_in_json(chat, fake_llm):
    user, _conversation, url = chat
    client = session_client(user)
    answer = client.post(url + "messages/", {"content": "alpha"}, format="json").json()
    question = str(Message.objects.get(pk=answer["id"]).parent_id)
    other = services.conversation_create(owner=user, model="fake-echo")
    refused = client.post(f"/api/v1/conversations/{other.pk}/messages/{answer['id']}/regenerate/", {}, format="json")
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "not_found"
    wrong_kind = client.post(url + f"messages/{question}/regenerate/", {}, format="json")
    assert wrong_kind.status_code == 404, "a question is not an answer to regenerate"
    assert client.post(url + f"messages/{answer['id']}/edit/", {"content": "x"}, format="json").status_code == 404
    empty = client.post(url + f"messages/{question}/edit/", {"content": "  "}, format="json")
    assert (empty.status_code, empty.json()["error"]["code"]) == (400, "empty_message")
    stranger = session_client(make_user()).put(url + "branch/", {"message_id": question}, format="json")
    assert stranger.status_code == 404


def test_regenerating_counts_on_the_daily_budget_like_a_message(chat, fake_llm):
    user, conversation, url = chat
    client = session_client(user)
    answer = client.post(url + "messages/", {"content": "alpha"}, format="json").json()
    PolicyOverride.objects.update_or_create(user=user, defaults={"daily_token_budget": 5})
    refused = client.post(url + f"messages/{answer['id']}/regenerate/", {}, format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert Message.objects.filter(conversation=conversation, role="assistant").count() == 1


def test_a_regeneration_that_fails_is_saved_as_failed_beside_the_kept_answer(chat, fake_llm):
    user, _conversation, url = chat
    client = session_client(user)
    answer = client.post(url + "messages/", {"content": "alpha"}, format="json").json()
    failed = client.post(url + f"messages/{answer['id']}/regenerate/", {"model": "fake-500"}, format="json")
    assert failed.status_code == 502
    assert failed.json()["message"]["status"] == "failed"
    assert failed.json()["message"]["versions"][0] == answer["id"]
    assert Message.objects.get(pk=answer["id"]).status == "complete"
