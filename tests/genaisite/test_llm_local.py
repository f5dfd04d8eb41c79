"""The real local model, reached only through openai.AsyncOpenAI like any OpenAI-compatible backend."""

from chat import llm


async def test_a_real_completion_streams_from_the_local_model(local_llm):
    chunks = [
        piece async for piece in llm.stream_text([{"role": "user", "content": "Name three colours."}], max_tokens=24)
    ]
    assert len(chunks) > 1, "expected the answer to arrive in several streamed pieces"
    assert "".join(chunks).strip()


async def test_readiness_reports_the_served_model(local_llm):
    ready, detail = await llm.readiness()
    assert ready is True
    assert "smollm2-135m-instruct" in detail


async def test_readiness_names_an_unreachable_backend(settings):
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    ready, detail = await llm.readiness()
    assert ready is False
    assert "unreachable at http://127.0.0.1:9/v1" in detail
