"""Links in a message: read through the guard, given to the model as cited sources, failures reported."""

import pytest
from channels.db import database_sync_to_async as db
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import Role
from chat import services
from genaisite.asgi import application
from tests.chat.test_websocket import frames_until_done, open_socket
from tests.factories import make_key, make_user, session_client
from tests.web_server import WebServer, html

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def site(settings):
    with WebServer() as server:
        settings.WEB_FETCH_ALLOWED_HOSTS = [f"127.0.0.1:{server.port}"]
        server.routes["/article"] = html("Northwind Quarterly", "Northwind shipped 12,000 kayaks in March.")
        yield server


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def chat(role: str, content: str) -> list[dict]:
    user = await db(make_user)(role)
    conversation = await db(services.conversation_create)(owner=user, model="fake-cite", documents_mode="none")
    if role == Role.VIEWER:  # viewers have no API keys: they use the browser's session
        socket = WebsocketCommunicator(
            application,
            f"/ws/chat/{conversation.pk}/",
            headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", await db(_session_cookie)(user))],
        )
        assert (await socket.connect())[0]
        assert (await socket.receive_json_from())["type"] == "history"
    else:
        socket = await open_socket(conversation, await db(make_key)(user))
    await socket.send_json_to({"type": "send", "content": content})
    frames = await frames_until_done(socket, seconds=30)
    await socket.disconnect()
    return frames


async def test_a_linked_page_is_read_given_as_data_and_cited(fake_llm, site):
    url = site.url("/article")
    frames = await chat(Role.MEMBER, f"What does {url} say about kayaks?")
    web_frame = next(frame for frame in frames if frame["type"] == "web")
    assert web_frame["pages"] == [{"url": url, "title": "Northwind Quarterly", "cached": False}]
    assert web_frame["unusable"] == []
    context = [r for r in fake_llm.requests if r["model"] == "fake-cite"][-1]["messages"][-2]["content"]
    assert f'<source id="1" from="Northwind Quarterly ({url})">' in context
    assert "untrusted DATA" in context
    sources = next(frame for frame in frames if frame["type"] == "sources")["sources"]
    assert sources[0]["kind"] == "web"
    assert (sources[0]["url"], sources[0]["title"]) == (url, "Northwind Quarterly")
    assert frames[-1]["status"] == "complete"


async def test_an_unusable_link_is_reported_without_failing_the_answer(fake_llm, site):
    frames = await chat(Role.MEMBER, "Read http://10.0.0.1/secret and tell me.")
    unusable = next(frame for frame in frames if frame["type"] == "web")["unusable"]
    assert unusable[0]["url"] == "http://10.0.0.1/secret"
    assert unusable[0]["reason"] == "blocked"
    assert frames[-1]["status"] == "complete"
    context = [r for r in fake_llm.requests if r["model"] == "fake-cite"][-1]["messages"][-2]["content"]
    assert "could not be read" in context


async def test_web_access_follows_the_role_policy(fake_llm, site):
    frames = await chat(Role.VIEWER, f"Summarise {site.url('/article')}")
    unusable = next(frame for frame in frames if frame["type"] == "web")["unusable"]
    assert unusable[0]["message"] == "Your role does not allow reading web pages."
    assert site.requests == []  # nothing was fetched for a role without web access
    assert frames[-1]["status"] == "complete"


def test_the_fetch_endpoint_returns_title_and_text(site):
    response = session_client(make_user()).post("/api/v1/web/fetch/", {"url": site.url("/article")}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "Northwind Quarterly"
    assert "12,000 kayaks" in body["text"]


def test_the_fetch_endpoint_explains_refusals(site):
    member, viewer = make_user(), make_user(Role.VIEWER)
    blocked = session_client(member).post("/api/v1/web/fetch/", {"url": "http://169.254.169.254/"}, format="json")
    assert blocked.status_code == 400
    assert blocked.json()["error"]["code"] == "blocked"
    not_allowed = session_client(viewer).post("/api/v1/web/fetch/", {"url": site.url("/article")}, format="json")
    assert not_allowed.status_code == 403
