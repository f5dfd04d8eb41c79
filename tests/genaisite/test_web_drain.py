"""SIGTERM to a web process: it stops accepting, lets short answers finish, stops and saves the rest with the
reason, and every client gets its answer's end — no row left streaming, no conversation left busy."""

import concurrent.futures
import json
import signal
import time

import httpx
import pytest

from chat.generation.engine import SHUTDOWN_REASON
from chat.models import Message
from tests.factories import make_key, make_user
from tests.fake_llm import FakeLLMThread

pytestmark = pytest.mark.django_db(transaction=True)


def stream(url: str, key: str, max_tokens: int) -> list[str]:
    """The SSE lines of one streamed completion, to its end."""
    body = {
        "model": "fake-echo",
        "stream": True,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "go"}],
    }
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60) as response:
        return [line for line in response.iter_lines() if line.startswith("data: ")]


def test_a_terminated_web_process_finishes_short_answers_and_saves_the_rest_as_stopped(daphne_server):
    with FakeLLMThread(tokens_per_second=5) as upstream:
        models = [
            {"name": "fake-echo", "base_url": upstream.base_url, "context_window": 4096, "max_output_tokens": 400}
        ]
        url = daphne_server(models, WEB_DRAIN_SECONDS="3")
        key = make_key(make_user())
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            short = pool.submit(stream, url, key, 4)  # about 0.8 s: finishes within the grace period
            long = pool.submit(stream, url, key, 300)  # a minute: must be stopped
            assert_both_streaming(upstream)
            web = daphne_server.processes[url]
            terminated = time.monotonic()
            web.process.send_signal(signal.SIGTERM)
            short_lines, long_lines = short.result(timeout=30), long.result(timeout=30)
            web.process.wait(timeout=15)
            took = time.monotonic() - terminated
    assert took < 10, f"the process took {took:.1f} s to exit"
    for lines in (short_lines, long_lines):
        assert lines[-1] == "data: [DONE]", "the client got the end of its answer"
        finish = [json.loads(line[6:]) for line in lines[:-1] if '"finish_reason": "' in line]
        assert finish, "a closing chunk with its finish reason"
    answers = {m.status: m for m in Message.objects.filter(role="assistant")}
    assert set(answers) == {Message.Status.COMPLETE, Message.Status.STOPPED}
    assert answers[Message.Status.STOPPED].error == SHUTDOWN_REASON
    assert answers[Message.Status.STOPPED].content, "what was written before the stop is kept"
    assert not Message.objects.filter(status__in=[Message.Status.STREAMING, Message.Status.PENDING]).exists()


def assert_both_streaming(upstream, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while upstream.completion_calls < 2:
        assert time.monotonic() < deadline, "both answers should have reached the model"
        time.sleep(0.05)
    time.sleep(0.3)  # a few tokens each
