"""One way in: every entry point that can start a model answer goes through chat.admission, and nothing else can
start one."""

import inspect
import json
import uuid

import pytest
from channels.db import database_sync_to_async as db
from django.test import AsyncClient
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.routing import websocket_urlpatterns as account_sockets
from chat import admission, llm, quotas
from chat.generation import engine, protocol
from chat.models import Message
from chat.routing import websocket_urlpatterns as chat_sockets
from core.db import in_db_thread
from tests.chat.test_websocket import conversation_for, frames_until_done, open_socket
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)

# What a view's code calls when it starts an answer. A new entry point calling one of these must be driven below.
STARTS_AN_ANSWER = ("reply_start", "exchange_start", "engine.start")
DRIVEN = {
    "/v1/chat/completions",
    "/api/v1/conversations/<uuid:conversation_id>/messages/",
    "ws/chat/<uuid:conversation_id>/",
}


def _routes(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _view_source(callback) -> str:
    target = getattr(callback, "view_class", None) or getattr(callback, "consumer_class", None) or callback
    target = inspect.unwrap(target)
    try:
        return inspect.getsource(inspect.getmodule(target)) if inspect.isfunction(target) else inspect.getsource(target)
    except (OSError, TypeError):  # Django's own views (admin, static): not ours
        return ""


def test_every_entry_point_that_starts_an_answer_is_driven_through_the_admission():
    routes = list(_routes(get_resolver().url_patterns)) + list(_routes([*chat_sockets, *account_sockets]))
    assert len(routes) > 20, "the enumeration sees the whole URL configuration"
    starting = {
        "/" + route if not route.startswith("ws/") else route
        for route, view in routes
        if any(marker in _view_source(view) for marker in STARTS_AN_ANSWER)
    }
    starting = {route.replace("//", "/") for route in starting}
    # A function view's module is read whole: only the completions view in it starts an answer.
    starting.discard("/v1/models")
    assert starting == DRIVEN


@pytest.fixture
def watched(monkeypatch):
    """Every admission made and every generation started, in order."""
    seen: dict[str, list] = {"admitted": [], "started": []}
    real_admit, real_start = admission._admit, engine.start

    def admit(caller, request, open_):
        admitted = real_admit(caller, request, open_)
        seen["admitted"].append(admitted)
        return admitted

    def start(request):
        seen["started"].append(request.admission)
        return real_start(request)

    monkeypatch.setattr(admission, "_admit_in_db_thread", in_db_thread(admit))
    monkeypatch.setattr(engine, "start", start)
    return seen


async def post_json(path: str, body: dict, key: str):
    return await AsyncClient().post(
        path, json.dumps(body), content_type="application/json", headers={"Authorization": f"Bearer {key}"}
    )


def _went_through(seen: dict, user) -> None:
    assert len(seen["admitted"]) == 1
    assert len(seen["started"]) == 1
    assert seen["started"][0] is seen["admitted"][0], "the generation started from the admission it was given"
    assert seen["started"][0].genuine
    assert seen["started"][0].user.pk == user.pk
    assert seen["started"][0].hold.tokens > 0, "a quota hold was taken"


async def test_v1_completions_go_through_the_admission(fake_llm, watched):
    user = await db(make_user)()
    key = await db(make_key)(user)
    body = {"model": "fake-echo", "messages": [{"role": "user", "content": "admitted?"}]}
    response = await post_json("/v1/chat/completions", body, key)
    assert response.status_code == 200, response.content
    _went_through(watched, user)


async def test_rest_messages_go_through_the_admission(fake_llm, watched):
    conversation, key = await conversation_for()
    response = await post_json(f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "admitted?"}, key)
    assert response.status_code == 201, response.content
    _went_through(watched, conversation.owner)


async def test_websocket_sends_go_through_the_admission(fake_llm, watched):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "admitted?"})
    frames = await frames_until_done(socket)
    await socket.disconnect()
    assert frames[-1]["type"] == "done"
    _went_through(watched, conversation.owner)


async def test_a_refusal_at_the_gate_starts_nothing(fake_llm, watched):
    user = await db(make_user)()
    key = await db(make_key)(user, scopes=["read"])  # no chat scope
    body = {"model": "fake-echo", "messages": [{"role": "user", "content": "let me in"}]}
    response = await post_json("/v1/chat/completions", body, key)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert watched["started"] == []


async def test_a_generation_without_a_genuine_admission_is_refused(fake_llm):
    conversation, _ = await conversation_for()
    user = conversation.owner
    forged = admission.Admission(
        user=user,
        api_key=None,
        model=llm.model_config("fake-echo"),
        hold=quotas.Hold(user.pk, None, 10, 8),
        prompt=[{"role": "user", "content": "no gate"}],
        opened=None,
        seal=object(),
    )
    request = protocol.GenerationRequest(
        admission=forged, conversation_id=conversation.pk, message_id=uuid.uuid4(), prompt=forged.prompt
    )
    with pytest.raises(PermissionError):
        engine.start(request)
    assert engine.running_in(conversation.pk) is None
    assert await db(Message.objects.filter(conversation=conversation).count)() == 0
