"""Events through the channel layer on Valkey: from any process to the websocket clients of every web process."""

import asyncio
import json
import threading
import time

import pytest
import websockets
from channels.db import database_sync_to_async as db
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client

from accounts.models import User
from core.notifications import notify_user
from genaisite.asgi import application
from tests.conftest import BASE_DIR, manage_py
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in_cookie(username: str) -> tuple[int, bytes]:
    user = User.objects.create_user(username=username, password="pw-not-used-here")
    client = Client()
    client.force_login(user)
    return user.pk, f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_events_socket(cookie: bytes | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


async def publish_from_another_process(env: dict, user_id: int, event: dict) -> None:
    code = f"from core.notifications import notify_user; notify_user({user_id}, {event!r})"
    process = await asyncio.create_subprocess_exec(*manage_py("shell", "-c", code), env=env, cwd=BASE_DIR)
    assert await process.wait() == 0


async def test_an_event_from_another_process_reaches_a_websocket_client(subprocess_env):
    user_id, cookie = await db(signed_in_cookie)("listener")
    socket = await open_events_socket(cookie)
    connected, _ = await socket.connect()
    assert connected
    event = {"type": "document.progress", "document": 7, "progress": 40}
    await publish_from_another_process(subprocess_env, user_id, event)
    assert await socket.receive_json_from(timeout=10) == event
    await socket.disconnect()


async def test_a_large_event_arrives_whole(subprocess_env):
    user_id, cookie = await db(signed_in_cookie)("bulky")
    socket = await open_events_socket(cookie)
    await socket.connect()
    event = {"type": "bulk", "text": "x" * 100_000}  # Postgres NOTIFY, the layer before, refused 8000 bytes
    await publish_from_another_process(subprocess_env, user_id, event)
    assert await socket.receive_json_from(timeout=10) == event
    await socket.disconnect()


async def test_an_event_leaves_when_its_transaction_commits_and_never_after_a_rollback():
    user_id, cookie = await db(signed_in_cookie)("committer")
    socket = await open_events_socket(cookie)
    await socket.connect()

    class Rollback(Exception):
        pass

    def rolled_back() -> None:
        try:
            with transaction.atomic():
                notify_user(user_id, {"n": "rolled back"})
                raise Rollback
        except Rollback:
            pass

    await db(rolled_back)()
    inside, release = threading.Event(), threading.Event()

    def committed_when_released() -> None:
        with transaction.atomic():
            notify_user(user_id, {"n": "committed"})
            inside.set()
            release.wait(10)

    committing = asyncio.create_task(db(committed_when_released)())
    assert await asyncio.to_thread(inside.wait, 10)
    assert await socket.receive_nothing(timeout=0.5), "an event must not precede its commit"
    release.set()
    await committing
    assert await socket.receive_json_from(timeout=5) == {"n": "committed"}
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_a_socket_served_by_another_web_process_gets_the_events_sent_here(daphne_server):
    user = await db(make_user)()
    key = await db(make_key)(user)
    app = await asyncio.to_thread(daphne_server, settings.LLM_MODELS)
    url = f"{app.replace('http://', 'ws://')}/ws/events/"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}", "Origin": app}) as socket:
        sent_at = time.time()
        await db(notify_user)(user.pk, {"type": "ping", "sent_at": sent_at})
        event = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert event == {"type": "ping", "sent_at": sent_at}


async def test_it_refuses_an_anonymous_socket():
    socket = await open_events_socket(None)
    connected, code = await socket.connect()
    assert connected is False
    assert code == 4401


async def test_it_refuses_a_foreign_origin():
    _, cookie = await db(signed_in_cookie)("origin-check")
    socket = WebsocketCommunicator(
        application, "/ws/events/", headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)]
    )
    connected, _ = await socket.connect()
    assert connected is False


async def test_events_published_in_a_web_process_reach_its_own_sockets():
    user_id, cookie = await db(signed_in_cookie)("local")
    socket = await open_events_socket(cookie)
    await socket.connect()
    await get_channel_layer().group_send(f"user.{user_id}", {"type": "user.event", "event": {"local": True}})
    assert await socket.receive_json_from(timeout=5) == {"local": True}
    await socket.disconnect()
