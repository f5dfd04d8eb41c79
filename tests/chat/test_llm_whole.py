"""The LLM boundary asked for whole answers (``streamed=False``, for batch lines): the same checks, retries, usage and
deadline as a stream, against the scripted upstream on loopback."""

import time

import pytest

from chat import llm
from tests.fake_llm import prompt_tokens_of


async def whole(model_name: str, content: str = "tag", max_tokens: int = 8, **extra) -> list[llm.Chunk]:
    messages = [{"role": "user", "content": content}]
    model = llm.model_config(model_name)
    return [chunk async for chunk in llm.stream_chat(model, messages, max_tokens=max_tokens, streamed=False, **extra)]


async def test_it_asks_for_the_whole_answer_and_yields_it_as_one_chunk_with_the_reported_usage(fake_llm):
    chunks = await whole("fake-usage", "hello", max_tokens=3)
    request = fake_llm.requests[-1]
    assert "stream" not in request
    assert "stream_options" not in request
    assert [chunk.text for chunk in chunks] == ["hello:0 hello:1 hello:2 ", ""]
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage == llm.Usage(prompt_tokens_of(request), 3, estimated=False)


async def test_whole_answers_in_a_row_reuse_one_connection(fake_llm):
    for word in ("one", "two", "three"):
        chunks = await whole("fake-echo", word, max_tokens=2)
        assert chunks[0].text == f"{word}:0 {word}:1 "
    assert fake_llm.connections == 1


async def test_an_answer_without_a_finish_reason_is_cut_and_retried_since_nobody_saw_it(fake_llm, settings):
    with pytest.raises(llm.LLMError) as caught:
        await whole("fake-cut", "c")
    assert caught.value.code == "upstream_cut"
    # Unlike a stream, nothing was yielded before the check: retried like an answer cut before its first token.
    assert fake_llm.completion_calls == 1 + settings.LLM_RETRIES


async def test_an_answer_cut_once_arrives_whole_on_the_retry(fake_llm):
    chunks = await whole("fake-cut-once", "again", max_tokens=3)
    assert "".join(chunk.text for chunk in chunks) == "again:0 again:1 again:2 "
    assert fake_llm.completion_calls == 2


async def test_an_empty_whole_answer_is_retried_then_reported(fake_llm, settings):
    with pytest.raises(llm.LLMError) as caught:
        await whole("fake-empty", "e")
    assert caught.value.code == "upstream_empty"
    assert fake_llm.completion_calls == 1 + settings.LLM_RETRIES


async def test_an_upstream_error_keeps_its_message(fake_llm):
    with pytest.raises(llm.LLMError) as caught:
        await whole("fake-500")
    assert caught.value.code == "upstream_error"
    assert "upstream exploded" in caught.value.message


async def test_an_unreadable_body_becomes_a_clear_error(fake_llm):
    with pytest.raises(llm.LLMError) as caught:
        await whole("fake-malformed")
    assert caught.value.code == "upstream_malformed"


async def test_a_native_tool_call_comes_back_whole(fake_llm):
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    chunks = await whole("fake-tools", "weather?", tools=tools)
    assert [chunk.text for chunk in chunks] == [""]
    assert chunks[-1].finish_reason == "tool_calls"
    assert chunks[-1].tool_calls[0]["function"]["name"] == "weather"
    assert chunks[-1].tool_calls[0]["function"]["arguments"] == '{"city": "Paris", "unit": "celsius"}'


async def test_a_whole_answer_slower_than_the_read_timeout_is_waited_for_within_the_deadline(settings):
    from tests.conftest import use_models
    from tests.fake_llm import FakeLLMThread

    settings.LLM_READ_TIMEOUT = 1.0  # between two streamed pieces; a whole answer sends nothing until it is done
    with FakeLLMThread(tokens_per_second=2.0) as server:
        use_models(settings, server.base_url, ["fake-echo"], max_output_tokens=8)
        started = time.monotonic()
        chunks = await whole("fake-echo", "slow", max_tokens=4)
    assert chunks[0].text == "slow:0 slow:1 slow:2 slow:3 "
    assert time.monotonic() - started >= 1.4


async def test_a_stalled_whole_answer_is_cut_at_the_deadline(fake_llm, settings):
    settings.LLM_DEADLINE = 1.0
    started = time.monotonic()
    with pytest.raises(llm.LLMError) as caught:
        await whole("fake-stall")
    assert caught.value.code == "upstream_deadline"
    assert 0.9 < time.monotonic() - started < 2.0
