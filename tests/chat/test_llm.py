"""The LLM boundary against a scripted upstream on loopback: retries, faults, deadlines, usage, context fitting."""

import time

import pytest

from chat import llm
from tests.fake_llm import prompt_tokens_of


async def collect(model_name: str, content: str = "tag", max_tokens: int = 8) -> tuple[list[llm.Chunk], float]:
    started = time.monotonic()
    chunks = []
    async for chunk in llm.stream_chat(
        llm.model_config(model_name), [{"role": "user", "content": content}], max_tokens=max_tokens
    ):
        chunks.append(chunk)
    return chunks, time.monotonic() - started


async def test_it_streams_text_and_counts_tokens_itself_when_the_backend_reports_none(fake_llm):
    chunks, _ = await collect("fake-echo", "hello", max_tokens=5)
    assert "".join(chunk.text for chunk in chunks) == "hello:0 hello:1 hello:2 hello:3 hello:4 "
    final = chunks[-1]
    assert final.usage.completion_tokens == 5
    assert final.usage.estimated is True
    assert final.finish_reason == "length"


async def test_answers_in_a_row_reuse_one_connection_to_the_model_server(fake_llm):
    for _ in range(3):
        chunks, _ = await collect("fake-echo", "again", max_tokens=3)
        assert chunks[-1].finish_reason == "length"
    # A stream closed before its body ended cannot go back to the pool: each answer would pay a new connection.
    assert fake_llm.connections == 1


async def test_it_uses_the_usage_the_backend_reports(fake_llm):
    chunks, _ = await collect("fake-usage", max_tokens=4)
    reported = prompt_tokens_of(fake_llm.requests[-1])  # what the fake upstream counts and reports
    assert chunks[-1].usage == llm.Usage(prompt_tokens=reported, completion_tokens=4, estimated=False)
    assert fake_llm.requests[-1]["stream_options"] == {"include_usage": True}


async def test_it_always_sets_max_tokens_within_the_models_limit(fake_llm):
    await collect("fake-echo", max_tokens=10_000)
    assert fake_llm.requests[-1]["max_tokens"] == 8  # the model's max_output_tokens


async def test_an_error_before_the_first_token_is_retried_then_reported_quickly(fake_llm, settings):
    with pytest.raises(llm.LLMError) as caught:
        await collect("fake-500")
    assert caught.value.code == "upstream_error"
    assert "upstream exploded" in caught.value.message
    assert fake_llm.completion_calls == 1 + settings.LLM_RETRIES


async def test_a_failure_is_reported_within_two_seconds(fake_llm):
    started = time.monotonic()
    with pytest.raises(llm.LLMError):
        await collect("fake-500")
    assert time.monotonic() - started < 2.0


async def collect_until_error(model_name: str, content: str) -> tuple[list[str], llm.LLMError | None]:
    received = []
    try:
        async for chunk in llm.stream_chat(
            llm.model_config(model_name), [{"role": "user", "content": content}], max_tokens=8
        ):
            received.append(chunk.text)
    except llm.LLMError as exc:
        return received, exc
    return received, None


async def test_a_reset_after_some_tokens_is_not_retried(fake_llm):
    received, error = await collect_until_error("fake-reset", "r")
    assert received == ["r:0 ", "r:1 ", "r:2 "]
    assert error.code in ("upstream_unreachable", "upstream_malformed")
    assert fake_llm.completion_calls == 1


async def test_a_stream_that_ends_without_a_finish_reason_after_some_text_is_cut_not_complete(fake_llm):
    received, error = await collect_until_error("fake-cut", "c")
    assert received == ["c:0 ", "c:1 "]
    assert error is not None, "a cut stream must never end like a finished answer"
    assert error.code == "upstream_cut"
    assert fake_llm.completion_calls == 1  # text was already shown: a retry would show the answer twice


async def test_an_empty_answer_is_retried_then_reported_as_a_failure(fake_llm, settings):
    received, error = await collect_until_error("fake-empty", "e")
    assert received == []
    assert error.code == "upstream_empty"
    assert fake_llm.completion_calls == 1 + settings.LLM_RETRIES


async def test_a_stream_cut_before_any_token_is_retried_and_the_answer_arrives_whole(fake_llm):
    chunks, _ = await collect("fake-cut-once", "again", max_tokens=3)
    assert "".join(chunk.text for chunk in chunks) == "again:0 again:1 again:2 "
    assert chunks[-1].finish_reason == "length"
    assert fake_llm.completion_calls == 2


async def test_a_kept_alive_connection_the_server_closed_is_sent_again_at_once(fake_llm, settings, monkeypatch):
    settings.LLM_RETRIES = 0  # a resend over a fresh connection is not a retry: nothing reached the server
    monkeypatch.setattr(llm, "RETRY_BACKOFF_SECONDS", (30.0,) * 5)  # a backoff would show as a 30 s wait
    answers = []
    started = time.monotonic()
    for word in ("first", "second", "third"):  # each next request takes the connection the last one left
        chunks, _ = await collect("fake-stale", word, max_tokens=2)
        answers.append("".join(chunk.text for chunk in chunks))
    assert answers == ["first:0 first:1 ", "second:0 second:1 ", "third:0 third:1 "]
    assert fake_llm.stale_closes == 2, "the second and third requests each found their connection closed"
    assert fake_llm.completion_calls == 3
    assert time.monotonic() - started < 10


async def test_malformed_stream_data_becomes_a_clear_error(fake_llm):
    received, error = await collect_until_error("fake-malformed", "m")
    assert received == ["m:0 ", "m:1 "]
    assert error.code == "upstream_malformed"


async def test_a_stalled_stream_is_cut_at_the_deadline(fake_llm, settings):
    settings.LLM_DEADLINE = 1.0
    started = time.monotonic()
    with pytest.raises(llm.LLMError) as caught:
        await collect("fake-stall")
    assert caught.value.code == "upstream_deadline"
    assert 0.9 < time.monotonic() - started < 2.0


async def test_an_unknown_model_is_refused_with_the_available_ones(fake_llm):
    with pytest.raises(llm.UnknownModel) as caught:
        llm.model_config("gpt-17")
    assert caught.value.status == 404
    assert "fake-echo" in caught.value.message


def test_history_is_trimmed_to_the_context_window_keeping_the_newest_turns():
    model = llm.ModelConfig("m", "http://x/v1", "k", context_window=300, max_output_tokens=100)
    system = {"role": "system", "content": "be brief"}
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * 200} for i in range(10)]
    kept, max_tokens = llm.fit_to_context(model, [system, *turns], max_tokens=100)
    assert kept[0] == system
    assert kept[-1] == turns[-1]
    assert len(kept) < 11
    assert llm.estimate_prompt_tokens(kept) <= 300 - 100
    assert max_tokens == 100


def test_a_single_long_turn_is_kept_and_the_answer_shrinks_to_fit():
    model = llm.ModelConfig("m", "http://x/v1", "k", context_window=300, max_output_tokens=200)
    kept, max_tokens = llm.fit_to_context(model, [{"role": "user", "content": "y" * 700}], max_tokens=200)
    assert len(kept) == 1
    assert 1 <= max_tokens < 200
