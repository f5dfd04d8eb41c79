"""Token quotas and rate limits, enforced at every entry point: /v1, the REST API, the websocket and pages."""

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from channels.db import database_sync_to_async as db
from django.db.models import Sum

from accounts import ratelimits
from accounts.models import PolicyOverride
from chat import admission, message_rows, quotas, services
from chat.generation import finisher, protocol
from chat.models import DailyUsage, Message, TokenQuota
from chat.openai_compat import views as openai_views
from chat.openai_compat.request import parse_completion
from core.db import in_db_thread
from tests.chat.test_websocket import conversation_for, open_socket
from tests.conftest import wait_until
from tests.factories import key_client, make_key, make_user, session_client

pytestmark = pytest.mark.django_db(transaction=True)


def limit_user(user, **limits) -> None:
    PolicyOverride.objects.update_or_create(user=user, defaults=limits)


def completion(client: httpx.Client, key: str, model: str = "fake-usage") -> httpx.Response:
    return client.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": "spend"}], "max_tokens": 8},
    )


def test_fifty_concurrent_requests_at_the_edge_of_the_quota_never_overspend(daphne_server, fake_llm, settings):
    fake_llm.tokens_per_second = 200  # answers take a moment, so the requests really overlap
    url = daphne_server(settings.LLM_MODELS)
    user = make_user()
    key = make_key(user)
    prompt = [{"role": "user", "content": "spend"}]
    hold = quotas.prompt_bound(services.llm.model_config("fake-usage"), prompt, grounded=False) + 8
    budget = 7 * hold + hold // 2  # room for seven holds, not eight
    limit_user(user, daily_token_budget=budget, requests_per_minute=1000)

    with httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: completion(client, key), range(50)))

    statuses = [response.status_code for response in responses]
    refused = [response for response in responses if response.status_code == 429]
    assert statuses.count(200) + len(refused) == 50
    assert 1 <= statuses.count(200) <= 7, statuses
    for response in refused:
        assert response.json()["error"]["code"] == "quota_exceeded"
        assert response.json()["error"]["type"] == "insufficient_quota"
        assert response.headers["x-should-retry"] == "false", "the openai SDK must not retry a spent budget"
        assert 0 < int(response.headers["Retry-After"]) <= 86400
        assert "resets at" in response.json()["error"]["message"]
    quota = TokenQuota.objects.get(user=user)
    assert wait_until(lambda: TokenQuota.objects.get(user=user).reserved == 0, timeout=5), "every hold was settled"
    quota.refresh_from_db()
    spent = DailyUsage.objects.filter(user=user).aggregate(total=Sum("prompt_tokens") + Sum("completion_tokens"))
    assert quota.used == spent["total"] <= budget
    assert fake_llm.completion_calls == statuses.count(200), "refused requests never reached the model"


def test_a_hold_is_settled_to_the_real_usage_and_shown_as_remaining(fake_llm):
    user = make_user()
    limit_user(user, daily_token_budget=1000)
    client = session_client(user)
    conversation = client.post("/api/v1/conversations/", {"model": "fake-usage"}, format="json").json()
    answer = client.post(f"/api/v1/conversations/{conversation['id']}/messages/", {"content": "hi"}, format="json")
    assert answer.status_code == 201
    spent = answer.json()["prompt_tokens"] + answer.json()["completion_tokens"]
    quota = client.get("/api/v1/usage/").json()["quota"]
    assert quota == {
        "daily_budget": 1000,
        "used": spent,
        "reserved": 0,
        "remaining": 1000 - spent,
        "resets_at": quota["resets_at"],
    }
    assert Message.objects.get(pk=answer.json()["id"]).reserved_tokens == 0


def test_with_little_left_the_answer_is_shortened_to_fit_and_with_nothing_left_refused():
    user = make_user()
    hold = quotas.reserve(user_id=user.pk, budget=120, prompt_tokens=100, max_tokens=50)
    assert (hold.tokens, hold.max_tokens) == (120, 20), "the answer's limit shrinks to what is left"
    with pytest.raises(services.ServiceError) as refused:
        quotas.reserve(user_id=user.pk, budget=120, prompt_tokens=1, max_tokens=1)
    assert refused.value.status == 429
    assert refused.value.code == "quota_exceeded"
    assert refused.value.retry_after > 0
    quotas.release(hold)
    assert TokenQuota.objects.get(user=user).reserved == 0


async def test_an_exhausted_quota_refuses_a_websocket_message_before_the_model(fake_llm):
    conversation, key = await conversation_for()
    await db(limit_user)(conversation.owner, daily_token_budget=5)
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "hello"})
    frame = await socket.receive_json_from(timeout=5)
    assert frame["type"] == "error"
    assert frame["code"] == "quota_exceeded"
    assert frame["retry_after"] > 0
    assert fake_llm.completion_calls == 0
    assert not await db(Message.objects.filter(conversation=conversation).exists)(), "nothing half-recorded"
    await socket.disconnect()


def stale_answer_holding_tokens(user) -> tuple[Message, quotas.Hold]:
    """An answer whose process seems to have died: still streaming long past the deadline, its hold unsettled."""
    conversation = services.conversation_create(owner=user)
    answer = Message.objects.create(conversation=conversation, role="assistant", status="streaming")
    hold = quotas.reserve(user_id=user.pk, budget=1000, prompt_tokens=100, max_tokens=50)
    Message.objects.filter(pk=answer.pk).update(
        reserved_tokens=hold.tokens, updated_at=answer.created_at - finisher.STALE_AFTER * 2
    )
    return answer, hold


def test_the_reaper_gives_back_the_hold_of_an_answer_whose_process_died(fake_llm):
    user = make_user()
    answer, _ = stale_answer_holding_tokens(user)
    assert finisher.interrupted_messages_reap() == 1
    assert TokenQuota.objects.get(user=user).reserved == 0
    assert Message.objects.get(pk=answer.pk).reserved_tokens == 0


def test_an_answer_saved_after_the_reaper_gave_its_hold_back_does_not_give_it_back_again(fake_llm):
    user = make_user()
    slow, slow_hold = stale_answer_holding_tokens(user)
    running_hold = quotas.reserve(user_id=user.pk, budget=1000, prompt_tokens=100, max_tokens=50)  # another answer
    assert finisher.interrupted_messages_reap() == 1
    assert TokenQuota.objects.get(user=user).reserved == running_hold.tokens

    # The slow answer's process was alive after all, and saves it now.
    outcome = {
        "content": "late", "status": "complete", "error": "", "finish_reason": "stop", "time_to_first_token_ms": 1,
        "duration_ms": 2, "usage": {"prompt_tokens": 90, "completion_tokens": 10, "estimated": False},
    }  # fmt: skip
    message_rows.answer_save(
        message_id=slow.pk, conversation_id=slow.conversation_id, user_id=user.pk, model="fake-echo",
        outcome=outcome, sources=[], hold=slow_hold,
    )  # fmt: skip
    quota = TokenQuota.objects.get(user=user)
    assert quota.used == 100, "the late answer is charged"
    assert quota.reserved == running_hold.tokens, "the other answer's hold is still held"


async def test_a_client_hanging_up_during_admission_leaves_no_hold(fake_llm, monkeypatch):
    user = await db(make_user)()
    key = await db(make_key)(user)

    def slow_admit(caller, request, open_):
        admitted = admission._admit(caller, request, open_)  # the hold is taken...
        time.sleep(0.3)  # ...and the client is gone before the view gets it
        return admitted

    monkeypatch.setattr(admission, "_admit_in_db_thread", in_db_thread(slow_admit))
    completion = parse_completion(b'{"model": "fake-echo", "messages": [{"role": "user", "content": "hi"}]}')
    caller = admission.Caller(authorization=f"Bearer {key}")
    view = asyncio.ensure_future(admission.admit(caller, openai_views._model_request(completion)))
    await asyncio.sleep(0.15)
    view.cancel()
    with pytest.raises(asyncio.CancelledError):
        await view
    quota = db(lambda: TokenQuota.objects.filter(user=user).values_list("reserved", flat=True).first())
    for _ in range(50):
        if await quota() == 0:
            break
        await asyncio.sleep(0.05)
    assert await quota() == 0, "the hold was given back"


def test_a_hold_whose_rows_were_never_written_is_given_back(fake_llm):
    user = make_user()
    hold = quotas.reserve(user_id=user.pk, budget=1000, prompt_tokens=100, max_tokens=50)

    async def unsaved() -> None:
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(RuntimeError("database gone"))
        admitted = admission.Admission(
            user=user, api_key=None, model=services.llm.model_config("fake-echo"), hold=hold, prompt=[], opened=None,
            seal=object(),  # not a genuine admission: this only exercises the clean-up
        )  # fmt: skip
        request = protocol.GenerationRequest(
            admission=admitted, conversation_id=uuid.uuid4(), message_id=uuid.uuid4(), prompt=[], persisted=failed
        )
        await finisher.release_unrecorded_hold(request)

    asyncio.run(unsaved())
    assert TokenQuota.objects.get(user=user).reserved == 0


def test_retry_after_is_exactly_when_one_more_request_fits(monkeypatch):
    now = [1_000_000 * 60 + 30.0]  # 30 s into a minute
    monkeypatch.setattr(ratelimits.time, "time", lambda: now[0])
    cache_key_minute = int(now[0] // 60)
    ratelimits._cache().set(f"rl:sw:exact:{cache_key_minute - 1}", 10, 300)  # the previous minute: 10 requests
    assert all(ratelimits.sliding_window("exact", 10).allowed for _ in range(5))  # 10 × 0.5 + 5 = 10
    refused = ratelimits.sliding_window("exact", 10)
    assert not refused.allowed
    now[0] += refused.retry_after - 1
    assert not ratelimits.sliding_window("exact", 10).allowed, "not a second too early"
    now[0] += 1
    assert ratelimits.sliding_window("exact", 10).allowed, "and allowed when it said"


def test_sliding_window_counts_the_last_sixty_seconds_and_says_when_to_retry(monkeypatch):
    now = [1_000_000 * 60 + 50.0]  # 50 s into a minute
    monkeypatch.setattr(ratelimits.time, "time", lambda: now[0])
    assert all(ratelimits.sliding_window("t", 5).allowed for _ in range(5))
    refused = ratelimits.sliding_window("t", 5)
    assert not refused.allowed
    assert 1 <= refused.retry_after <= 120
    now[0] += 15  # 5 s into the next minute: the five requests still weigh 5 × 55/60 ≈ 4.6
    assert not ratelimits.sliding_window("t", 5).allowed, "no burst allowed across the minute boundary"
    now[0] += 15  # 20 s in: 5 × 40/60 ≈ 3.3, room for one more
    assert ratelimits.sliding_window("t", 5).allowed


def test_the_token_bucket_allows_a_burst_then_refills():
    bucket = ratelimits.TokenBucket(capacity=3, rate=10)
    assert [bucket.take() for _ in range(3)] == [0, 0, 0]
    wait = bucket.take()
    assert 0 < wait <= 0.1
    time.sleep(wait + 0.01)
    assert bucket.take() == 0


def test_the_api_answers_429_with_retry_after_per_user_and_per_key(fake_llm, settings):
    settings.RATE_LIMIT_ALL_REQUESTS_FACTOR = 2
    user = make_user()
    limit_user(user, requests_per_minute=3)  # 3 model requests, 6 requests in all per minute
    client = session_client(user)
    statuses = [client.get("/api/v1/conversations/").status_code for _ in range(8)]
    assert statuses == [200] * 6 + [429] * 2
    refused = client.get("/api/v1/conversations/")
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused["Retry-After"]) >= 1
    # A key counts on counters of its own: one runaway script does not lock its owner out of the browser.
    assert key_client(make_key(user)).get("/api/v1/conversations/").status_code == 200


def test_a_rate_limit_counts_the_requests_of_every_web_process(daphne_server, fake_llm, settings):
    # The counters live in Valkey: requests to two web servers and to this process count on the same ones.
    user = make_user()
    limit_user(user, requests_per_minute=1)  # all requests: 1 x RATE_LIMIT_ALL_REQUESTS_FACTOR (10) a minute
    key = make_key(user)
    servers = [daphne_server(settings.LLM_MODELS), daphne_server(settings.LLM_MODELS)]
    here = key_client(key)
    headers = {"Authorization": f"Bearer {key}"}
    statuses = [here.get("/api/v1/conversations/").status_code for _ in range(4)]
    for url in servers:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            statuses += [client.get("/api/v1/conversations/").status_code for _ in range(3)]
    assert statuses == [200] * 10
    for url in servers:
        with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
            assert client.get("/api/v1/conversations/").status_code == 429
    assert here.get("/api/v1/conversations/").status_code == 429


def test_openai_endpoint_limits_model_requests_in_openai_shape(daphne_server, fake_llm, settings):
    url = daphne_server(settings.LLM_MODELS)
    user = make_user()
    limit_user(user, requests_per_minute=2)
    key = make_key(user)
    with httpx.Client(base_url=url, timeout=10) as client:
        statuses = [completion(client, key, "fake-echo").status_code for _ in range(3)]
        refused = completion(client, key, "fake-echo")
    assert statuses == [200, 200, 429]
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert fake_llm.completion_calls == 2


async def test_a_websocket_flood_gets_error_frames_and_the_socket_stays_open(fake_llm, settings):
    settings.RATE_LIMIT_SOCKET_BURST = 5
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    for _ in range(20):
        await socket.send_json_to({"type": "nonsense"})
    frames = [await socket.receive_json_from(timeout=5) for _ in range(20)]
    codes = [frame["code"] for frame in frames]
    assert codes[:5] == ["unknown_type"] * 5
    assert set(codes[5:]) == {"rate_limited"}
    assert all(frame["retry_after"] >= 1 for frame in frames[5:])
    await socket.send_json_to({"type": "stop"})  # still connected (the reply may be rate limited too)
    assert (await socket.receive_json_from(timeout=5))["type"] == "error"
    await socket.disconnect()


async def test_websocket_sends_count_on_the_same_model_request_limit_as_http(fake_llm):
    conversation, key = await conversation_for()
    await db(limit_user)(conversation.owner, requests_per_minute=1)
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "one"})
    while (await socket.receive_json_from(timeout=5))["type"] != "done":
        pass
    await socket.send_json_to({"type": "send", "content": "two"})
    frame = await socket.receive_json_from(timeout=5)
    assert (frame["type"], frame["code"]) == ("error", "rate_limited")
    assert fake_llm.completion_calls == 1
    await socket.disconnect()


def test_pages_limit_visitors_per_ip_with_a_429_page(client, settings):
    settings.RATE_LIMIT_ANONYMOUS_PER_MINUTE = 3
    statuses = [client.get("/accounts/login/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get("/accounts/login/")
    assert int(refused["Retry-After"]) >= 1
    assert b"Too many requests" in refused.content
    assert client.get("/healthz").status_code == 200, "health checks are never limited"
