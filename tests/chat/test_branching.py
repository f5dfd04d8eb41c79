"""Regenerate, edit and resend, and switching versions: the conversation tree through the services, the websocket
and the REST API, against the loopback fake upstream. The history the model is told must follow the branch shown."""

import pytest
from channels.db import database_sync_to_async as db

from accounts.models import Role
from chat import branching, selectors, services
from chat.models import Conversation, Message
from tests.chat.test_limits import limit_user
from tests.chat.test_websocket import frames_until_done, open_socket
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@db
def conversation_for(model: str = "fake-echo") -> tuple[Conversation, str]:
    user = make_user(Role.MEMBER)
    return services.conversation_create(owner=user, model=model, title="branches"), make_key(user, scopes=["chat"])


def told(fake_llm) -> list[list[tuple[str, str]]]:
    """What the model was told at each streamed request, without the system prompt."""
    return [
        [(m["role"], m["content"]) for m in request["messages"] if m["role"] != "system"]
        for request in fake_llm.requests
        if request.get("stream")
    ]


async def ask(socket, frame: dict) -> list[dict]:
    await socket.send_json_to(frame)
    return await frames_until_done(socket)


async def test_it_regenerates_the_last_answer_as_a_new_version_and_keeps_the_old_one(fake_llm):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    first = await ask(socket, {"type": "send", "content": "alpha question"})
    question_id, old_answer = first[0]["user_message"]["id"], first[-1]["message_id"]

    again = await ask(socket, {"type": "regenerate"})
    started = again[0]
    assert started["type"] == "started"
    assert started["user_message"]["id"] == question_id, "no new question is written"
    assert started["message"]["parent_id"] == question_id
    assert started["message"]["versions"] == [old_answer, started["message"]["id"]]
    assert again[-1]["status"] == "complete"
    assert told(fake_llm)[-1] == [("user", "alpha question")], "the replaced answer is not part of the history"

    branch = await db(selectors.branch_list)(conversation=conversation)
    assert [str(m.pk) for m in branch.messages] == [question_id, started["message"]["id"]]
    kept = await db(Message.objects.get)(pk=old_answer)
    assert kept.status == Message.Status.COMPLETE, "the earlier version is kept"
    assert kept.content
    await socket.disconnect()


async def test_an_edited_question_branches_and_the_history_follows_the_branch(fake_llm):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await ask(socket, {"type": "send", "content": "one first"})
    second = await ask(socket, {"type": "send", "content": "two second"})
    edited = await ask(socket, {"type": "edit", "message_id": second[0]["user_message"]["id"], "content": "three"})
    new_question = edited[0]["user_message"]
    assert new_question["parent_id"] == second[0]["user_message"]["parent_id"]
    assert new_question["versions"] == [second[0]["user_message"]["id"], new_question["id"]]
    first_answer = told(fake_llm)[0]
    assert [role for role, _ in told(fake_llm)[-1]] == ["user", "assistant", "user"]
    assert told(fake_llm)[-1][0] == first_answer[0]
    assert told(fake_llm)[-1][-1] == ("user", "three"), "the edited question replaces the old one in the history"
    assert "two second" not in str(told(fake_llm)[-1])

    # Continuing goes on from the new branch only.
    await ask(socket, {"type": "send", "content": "four"})
    assert "two second" not in str(told(fake_llm)[-1])
    assert told(fake_llm)[-1][-3:-1][0] == ("user", "three")
    await socket.disconnect()


async def test_selecting_an_old_version_shows_its_branch_in_every_tab_and_sends_continue_it(fake_llm):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    other_tab = await open_socket(conversation, key)
    first = await ask(socket, {"type": "send", "content": "alpha"})
    await frames_until_done(other_tab)
    old_question = first[0]["user_message"]["id"]
    await ask(socket, {"type": "edit", "message_id": old_question, "content": "beta"})
    await frames_until_done(other_tab)

    await socket.send_json_to({"type": "select", "message_id": old_question})
    for tab in (socket, other_tab):
        history = await tab.receive_json_from(timeout=5)
        assert history["type"] == "history"
        assert history["messages"][0]["content"] == "alpha"
        assert len(history["messages"][0]["versions"]) == 2
    await ask(socket, {"type": "send", "content": "gamma"})
    assert told(fake_llm)[-1][0] == ("user", "alpha")
    assert "beta" not in str(told(fake_llm)[-1])
    await socket.disconnect()
    await other_tab.disconnect()


async def test_it_rejects_branching_from_a_message_of_another_conversation(fake_llm):
    conversation, key = await conversation_for()
    elsewhere, other_key = await conversation_for()
    other = await open_socket(elsewhere, other_key)
    foreign = (await ask(other, {"type": "send", "content": "secret"}))[0]["user_message"]["id"]
    socket = await open_socket(conversation, key)
    for frame in (
        {"type": "edit", "message_id": foreign, "content": "x"},
        {"type": "regenerate", "message_id": foreign},
        {"type": "select", "message_id": foreign},
    ):
        await socket.send_json_to(frame)
        error = await socket.receive_json_from(timeout=5)
        assert (error["type"], error["code"], error["field"]) == ("error", "not_found", "message_id")
    await socket.send_json_to({"type": "regenerate", "message_id": "nope"})
    assert (await socket.receive_json_from(timeout=5))["code"] == "invalid_message_id"
    await socket.send_json_to({"type": "regenerate"})
    assert (await socket.receive_json_from(timeout=5))["code"] == "nothing_to_regenerate"
    await socket.disconnect()
    await other.disconnect()


async def test_regenerating_goes_through_the_admission_like_a_send(fake_llm, settings):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await ask(socket, {"type": "send", "content": "alpha"})
    await socket.disconnect()
    await db(limit_user)(await db(lambda: conversation.owner)(), daily_token_budget=5)
    socket = await open_socket(conversation, key)  # a socket reads its user's limits when it opens
    await socket.send_json_to({"type": "regenerate"})
    error = await socket.receive_json_from(timeout=5)
    assert (error["type"], error.get("code")) == ("error", "quota_exceeded"), error
    assert error["retry_after"] > 0
    assert await db(Message.objects.filter(conversation=conversation, role="assistant").count)() == 1
    await socket.disconnect()


async def test_a_failed_regeneration_keeps_its_status_and_the_earlier_version(fake_llm, settings):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    first = await ask(socket, {"type": "send", "content": "alpha"})
    failed = await ask(socket, {"type": "regenerate", "model": "fake-500"})
    assert failed[-1]["status"] == "failed"
    answers = await db(lambda: list(Message.objects.filter(role="assistant").order_by("created_at")))()
    assert [a.status for a in answers] == ["complete", "failed"]
    assert str(answers[0].pk) == first[-1]["message_id"]
    assert answers[1].parent_id == answers[0].parent_id
    await socket.disconnect()


def test_the_service_refuses_to_switch_versions_while_an_answer_is_written(fake_llm):
    conversation = services.conversation_create(owner=make_user(), model="fake-echo")
    question = Message.objects.create(conversation=conversation, role="user", content="q")
    Message.objects.create(conversation=conversation, role="assistant", status="streaming", parent=question)
    with pytest.raises(branching.ServiceError) as refused:
        branching.branch_select(conversation=conversation, message_id=question.pk)
    assert refused.value.code == "busy"


def test_the_migration_links_existing_messages_into_one_branch_ending_at_the_newest(fake_llm):
    from importlib import import_module

    from django.db import connection

    link_existing = import_module("chat.migrations.0010_message_branches").LINK_EXISTING
    conversation = services.conversation_create(owner=make_user(), model="fake-echo")
    written = [
        Message.objects.create(conversation=conversation, role=role, content=role)
        for role in ("user", "assistant", "user", "assistant")
    ]
    with connection.cursor() as cursor:
        for statement in link_existing:
            cursor.execute(statement)
    conversation.refresh_from_db()
    assert conversation.current_leaf_id == written[-1].pk
    parents = [Message.objects.get(pk=m.pk).parent_id for m in written]
    assert parents == [None, *(m.pk for m in written[:-1])]
    assert [m.pk for m in selectors.branch_list(conversation=conversation).messages] == [m.pk for m in written]
