"""The one LLM boundary: every model call goes through ``openai.AsyncOpenAI`` here.

The embedded llama.cpp server, OpenAI, vLLM and Ollama are all reached the same way, by base URL and key.
"""

import asyncio
import weakref
from collections.abc import AsyncIterator

import openai
from django.conf import settings

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0

# httpx pools belong to the event loop that created them, so clients are cached per loop.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], openai.AsyncOpenAI]]" = (
    weakref.WeakKeyDictionary()
)


def client(base_url: str | None = None, api_key: str | None = None) -> openai.AsyncOpenAI:
    key = (base_url or settings.LLM_BASE_URL, api_key or settings.LLM_API_KEY)
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = openai.AsyncOpenAI(
            base_url=key[0],
            api_key=key[1],
            timeout=openai.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            max_retries=0,
        )
    return per_loop[key]


async def stream_text(messages: list[dict], *, model: str | None = None, max_tokens: int = 256) -> AsyncIterator[str]:
    """Yield the answer's text deltas as the backend produces them."""
    stream = await client().chat.completions.create(
        model=model or settings.LLM_MODEL, messages=messages, max_tokens=max_tokens, stream=True
    )
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


READINESS_TIMEOUT = 3.0


async def readiness() -> tuple[bool, str]:
    """Whether the backend answers and serves the configured model."""
    try:
        page = await asyncio.wait_for(client().models.list(), READINESS_TIMEOUT)
    except (openai.APIError, TimeoutError) as exc:
        return False, f"unreachable at {settings.LLM_BASE_URL}: {type(exc).__name__}"
    served = [model.id for model in page.data]
    if settings.LLM_MODEL not in served:
        return False, f"model {settings.LLM_MODEL!r} not served (available: {', '.join(served) or 'none'})"
    return True, f"{settings.LLM_MODEL} at {settings.LLM_BASE_URL}"
