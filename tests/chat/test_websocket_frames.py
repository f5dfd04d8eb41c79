"""Chat websocket frames go through the HTTP APIs' input checks: a bad frame gets an error frame naming the field,
and the socket stays open and keeps working."""

import json

import pytest

from tests.chat.test_websocket import conversation_for, frames_until_done, open_socket

pytestmark = pytest.mark.django_db(transaction=True)


def deep_frame() -> str:
    extra: list = []
    for _ in range(40):
        extra = [extra]
    return json.dumps({"type": "send", "content": "hi", "extra": extra})


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        (json.dumps({"type": "send", "content": "a\x00b"}), "nul_character", "'content'"),
        (json.dumps({"type": "send", "content": "half \ud800"}), "lone_surrogate", "'content'"),
        (json.dumps({"type": "send", "content": "hi", "x\x00": 1}), "nul_character", "'x\\u0000'"),
        (deep_frame(), "too_deep", "'extra" + "[0]" * 31 + "'"),
        ("[" * 100_000, "too_deep", "The frame"),
        ('{"type": "send", "content": NaN}', "invalid_json", "The frame"),
        ("{", "invalid_json", "The frame"),
    ],
)
async def test_a_frame_the_checks_refuse_gets_an_error_frame_naming_the_field(fake_llm, frame, code, field):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_to(text_data=frame)
    error = await socket.receive_json_from(timeout=5)
    assert (error["type"], error["code"]) == ("error", code)
    assert field in error["message"]
    named = field.strip("'") if field.startswith("'") else None  # "The frame": the whole frame, no one field
    assert error.get("field") == named
    await socket.send_json_to({"type": "send", "content": "still here"})
    assert (await frames_until_done(socket))[-1]["status"] == "complete"
    await socket.disconnect()


async def test_a_model_that_is_not_a_name_is_refused_naming_the_field(fake_llm):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "hi", "model": {"name": "fake-echo"}})
    error = await socket.receive_json_from(timeout=5)
    assert (error["type"], error["code"], error["field"]) == ("error", "invalid_model", "model")
    await socket.disconnect()
