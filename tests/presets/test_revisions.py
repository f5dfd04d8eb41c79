"""A conversation keeps the preset revision it started with: editing the preset changes new conversations only."""

import pytest
from channels.db import database_sync_to_async as db

from chat import services as chat_services
from chat.models import Conversation
from tests.chat.test_websocket import frames_until_done, open_socket
from tests.factories import make_key, make_user, session_client
from tests.presets.builders import make_preset

pytestmark = pytest.mark.django_db(transaction=True)


def system_prompt_sent(fake_llm, question: str) -> str:
    asked = [r for r in fake_llm.requests if r.get("messages") and r["messages"][-1].get("content") == question]
    return asked[-1]["messages"][0]["content"]


def send(client, conversation_id: str, text: str) -> dict:
    response = client.post(f"/api/v1/conversations/{conversation_id}/messages/", {"content": text}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_editing_a_preset_leaves_old_conversations_on_their_revision(fake_llm):
    owner = make_user()
    make_preset(owner, "Persona", system_prompt="You are Alpha, helping {username}.")
    client = session_client(owner)
    old = client.post("/api/v1/conversations/", {"preset": "persona"}, format="json").json()
    assert old["preset"]["revision"] == 1
    send(client, old["id"], "first question")
    assert "You are Alpha" in system_prompt_sent(fake_llm, "first question")

    edited = client.patch("/api/v1/presets/persona/", {"system_prompt": "You are Beta."}, format="json")
    assert edited.json()["current"]["number"] == 2

    send(client, old["id"], "second question")
    assert "You are Alpha" in system_prompt_sent(fake_llm, "second question"), "the old conversation keeps r1"
    new = client.post("/api/v1/conversations/", {"preset": "persona"}, format="json").json()
    assert new["preset"]["revision"] == 2
    send(client, new["id"], "third question")
    assert "You are Beta." in system_prompt_sent(fake_llm, "third question")
    assert "Alpha" not in system_prompt_sent(fake_llm, "third question")


async def test_the_websocket_takes_a_preset_on_the_first_message_and_keeps_it(fake_llm):
    @db
    def setup():
        user = make_user()
        make_preset(user, "Other")
        return chat_services.conversation_create(owner=user), make_key(user)

    conversation, key = await setup()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "hello there", "preset": "support"})
    frames = await frames_until_done(socket)
    assert frames[-1]["status"] == "complete"
    assert "customer-support agent" in system_prompt_sent(fake_llm, "hello there")
    saved = await db(Conversation.objects.select_related("preset_revision__preset").get)(pk=conversation.pk)
    assert saved.preset_revision.preset.slug == "support"

    await socket.send_json_to({"type": "send", "content": "again", "preset": "other"})
    refused = await socket.receive_json_from(timeout=5)
    assert refused["type"] == "error"
    assert refused["code"] == "preset_fixed"
    await socket.send_json_to({"type": "send", "content": "again please", "preset": "support"})
    assert (await frames_until_done(socket))[-1]["status"] == "complete"
    await socket.disconnect()


def test_a_conversation_whose_preset_is_unshared_stops_answering(fake_llm):
    owner, other = make_user(), make_user()
    make_preset(owner, "Shared", visibility="everyone")
    client = session_client(other)
    conversation = client.post("/api/v1/conversations/", {"preset": "shared"}, format="json").json()
    session_client(owner).patch("/api/v1/presets/shared/", {"visibility": "private"}, format="json")
    refused = client.post(f"/api/v1/conversations/{conversation['id']}/messages/", {"content": "hi"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "preset_unavailable"
