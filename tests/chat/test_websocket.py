"""The chat websocket against a scripted upstream: streaming, stop, reconnect, tabs, faults, concurrency."""

import asyncio
import time

import pytest
from channels.db import database_sync_to_async as db
from channels.testing import WebsocketCommunicator

from accounts.models import Role
from chat import services
from chat.models import Conversation, DailyUsage, Message
from genaisite.asgi import application
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@db
def conversation_for(role: str = Role.MEMBER, model: str = "fake-echo") -> tuple[Conversation, str]:
    user = make_user(role)
    return services.conversation_create(owner=user, model=model), make_key(user, scopes=["chat", "read"])


async def open_socket(conversation: Conversation, key: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"authorization", f"Bearer {key}".encode())],
    )
    connected, code = await socket.connect()
    assert connected, code
    history = await socket.receive_json_from(timeout=5)
    assert history["type"] == "history"
    return socket


async def frames_until_done(socket: WebsocketCommunicator, seconds: float = 10) -> list[dict]:
    frames = []
    deadline = time.monotonic() + seconds
    while True:
        frame = await socket.receive_json_from(timeout=max(0.1, deadline - time.monotonic()))
        frames.append(frame)
        if frame["type"] == "done":
            return frames


def streamed_text(frames: list[dict]) -> str:
    text = ""
    for frame in frames:
        if frame["type"] == "delta":
            assert frame["offset"] == len(text), "deltas must arrive in order, without gaps"
            text += frame["text"]
    return text


async def test_a_message_streams_token_by_token_and_is_saved(fake_llm):
    fake_llm.tokens_per_second = 20  # tokens further apart than the coalescing window: one delta each
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "alpha please"})
    frames = await frames_until_done(socket)
    assert frames[0]["type"] == "started"
    assert frames[0]["user_message"]["content"] == "alpha please"
    deltas = [frame for frame in frames if frame["type"] == "delta"]
    # A delta per token, give or take: the PII guard holds back a digit glued to a word until the next word.
    assert len(deltas) >= 7
    assert max(len(delta["text"]) for delta in deltas) <= len("alpha:0 alpha:")
    done = frames[-1]
    assert done["status"] == "complete"
    assert done["content"] == streamed_text(frames) == "".join(f"alpha:{i} " for i in range(8))
    assert done["usage"]["completion_tokens"] == 8
    saved = await db(Message.objects.get)(pk=done["message_id"])
    assert saved.status == Message.Status.COMPLETE
    assert saved.content == done["content"]
    assert saved.completion_tokens == 8
    assert saved.time_to_first_token_ms is not None
    usage = await db(DailyUsage.objects.get)(user_id=conversation.owner_id)
    assert usage.completion_tokens == 8
    assert usage.requests == 1
    await socket.disconnect()


async def test_tokens_that_arrive_together_travel_in_fewer_frames_in_order(fake_llm, settings):
    settings.LLM_MODELS = [m | {"max_output_tokens": 200} for m in settings.LLM_MODELS]
    fake_llm.tokens_per_second = 400  # a token every 2.5 ms: ten of them per coalescing window
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "burst"})
    frames = await frames_until_done(socket)
    deltas = [frame for frame in frames if frame["type"] == "delta"]
    done = frames[-1]
    assert done["content"] == streamed_text(frames) == "".join(f"burst:{i} " for i in range(200))
    assert done["usage"]["completion_tokens"] == 200
    assert len(deltas) < 200 / 3, f"{len(deltas)} frames for 200 tokens: not coalesced"
    assert len(deltas) > 5, "coalesced into a few frames, yet still streamed"
    await socket.disconnect()


async def test_the_history_reloads_after_a_refresh(fake_llm):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "first"})
    done = (await frames_until_done(socket))[-1]
    await socket.disconnect()
    again = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"authorization", f"Bearer {key}".encode())],
    )
    await again.connect()
    history = await again.receive_json_from()
    assert [(m["role"], m["status"]) for m in history["messages"]] == [("user", "complete"), ("assistant", "complete")]
    assert history["messages"][1]["content"] == done["content"]
    await again.disconnect()


async def test_stop_takes_effect_at_once_and_keeps_the_partial_answer(fake_llm, settings):
    fake_llm.tokens_per_second = 20
    settings.LLM_MODELS = [m | {"max_output_tokens": 200} for m in settings.LLM_MODELS]
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "slow"})
    frames = [await socket.receive_json_from(timeout=5) for _ in range(4)]  # started + 3 deltas
    stop_sent = time.monotonic()
    await socket.send_json_to({"type": "stop"})
    frames += await frames_until_done(socket)
    assert time.monotonic() - stop_sent < 0.5
    done = frames[-1]
    assert done["status"] == "stopped"
    assert done["content"] == streamed_text(frames)
    assert 3 <= len(done["content"].split()) < 200
    saved = await db(Message.objects.get)(pk=done["message_id"])
    assert saved.status == Message.Status.STOPPED
    assert saved.content == done["content"]
    await socket.disconnect()


async def test_a_closed_tab_does_not_kill_the_answer_and_a_reconnect_catches_up(fake_llm, settings):
    fake_llm.tokens_per_second = 40
    settings.LLM_MODELS = [m | {"max_output_tokens": 40} for m in settings.LLM_MODELS]
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "persist"})
    started = await socket.receive_json_from(timeout=5)
    await socket.receive_json_from(timeout=5)  # one delta, then the tab closes
    await socket.disconnect()
    await asyncio.sleep(0.3)

    again = await open_socket_raw(conversation, key)
    history = await again.receive_json_from(timeout=5)
    answer = history["messages"][-1]
    assert answer["id"] == started["message"]["id"]
    assert answer["status"] == "streaming"
    text = answer["content"]
    assert text, "the reconnecting client gets what was produced so far"
    frames = await frames_until_done(again)
    for frame in frames:  # then the rest, live; offsets say where each piece goes
        if frame["type"] == "delta" and frame["offset"] >= len(text):
            assert frame["offset"] == len(text)
            text += frame["text"]
    assert text == frames[-1]["content"] == "".join(f"persist:{i} " for i in range(40))
    saved = await db(Message.objects.get)(pk=answer["id"])
    assert saved.status == Message.Status.COMPLETE
    await again.disconnect()


async def open_socket_raw(conversation: Conversation, key: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"authorization", f"Bearer {key}".encode())],
    )
    assert (await socket.connect())[0]
    return socket


async def test_several_tabs_see_the_same_stream(fake_llm):
    conversation, key = await conversation_for()
    first, second = await open_socket(conversation, key), await open_socket(conversation, key)
    await first.send_json_to({"type": "send", "content": "shared"})
    seen_first, seen_second = await frames_until_done(first), await frames_until_done(second)
    assert streamed_text(seen_first) == streamed_text(seen_second) == seen_first[-1]["content"]
    await first.disconnect()
    await second.disconnect()


@pytest.mark.parametrize(
    ("model", "partial", "code"),
    [
        ("fake-500", "", "upstream_error"),
        ("fake-reset", "f:0 f:1 f:2 ", None),
        ("fake-malformed", "f:0 f:1 ", "upstream_malformed"),
        ("fake-stall", "f:0 f:1 ", "upstream_deadline"),
        # The stream ends without a finish reason: cut (as a server that drops a request for another does).
        ("fake-cut", "f:0 f:1 ", "upstream_cut"),
        # Finished, but with no text at all: never saved as a complete, empty answer.
        ("fake-empty", "", "upstream_empty"),
    ],
)
async def test_an_upstream_fault_saves_a_failed_message_and_sends_an_error_frame(
    fake_llm, settings, model, partial, code
):
    settings.LLM_DEADLINE = 1.5
    conversation, key = await conversation_for(model=model)
    socket = await open_socket(conversation, key)
    sent = time.monotonic()
    await socket.send_json_to({"type": "send", "content": "f"})
    frames = await frames_until_done(socket, seconds=5)
    errors = [frame for frame in frames if frame["type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["message"]
    if code:
        assert errors[0]["code"] == code
    if model != "fake-stall":
        assert time.monotonic() - sent < 2.0, "an upstream failure must reach the client within 2 s"
    done = frames[-1]
    assert done["status"] == "failed"
    assert done["content"] == streamed_text(frames) == partial  # no token lost
    saved = await db(Message.objects.get)(pk=done["message_id"])
    assert (saved.status, saved.content) == (Message.Status.FAILED, partial)
    assert saved.error == errors[0]["message"]
    await socket.disconnect()


async def test_twenty_simultaneous_streams_do_not_cross_talk(fake_llm, settings):
    fake_llm.tokens_per_second = 100
    settings.LLM_MODELS = [m | {"max_output_tokens": 30} for m in settings.LLM_MODELS]
    pairs = [await conversation_for() for _ in range(20)]
    sockets = [await open_socket(conversation, key) for conversation, key in pairs]
    for index, socket in enumerate(sockets):
        await socket.send_json_to({"type": "send", "content": f"stream{index:02d}"})
    results = await asyncio.gather(*(frames_until_done(socket, seconds=30) for socket in sockets))
    for index, frames in enumerate(results):
        expected = "".join(f"stream{index:02d}:{i} " for i in range(30))
        assert streamed_text(frames) == expected
        saved = await db(Message.objects.get)(pk=frames[-1]["message_id"])
        assert (saved.status, saved.content) == (Message.Status.COMPLETE, expected)
    for socket in sockets:
        await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ('["a list"]', "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "send", "content": "   "}', "empty_message"),
        ('{"type": "send", "content": "' + "x" * 40000 + '"}', "message_too_long"),
        ('{"type": "send", "content": "hi", "model": "nope"}', "model_not_found"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(fake_llm, frame, code):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_to(text_data=frame)
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error"
    assert error["code"] == code
    assert error["message"]
    await socket.send_json_to({"type": "send", "content": "still here"})
    assert (await frames_until_done(socket))[-1]["status"] == "complete"
    await socket.disconnect()


async def test_a_second_message_while_answering_is_refused(fake_llm, settings):
    fake_llm.tokens_per_second = 20
    settings.LLM_MODELS = [m | {"max_output_tokens": 100} for m in settings.LLM_MODELS]
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "one"})
    await socket.receive_json_from(timeout=5)
    await socket.send_json_to({"type": "send", "content": "two"})
    while (frame := await socket.receive_json_from(timeout=5))["type"] != "error":
        pass
    assert frame["code"] == "busy"
    await socket.send_json_to({"type": "stop"})
    await frames_until_done(socket)
    await socket.disconnect()


async def test_another_users_conversation_is_not_found(fake_llm):
    conversation, _ = await conversation_for()
    _, stranger_key = await conversation_for()
    socket = WebsocketCommunicator(
        application,
        f"/ws/chat/{conversation.pk}/",
        headers=[(b"origin", b"http://127.0.0.1"), (b"authorization", f"Bearer {stranger_key}".encode())],
    )
    assert await socket.connect() == (False, 4404)


async def test_an_anonymous_socket_is_refused(fake_llm):
    conversation, _ = await conversation_for()
    socket = WebsocketCommunicator(
        application, f"/ws/chat/{conversation.pk}/", headers=[(b"origin", b"http://127.0.0.1")]
    )
    assert await socket.connect() == (False, 4401)
