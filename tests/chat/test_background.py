"""Chat work done in the background: titles (by the real worker process) and closing interrupted answers."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.utils import timezone

from chat import services
from chat.generation import finisher
from chat.models import Conversation, Message
from tests.chat.test_websocket import conversation_for, frames_until_done, open_socket
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_worker_titles_a_conversation_after_the_first_exchange(fake_llm, huey_worker):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "Plan a picnic"})
    await frames_until_done(socket)
    # Generated in the worker process, announced through Postgres NOTIFY to this process's socket.
    frame = await socket.receive_json_from(timeout=30)
    assert frame["type"] == "title"
    assert frame["conversation_id"] == str(conversation.pk)
    saved = await db(Conversation.objects.get)(pk=conversation.pk)
    assert saved.title == frame["title"] != ""
    await socket.disconnect()


def test_a_title_never_overwrites_one_the_user_chose():
    conversation = Conversation.objects.create(owner=make_user(), model="m", title="Mine")
    assert services.title_set(conversation_id=conversation.pk, title="Generated") is False
    conversation.refresh_from_db()
    assert conversation.title == "Mine"


def test_an_answer_whose_process_died_is_closed_with_its_text_kept():
    user = make_user()
    conversation = Conversation.objects.create(owner=user, model="m")
    stuck = Message.objects.create(conversation=conversation, role="assistant", status="streaming", content="half an")
    fresh = Message.objects.create(conversation=conversation, role="assistant", status="streaming", content="live")
    Message.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert finisher.interrupted_messages_reap() == 1
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.status, stuck.content) == (Message.Status.FAILED, "half an")
    assert "interrupted" in stuck.error
    assert fresh.status == Message.Status.STREAMING


def test_the_reaper_closes_at_once_an_answer_whose_writer_lost_its_lease_and_spares_a_live_writers():
    from core import liveness

    conversation = Conversation.objects.create(owner=make_user(), model="m")
    dead = Message.objects.create(
        conversation=conversation, role="assistant", status="streaming", content="cut", writer="0" * 32
    )
    live = Message.objects.create(
        conversation=conversation, role="assistant", status="pending", writer=liveness.PROCESS_ID
    )
    young = Message.objects.create(conversation=conversation, role="assistant", status="pending", writer="1" * 32)
    a_while_ago = timezone.now() - timedelta(seconds=liveness.lease_seconds() + 5)
    Message.objects.filter(pk__in=[dead.pk, live.pk]).update(created_at=a_while_ago)
    liveness._renew()  # this process's lease, as a running web process keeps it
    assert finisher.interrupted_messages_reap() == 1
    for message in (dead, live, young):
        message.refresh_from_db()
    assert (dead.status, dead.content) == (Message.Status.FAILED, "cut")
    assert live.status == Message.Status.PENDING, "its writer is alive"
    assert young.status == Message.Status.PENDING, "too young to judge: its writer may not have renewed yet"


def test_generated_titles_are_cleaned_and_kept_short():
    from chat.prompts import clean_title

    assert clean_title('"Title: Picnic plans."\nmore text') == "Picnic plans"
    long = "The moon is a celestial body that orbits the Earth, making it an important planet"
    assert clean_title(long) == "The moon is a celestial body that orbits"
    assert clean_title("   ") == ""
