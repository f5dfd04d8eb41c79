"""Websocket authentication: session or API key; suspension closes open sockets."""

import pytest
from channels.db import database_sync_to_async as db
from channels.testing import WebsocketCommunicator

from accounts import services
from accounts.models import ApiKey, Role
from genaisite.asgi import application
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def socket_with_key(secret: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", f"Bearer {secret}".encode())]
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


async def test_an_api_key_opens_a_socket():
    user = await db(make_user)()
    secret = await db(make_key)(user)
    socket = socket_with_key(secret)
    connected, _ = await socket.connect()
    assert connected
    await socket.disconnect()


async def test_a_revoked_key_cannot_open_a_socket():
    user = await db(make_user)()
    secret = await db(make_key)(user)
    key = await db(ApiKey.objects.get)(user=user)
    await db(services.api_key_revoke)(api_key=key, actor=user)
    connected, code = await socket_with_key(secret).connect()
    assert connected is False
    assert code == 4401


async def test_suspending_a_user_closes_their_open_sockets():
    user = await db(make_user)()
    admin = await db(make_user)(Role.ADMIN)
    socket = socket_with_key(await db(make_key)(user))
    assert (await socket.connect())[0]
    await db(services.user_suspend)(actor=admin, user=user, reason="abuse")
    closed = await socket.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4403}


async def test_the_events_socket_answers_a_bad_frame_with_an_error_frame_and_stays_open():
    user = await db(make_user)()
    socket = socket_with_key(await db(make_key)(user))
    connected, _ = await socket.connect()
    assert connected
    await socket.send_to(text_data="not json")
    assert (await socket.receive_json_from(timeout=5))["code"] == "invalid_json"
    await socket.send_to(text_data='{"a": {"b\\u0000": 1}}')
    error = await socket.receive_json_from(timeout=5)
    assert error == {"type": "error", "code": "nul_character", "message": error["message"]}
    assert "'a.b\\u0000'" in error["message"]
    await socket.send_to(text_data='{"type": "ping"}')  # read-only: a well-formed frame is ignored
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()
