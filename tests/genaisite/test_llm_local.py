"""The real local model, reached only through openai.AsyncOpenAI like any OpenAI-compatible backend."""

from chat import llm
from tests.conftest import use_models


async def test_a_real_completion_streams_from_the_local_model(local_llm):
    model = llm.default_model()
    prompt = [{"role": "user", "content": "Name three colours."}]
    chunks = [chunk async for chunk in llm.stream_chat(model, prompt, max_tokens=24)]
    texts = [chunk.text for chunk in chunks if chunk.text]
    assert len(texts) > 1, "expected the answer to arrive in several streamed pieces"
    assert "".join(texts).strip()
    final = chunks[-1]
    assert final.finish_reason in ("stop", "length")
    # llama-server reports usage at the end of the stream (include_usage), counted by its own tokenizer.
    assert final.usage.estimated is False
    assert final.usage.prompt_tokens > 5
    assert final.usage.completion_tokens >= len(texts) - 1


async def test_readiness_reports_the_served_model(local_llm):
    ready, detail = await llm.readiness()
    assert ready is True
    assert "smollm2-135m-instruct" in detail


async def test_readiness_names_an_unreachable_backend(settings):
    use_models(settings, "http://127.0.0.1:9/v1", ["smollm2-135m-instruct"])
    ready, detail = await llm.readiness()
    assert ready is False
    assert "unreachable at http://127.0.0.1:9/v1" in detail


async def test_a_non_streamed_completion_from_the_local_model(local_llm):
    text = await llm.complete(llm.default_model(), [{"role": "user", "content": "Say hello."}], max_tokens=12)
    assert text
