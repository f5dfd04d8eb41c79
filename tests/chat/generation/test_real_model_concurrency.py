"""Many people asking at the same moment, on the real local model (llama-server with parallel slots).

The whole stack as `make run` runs it: Daphne, a Huey worker, the embedding service and llama-server. Eight answers
start at once over the websocket, the REST API and /v1 (streamed and not), while a title is generated in the
background and /readyz is polled. None may be cut, empty or reported complete when it is not.
"""

import asyncio
import json

import httpx
import openai
import pytest
import websockets
from channels.db import database_sync_to_async as db
from django.conf import settings

from accounts.models import Role
from chat import services
from chat.models import Conversation, Message
from genaisite import health
from tests.conftest import wait_until
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)

QUESTIONS = [
    "What is the capital of France?",
    "Name three colours of the rainbow.",
    "Why is the sky blue?",
    "Write one sentence about cats.",
    "What do bees make?",
    "How many legs does a spider have?",
    "Say something kind.",
    "What is rain made of?",
]
MAX_TOKENS = 48


@db
def people(count: int) -> list[tuple[object, str]]:
    users = [make_user(Role.MEMBER) for _ in range(count)]
    return [(user, make_key(user, scopes=["chat", "read"])) for user in users]


@db
def conversation_for(user, *, title: str = "") -> Conversation:
    return services.conversation_create(owner=user, model=settings.LLM_MODEL, title=title)


@db
def conversation_awaiting_a_title(user) -> Conversation:
    conversation = services.conversation_create(owner=user, model=settings.LLM_MODEL)
    Message.objects.create(conversation=conversation, role="user", content="What colour are bananas?")
    Message.objects.create(
        conversation=conversation, role="assistant", content="Bananas are yellow when ripe.", status="complete"
    )
    return conversation


async def over_websocket(app: str, conversation: Conversation, key: str, question: str) -> dict:
    url = f"{app.replace('http://', 'ws://')}/ws/chat/{conversation.pk}/"
    headers = {"Authorization": f"Bearer {key}", "Origin": app}
    async with websockets.connect(url, additional_headers=headers) as socket:
        assert json.loads(await socket.recv())["type"] == "history"
        await socket.send(json.dumps({"type": "send", "content": question}))
        text, errors = "", []
        while True:
            frame = json.loads(await asyncio.wait_for(socket.recv(), 90))
            if frame["type"] == "delta":
                text += frame["text"]
            elif frame["type"] == "error":
                errors.append(frame)
            elif frame["type"] == "done":
                return {"path": "websocket", "status": frame["status"], "content": frame["content"], "text": text,
                        "errors": errors, "message_id": frame["message_id"]}  # fmt: skip


async def over_rest(client: httpx.AsyncClient, conversation: Conversation, key: str, question: str) -> dict:
    response = await client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/",
        json={"content": question},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"path": "rest", "status": body["status"], "content": body["content"], "message_id": body["id"]}


async def over_v1(app: str, key: str, question: str, *, stream: bool) -> dict:
    client = openai.AsyncOpenAI(base_url=f"{app}/v1", api_key=key, max_retries=0, timeout=90)
    messages = [{"role": "user", "content": question}]
    if not stream:
        completion = await client.chat.completions.create(
            model=settings.LLM_MODEL, messages=messages, max_tokens=MAX_TOKENS
        )
        choice = completion.choices[0]
        return {"path": "/v1", "status": choice.finish_reason, "content": choice.message.content or ""}
    text, finish_reason = "", None
    async for chunk in await client.chat.completions.create(
        model=settings.LLM_MODEL, messages=messages, max_tokens=MAX_TOKENS, stream=True
    ):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish_reason = chunk.choices[0].finish_reason or finish_reason
    return {"path": "/v1 stream", "status": finish_reason, "content": text}


async def poll_readiness(client: httpx.AsyncClient, until: asyncio.Event) -> list[int]:
    statuses = []
    while not until.is_set():
        statuses.append((await client.get("/readyz", timeout=10)).status_code)
        await asyncio.sleep(0.2)
    return statuses


async def test_eight_people_asking_at_once_all_get_whole_answers_and_readiness_stays_up(
    local_llm, huey_worker, daphne_server
):
    app = await asyncio.to_thread(daphne_server, settings.LLM_MODELS)
    assert await asyncio.to_thread(wait_until, lambda: health._queue()[0], timeout=60), "no worker heartbeat"
    askers = await people(8)
    sockets = [(await conversation_for(user, title="socket"), key) for user, key in askers[:3]]
    rests = [(await conversation_for(user), key) for user, key in askers[3:6]]  # untitled: titles follow
    titled_later = await conversation_awaiting_a_title(askers[0][0])

    from chat.tasks import conversation_title_generate

    async with httpx.AsyncClient(base_url=app, timeout=90) as client:
        done = asyncio.Event()
        readiness = asyncio.create_task(poll_readiness(client, done))
        await asyncio.sleep(0.5)
        conversation_title_generate(str(titled_later.pk))  # a background model call amid the answers
        answers = await asyncio.gather(
            *(over_websocket(app, c, k, QUESTIONS[i]) for i, (c, k) in enumerate(sockets)),
            *(over_rest(client, c, k, QUESTIONS[3 + i]) for i, (c, k) in enumerate(rests)),
            over_v1(app, askers[6][1], QUESTIONS[6], stream=True),
            over_v1(app, askers[7][1], QUESTIONS[7], stream=False),
        )
        done.set()
        statuses = await readiness

    assert len(answers) == 8
    for answer in answers:
        assert answer["content"].strip(), f"an empty answer reached a user: {answer}"
        if answer["path"].startswith("/v1"):
            assert answer["status"] in ("stop", "length"), answer
        else:
            assert answer["status"] == "complete", answer
        if answer["path"] == "websocket":
            assert answer["errors"] == []
            assert answer["text"] == answer["content"], "what streamed must be what was saved"
    saved = await db(list)(Message.objects.filter(role="assistant").values("status", "content"))
    assert all(row["status"] == "complete" and row["content"].strip() for row in saved), saved
    assert statuses, "/readyz was never polled"
    assert set(statuses) == {200}, f"/readyz answered {statuses} while answers ran"

    def titled() -> bool:
        return Conversation.objects.filter(pk__in=[titled_later.pk, *(c.pk for c, _ in rests)], title="").count() == 0

    assert await asyncio.to_thread(wait_until, titled, timeout=60), "the background titles never arrived"
