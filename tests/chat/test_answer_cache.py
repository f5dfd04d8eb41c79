"""The exact answer cache, on a real web process and the real database: a repeated deterministic request is answered
without the model, through every path, to its own asker only, and what it was built on can take it away."""

import json

import httpx
import pytest
from channels.db import database_sync_to_async as db

from accounts.models import Role
from chat import answer_cache, moderation
from chat.models import AnswerCacheEntry, Conversation, Message
from documents.services import document_delete, document_update
from tests.chat.test_websocket import conversation_for, frames_until_done, open_socket, streamed_text
from tests.documents.test_retrieval import add_document
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "".join(f"same:{i} " for i in range(8))


@pytest.fixture
def app(daphne_server, fake_llm, settings):
    models = [
        {"name": m["name"], "base_url": m["base_url"], "context_window": 2048, "max_output_tokens": 8}
        for m in settings.LLM_MODELS
    ]
    return lambda: daphne_server(models)


def ask(url: str, key: str, *, headers: dict | None = None, stream: bool = False, **fields) -> httpx.Response:
    body = {"model": "fake-echo", "messages": [{"role": "user", "content": "same question"}], "temperature": 0}
    body |= fields | {"stream": stream}
    headers = {"Authorization": f"Bearer {key}"} | (headers or {})
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def streamed(response: httpx.Response) -> str:
    chunks = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def test_a_repeated_deterministic_request_is_served_from_the_cache_streamed_or_not(app, fake_llm):
    url, key = app(), make_key(make_user())
    first = ask(url, key)
    assert first.headers["X-Cache"] == "MISS"
    assert first.json()["choices"][0]["message"]["content"] == ANSWER
    calls = fake_llm.completion_calls
    again = ask(url, key)
    assert again.headers["X-Cache"] == "HIT"
    assert again.json()["choices"][0]["message"]["content"] == ANSWER
    assert again.json()["usage"]["completion_tokens"] == 0, "no model tokens charged"
    stream = ask(url, key, stream=True)
    assert stream.headers["X-Cache"] == "HIT"
    assert streamed(stream) == ANSWER
    assert fake_llm.completion_calls == calls, "the model was not asked again"
    entry = AnswerCacheEntry.objects.get()
    assert entry.hits == 2
    served = Message.objects.filter(role="assistant", cached="exact")
    assert served.count() == 2, "a hit is saved as a message like any other"
    assert {m.content for m in served} == {ANSWER}
    assert all(m.cache_entry_id == entry.pk for m in served)
    counted = answer_cache.counters()
    assert (counted["hits_exact"], counted["misses"]) == (2, 1)
    assert counted["saved_tokens"] == 2 * (entry.prompt_tokens + entry.completion_tokens) > 0


def test_a_hit_survives_a_restart_of_the_web_process(app, fake_llm, daphne_server):
    url, key = app(), make_key(make_user())
    assert ask(url, key).headers["X-Cache"] == "MISS"
    daphne_server.processes[url].stop()
    calls = fake_llm.completion_calls
    assert ask(app(), key).headers["X-Cache"] == "HIT"
    assert fake_llm.completion_calls == calls


def test_fresh_answers_when_asked_for_and_no_cache_for_sampled_requests(app, fake_llm):
    url, key = app(), make_key(make_user())
    ask(url, key)
    calls = fake_llm.completion_calls
    assert "X-Cache" not in ask(url, key, temperature=0.7).headers, "a sampled request does not take part"
    assert ask(url, key, headers={"Cache-Control": "no-cache"}).headers["X-Cache"] == "MISS"
    assert ask(url, key, cache=False).headers["X-Cache"] == "MISS"
    assert "X-Cache" not in ask(url, key, headers={"Cache-Control": "no-store"}).headers
    assert fake_llm.completion_calls == calls + 4
    assert ask(url, key, cache=True, temperature=0.7).headers["X-Cache"] == "MISS", "asked for: a new key, kept"
    assert ask(url, key, cache=True, temperature=0.7).headers["X-Cache"] == "HIT"
    bad = ask(url, key, cache="yes")
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "cache"


def test_nobody_else_is_ever_served_my_cached_answer(app, fake_llm):
    url = app()
    me, them = make_user(), make_user()
    mine, theirs = make_key(me), make_key(them)
    ask(url, mine)
    assert ask(url, mine).headers["X-Cache"] == "HIT"
    assert ask(url, theirs).headers["X-Cache"] == "MISS", "the same request from someone else goes to the model"
    assert ask(url, theirs).headers["X-Cache"] == "HIT", "then they have an entry of their own"
    my_entry = AnswerCacheEntry.objects.get(user=me)
    their_answers = Message.objects.filter(role="assistant", conversation__owner=them)
    assert their_answers.count() == 2
    assert not their_answers.filter(cache_entry=my_entry).exists()


def test_a_role_without_the_cache_and_a_model_without_it_never_use_it(app, fake_llm):
    from accounts.models import RolePolicy

    url, key = app(), make_key(make_user())
    RolePolicy.objects.update(answer_cache=False)
    assert "X-Cache" not in ask(url, key).headers
    assert not AnswerCacheEntry.objects.exists()


def test_a_disliked_answer_is_not_served_again(app, fake_llm):
    url, user = app(), make_user()
    key = make_key(user)
    ask(url, key)
    origin = Message.objects.get(role="assistant")
    moderation.rating_set(user=user, message=origin, rating="down")
    assert not AnswerCacheEntry.objects.exists()
    assert ask(url, key).headers["X-Cache"] == "MISS"


def test_the_key_covers_the_sources_and_limits_but_not_the_canary():
    prompt = [
        {"role": "system", "content": "You are helpful. CANARY-abc123"},
        {"role": "system", "content": "Sources: [1] The office opens at 9."},
        {"role": "user", "content": "When does the office open?"},
    ]
    key = answer_cache.request_key("m", prompt, {}, 100, "CANARY-abc123")
    other_canary = [prompt[0] | {"content": "You are helpful. canary-zzz999"}, *prompt[1:]]
    assert answer_cache.request_key("m", other_canary, {}, 100, "canary-zzz999") == key
    edited = [prompt[0], {"role": "system", "content": "Sources: [1] The office opens at 10."}, prompt[2]]
    assert answer_cache.request_key("m", edited, {}, 100, "CANARY-abc123") != key, "an edited source misses"
    assert answer_cache.request_key("m", prompt, {}, 200, "CANARY-abc123") != key
    assert answer_cache.request_key("m", prompt, {"seed": 1}, 100, "CANARY-abc123") != key
    assert answer_cache.request_key("other", prompt, {}, 100, "CANARY-abc123") != key


def test_deleting_or_resharing_a_document_removes_the_answers_built_on_it():
    owner = make_user(Role.ADMIN)  # may share
    kept, shared, deleted = (add_document(owner, ["some text"]) for _ in range(3))
    for document in (kept, shared, deleted):
        AnswerCacheEntry.objects.create(
            user=owner, key=document.pk.hex, model="m", content="x", document_ids=[document.pk]
        )
    document_update(document=shared, actor=owner, visibility="everyone")
    document_delete(document=deleted)
    assert list(AnswerCacheEntry.objects.values_list("document_ids", flat=True)) == [[kept.pk]]


async def test_the_chat_asks_for_the_cache_and_a_hit_is_marked_in_the_done_frame(fake_llm):
    conversation, key = await conversation_for()
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": "hello cache", "cache": True})
    first = await frames_until_done(socket)
    assert first[-1]["cached"] is None
    await socket.disconnect()
    owner = await db(lambda: conversation.owner)()
    second_conversation = await db(Conversation.objects.create)(owner=owner, model="fake-echo")
    socket = await open_socket(second_conversation, key)
    calls = fake_llm.completion_calls
    await socket.send_json_to({"type": "send", "content": "hello cache", "cache": True})
    second = await frames_until_done(socket)
    assert second[-1]["cached"] == "exact"
    assert streamed_text(second) == streamed_text(first) == second[-1]["content"]
    assert second[-1]["usage"]["completion_tokens"] == 0
    assert fake_llm.completion_calls == calls
    await socket.send_json_to({"type": "send", "content": "again", "cache": "sure"})
    refused = await socket.receive_json_from(timeout=5)
    assert refused["type"] == "error"
    assert refused["field"] == "cache"
    await socket.disconnect()


async def ask_in_new_conversation(owner, key: str, question: str, documents_mode: str = "none") -> dict:
    """A single-turn question in a fresh conversation, over the websocket; returns its done frame."""
    conversation = await db(Conversation.objects.create)(owner=owner, model="fake-echo", documents_mode=documents_mode)
    socket = await open_socket(conversation, key)
    await socket.send_json_to({"type": "send", "content": question, "cache": True})
    frames = await frames_until_done(socket)
    await socket.disconnect()
    return frames[-1]


@pytest.fixture
def semantic_role():
    from accounts.models import RolePolicy

    RolePolicy.objects.update(semantic_cache=True)


async def test_a_paraphrase_is_served_semantically_and_a_negation_or_another_number_is_not(fake_llm, semantic_role):
    owner = await db(make_user)()
    key = await db(make_key)(owner)
    first = await ask_in_new_conversation(owner, key, "How many vacation days do I get per year?")
    assert first["cached"] is None
    calls = fake_llm.completion_calls
    paraphrase = await ask_in_new_conversation(owner, key, "How many days of vacation do I get each year?")
    assert paraphrase["cached"] == "semantic"
    assert paraphrase["content"] == first["content"]
    assert fake_llm.completion_calls == calls, "no model call for the paraphrase"
    for different in (
        "How many vacation days do I not get per year?",  # a negation
        "How many vacation days do I get per 2 years?",  # a number
        "How do I reset my password?",  # another question
    ):
        answer = await ask_in_new_conversation(owner, key, different)
        assert answer["cached"] != "semantic", different
    assert fake_llm.completion_calls == calls + 3


def private_document(owner, text: str):
    from documents.embeddings import embed_texts

    return add_document(owner, [text], vectors=list(embed_texts([text])), title="Travel policy")


async def test_an_answer_built_on_a_document_is_served_until_the_document_is_deleted(fake_llm):
    owner = await db(make_user)()
    key = await db(make_key)(owner)
    document = await db(private_document)(owner, "The travel policy: hotels up to 150 euros a night are reimbursed.")
    question = "What does the travel policy say about hotels?"
    first = await ask_in_new_conversation(owner, key, question, documents_mode="all")
    assert first["cached"] is None
    entry = await db(AnswerCacheEntry.objects.get)(user=owner)
    assert entry.document_ids == [document.pk], "the entry knows the document it was built on"
    again = await ask_in_new_conversation(owner, key, question, documents_mode="all")
    assert again["cached"] == "exact"
    await db(document_delete)(document=document)
    assert not await db(AnswerCacheEntry.objects.exists)()
    after = await ask_in_new_conversation(owner, key, question, documents_mode="all")
    assert after["cached"] is None, "the document is gone: so is every answer built on it"


async def test_the_semantic_cache_never_crosses_people_or_conversations_with_history(fake_llm, semantic_role):
    alice, bob = await db(make_user)(), await db(make_user)()
    alice_key, bob_key = await db(make_key)(alice), await db(make_key)(bob)
    secret = await db(private_document)(alice, "The travel policy: hotels up to 150 euros a night are reimbursed.")
    built_on_secret = await ask_in_new_conversation(
        alice, alice_key, "What does the travel policy say about hotels?", documents_mode="all"
    )
    assert built_on_secret["cached"] is None
    paraphrases = [
        "What does the travel policy say about hotels?",
        "what does our travel policy say about hotels",
        "What does the travel policy state about hotels?",
        "Tell me what the travel policy says about hotels.",
        "What is in the travel policy about hotels?",
    ]
    for question in paraphrases:
        answer = await ask_in_new_conversation(bob, bob_key, question)
        assert answer["cached"] in (None, "exact", "semantic")
        served = await db(Message.objects.get)(pk=answer["message_id"])
        assert str(secret.pk) not in json.dumps(served.sources), "nothing of Alice's private document reaches Bob"
        if answer["cached"]:
            entry = await db(AnswerCacheEntry.objects.get)(pk=served.cache_entry_id)
            assert entry.user_id == bob.pk, "only ever Bob's own earlier answers"
    alice_entries = await db(lambda: list(AnswerCacheEntry.objects.filter(user=alice)))()
    assert len(alice_entries) == 1
    assert alice_entries[0].document_ids == [secret.pk]
    assert alice_entries[0].hits == 0, "Alice's answer was never served to Bob"
    # A question with history before it is not single-turn: only the exact cache applies there.
    conversation = await db(Conversation.objects.create)(owner=alice, model="fake-echo", documents_mode="none")
    socket = await open_socket(conversation, alice_key)
    await socket.send_json_to({"type": "send", "content": "hello", "cache": True})
    await frames_until_done(socket)
    await socket.send_json_to({"type": "send", "content": "What does the travel policy say about hotels?"})
    later = await frames_until_done(socket)
    assert later[-1]["cached"] is None
    await socket.disconnect()


def test_admins_see_what_the_cache_holds_with_its_counters_and_can_purge_it(client):
    admin, member = make_user(Role.ADMIN), make_user()
    entry = AnswerCacheEntry.objects.create(user=member, key="k" * 64, model="m", content="kept answer")
    answer_cache.count("exact", 42)
    answer_cache.count("", 0)
    client.force_login(admin)
    page = client.get("/admin/chat/answercacheentry/")
    assert page.status_code == 200
    assert "kept answer" in page.text
    assert "Hits 1 (exact 1, semantic 0), misses 1, hit rate 50%; model tokens saved: 42." in page.text
    purge = client.post(
        "/admin/chat/answercacheentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert purge.status_code == 302
    assert not AnswerCacheEntry.objects.exists()
    client.force_login(make_user(Role.MODERATOR))
    assert client.get("/admin/chat/answercacheentry/").status_code == 403, "moderators do not read answers"
