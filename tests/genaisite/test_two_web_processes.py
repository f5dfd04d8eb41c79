"""Two web processes on one database and one Valkey, as `manage.py serve` runs them with WEB_CONCURRENCY=2: an
answer belongs to the process that runs it, yet a socket on the other process watches it, stops it, and still reads
what it had written when its process was killed."""

import concurrent.futures
import contextlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from django.conf import settings
from websockets.sync.client import ClientConnection, connect

from chat.models import Message
from tests.chat.test_websocket import streamed_text
from tests.factories import make_key, make_user
from tests.fake_llm import FakeLLMThread

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = "fake-echo"  # answers "<first word>:0 <first word>:1 …", one token per max_tokens


def expected_answer(tag: str, tokens: int) -> str:
    return "".join(f"{tag}:{index} " for index in range(tokens))


def two_web_processes(daphne_server, upstream, *, max_output_tokens: int, **env: str) -> tuple[str, str]:
    """Web processes A and B: different ports, the same models, database and Valkey."""
    models = [
        {"name": MODEL, "base_url": upstream.base_url, "context_window": 4096, "max_output_tokens": max_output_tokens}
    ]
    return daphne_server(models, **env), daphne_server(models, **env)


def api(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def new_conversation(url: str, key: str) -> str:
    with api(url, key) as client:
        # No documents: the answer goes straight to the model, nothing to retrieve first.
        response = client.post("/api/v1/conversations/", json={"model": MODEL, "documents_mode": "none"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@contextlib.contextmanager
def chat_socket(url: str, conversation_id: str, key: str) -> Iterator[ClientConnection]:
    """A conversation's socket on the web process at ``url``, past its history frame (so it is in the group)."""
    headers = {"Authorization": f"Bearer {key}", "Origin": url}
    address = f"{url.replace('http://', 'ws://')}/ws/chat/{conversation_id}/"
    with connect(address, additional_headers=headers, max_queue=None, open_timeout=10) as socket:
        history = json.loads(socket.recv(timeout=10))
        assert history["type"] == "history", history
        yield socket


def frames_until_done(socket: ClientConnection, timeout: float = 10) -> list[tuple[float, dict]]:
    """Every frame up to the first ``done``, each with the moment it arrived."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            frame = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            pytest.fail(f"no done frame within {timeout} s; got {[f['type'] for _, f in frames]}")
        frames.append((time.monotonic(), frame))
        if frame["type"] == "done":
            return frames


def sse_events(url: str, key: str, conversation_id: str, content: str) -> list[dict]:
    """POST a message with stream=true and read the Server-Sent Events to the end."""
    events = []
    with (
        api(url, key) as client,
        client.stream(
            "POST", f"/api/v1/conversations/{conversation_id}/messages/", json={"content": content, "stream": True}
        ) as response,
    ):
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_a_socket_on_one_web_process_watches_an_answer_started_on_the_other(daphne_server):
    tokens = 12
    with FakeLLMThread(tokens_per_second=20) as upstream:  # 0.6 s of answer, a delta every 50 ms
        a, b = two_web_processes(daphne_server, upstream, max_output_tokens=tokens)
        key = make_key(make_user())
        conversation = new_conversation(a, key)
        with chat_socket(b, conversation, key) as watcher, concurrent.futures.ThreadPoolExecutor(1) as pool:
            asked = pool.submit(sse_events, a, key, conversation, "watch")
            watched = frames_until_done(watcher)
            answered = asked.result(timeout=10)
    assert answered[-1]["type"] == "done", "A's client got its answer's end"
    started = next(event for event in answered if event["type"] == "started")
    message_id = started["message"]["id"]
    frames = [frame for _, frame in watched]
    assert any(f["type"] == "started" and f["message"]["id"] == message_id for f in frames), [f["type"] for f in frames]
    deltas = [(at, f) for at, f in watched if f["type"] == "delta"]
    assert {f["message_id"] for _, f in deltas} == {message_id}
    assert len(deltas) > 1, "the answer reached B piece by piece, not in one go at the end"
    assert watched[-1][0] - deltas[0][0] > 0.2, "B's first delta came while A was still answering"
    done = frames[-1]
    assert done["message_id"] == message_id
    assert done["status"] == Message.Status.COMPLETE
    assert streamed_text(frames) == done["content"] == expected_answer("watch", tokens)
    assert answered[-1]["content"] == done["content"], "A's client and B's watcher got the same answer"
    assert Message.objects.get(pk=message_id).content == done["content"]


def test_stop_sent_through_one_web_process_stops_the_answer_running_on_the_other(daphne_server):
    tokens = 300
    with FakeLLMThread(tokens_per_second=10) as upstream:  # 30 s of answer unless it is stopped
        a, b = two_web_processes(daphne_server, upstream, max_output_tokens=tokens)
        key = make_key(make_user())
        conversation = new_conversation(a, key)
        with chat_socket(a, conversation, key) as asker, chat_socket(b, conversation, key) as watcher:
            asker.send(json.dumps({"type": "send", "content": "halt"}))
            seen = []
            while len([f for f in seen if f["type"] == "delta"]) < 3:  # the answer is running on A
                seen.append(json.loads(watcher.recv(timeout=10)))
            stop_sent = time.monotonic()
            watcher.send(json.dumps({"type": "stop"}))
            asked = frames_until_done(asker, timeout=5)
            watched = seen + [frame for _, frame in frames_until_done(watcher, timeout=5)]
    ended_at, done = asked[-1]
    assert ended_at - stop_sent < 2, f"A's client got the end {ended_at - stop_sent:.1f} s after the stop"
    assert done["status"] == Message.Status.STOPPED
    assert done["finish_reason"] == "stopped"
    assert done["error"] == "", "the user's own stop needs no reason"
    partial = done["content"]
    assert partial, "what was written before the stop is kept"
    assert expected_answer("halt", tokens).startswith(partial)
    assert len(partial) < len(expected_answer("halt", tokens)) / 2
    assert streamed_text([frame for _, frame in asked]) == partial
    assert watched[-1] == done, "B's socket got the same end"
    saved = Message.objects.get(pk=done["message_id"])
    assert (saved.status, saved.content) == (Message.Status.STOPPED, partial)
    assert upstream.completion_calls == 1


def kill_mid_answer(daphne_server, url: str, conversation: str, key: str) -> tuple[float, list[tuple[float, str]]]:
    """Start an answer on the web process at ``url`` and SIGKILL it 1.5 s in; returns when, and what its client saw
    when."""
    with chat_socket(url, conversation, key) as asker:
        asker.send(json.dumps({"type": "send", "content": "crash"}))
        seen: list[tuple[float, str]] = []
        text = ""
        while len(text) < len(expected_answer("crash", 15)):  # 1.5 s of answer: two flushes at least
            frame = json.loads(asker.recv(timeout=10))
            if frame["type"] == "delta":
                text += frame["text"]
                seen.append((time.monotonic(), text))
        killed_at = time.monotonic()
        web = daphne_server.processes[url]
        web.process.kill()  # SIGKILL: no drain, no final save
        web.process.wait(timeout=5)
    return killed_at, seen


def test_a_killed_web_process_leaves_its_flushed_text_readable_on_the_other_which_keeps_answering(daphne_server):
    tokens = 300
    with FakeLLMThread(tokens_per_second=10) as upstream:
        a, b = two_web_processes(daphne_server, upstream, max_output_tokens=tokens)
        key = make_key(make_user())
        conversation = new_conversation(a, key)
        killed_at, seen = kill_mid_answer(daphne_server, a, conversation, key)
        with api(b, key) as client:
            messages = client.get(f"/api/v1/conversations/{conversation}/messages/")
            assert messages.status_code == 200, messages.text
            answer = messages.json()["results"][-1]
            # A fresh request on B answers as before.
            body = {"model": MODEL, "max_tokens": 4, "messages": [{"role": "user", "content": "alive"}]}
            completion = client.post("/v1/chat/completions", json=body)
    assert answer["role"] == "assistant"
    assert answer["status"] == Message.Status.STREAMING, "open until its writer's lease runs out"
    saved = answer["content"]
    assert expected_answer("crash", tokens).startswith(saved), "the saved text is the start of the answer"
    # Text is flushed every CHAT_FLUSH_SECONDS while streaming: what the client had by then (with a margin for the
    # flush itself) cannot be lost.
    flushed_by = killed_at - settings.CHAT_FLUSH_SECONDS - 0.5
    must_have = next((shown for at, shown in reversed(seen) if at <= flushed_by), "")
    assert len(must_have) >= len(expected_answer("crash", 5)), (
        "the client saw enough before then for this to mean something"
    )
    assert saved.startswith(must_have), f"lost more than a flush interval: saved {saved!r}, shown {must_have!r}"
    assert completion.status_code == 200, completion.text
    assert completion.json()["choices"][0]["message"]["content"] == expected_answer("alive", 4)


def test_an_answer_whose_web_process_was_killed_is_closed_once_its_lease_runs_out_and_the_chat_goes_on(daphne_server):
    lease = 3
    with FakeLLMThread(tokens_per_second=10) as upstream:
        a, b = two_web_processes(daphne_server, upstream, max_output_tokens=40, LIVENESS_LEASE_SECONDS=str(lease))
        key = make_key(make_user())
        conversation = new_conversation(a, key)
        killed_at, _ = kill_mid_answer(daphne_server, a, conversation, key)
        with chat_socket(b, conversation, key) as socket:
            socket.send(json.dumps({"type": "send", "content": "too soon"}))
            refused = json.loads(socket.recv(timeout=10))
            # Stop reaches no process (A is dead): B closes the answer itself once A's lease has run out.
            closed = None
            while closed is None and time.monotonic() < killed_at + lease + 10:
                socket.send(json.dumps({"type": "stop"}))
                with contextlib.suppress(TimeoutError):
                    frame = json.loads(socket.recv(timeout=0.5))
                    closed = frame if frame["type"] == "done" else None
            closed_after = time.monotonic() - killed_at
            socket.send(json.dumps({"type": "send", "content": "again"}))
            after = [frame for _, frame in frames_until_done(socket)]
    assert refused["type"] == "error"
    assert refused["code"] == "busy", "a live-looking answer keeps the chat busy"
    assert closed is not None, "the dead process's answer was closed"
    assert closed["status"] == Message.Status.FAILED
    assert "interrupted" in closed["error"]
    assert closed_after < lease + 5, f"closed {closed_after:.1f} s after the kill (lease {lease} s)"
    saved = Message.objects.get(pk=closed["message_id"])
    assert saved.status == Message.Status.FAILED
    assert saved.content == closed["content"]
    assert saved.content, "the flushed text is kept"
    assert expected_answer("crash", 40).startswith(saved.content)
    assert saved.reserved_tokens == 0, "its quota hold was given back"
    assert after[-1]["status"] == Message.Status.COMPLETE
    assert streamed_text(after) == expected_answer("again", 40)
