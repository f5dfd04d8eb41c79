"""The one LLM boundary: every model call goes through ``openai.AsyncOpenAI`` here.

The embedded llama.cpp server, OpenAI, vLLM and Ollama are all reached the same way, by base URL and key. This module
owns timeouts (connect, per-read, overall deadline), retries (only before the first token), ``max_tokens`` (always
set), fitting the history into the context window, and token usage (reported by the backend, or counted here).
"""

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2  # the openai SDK's HTTP client: its transport errors surface while we read the raw stream
import openai
from django.conf import settings

from chat import llm_wire as wire
from chat.llm_wire import Chunk, LLMError, Usage, estimate_prompt_tokens, estimate_tokens

logger = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = (0.2, 0.4, 0.8, 1.6, 3.2)
# Retrying past this point would make an upstream failure reach the user later than promised (2 s).
RETRY_WINDOW_SECONDS = 1.0
# Failures of an answer that began but did not end properly: retried from scratch while nothing has been shown.
INCOMPLETE_CODES = frozenset({"upstream_cut", "upstream_empty"})
# A kept-alive connection the server had already closed: the request never reached it, so it is sent again at once.
# llama-server closes the connection after every streamed answer while announcing keep-alive, and a request sent the
# moment the last one ended (a batch runner's next line) often takes that connection from the pool before its close
# is seen: retrying it after the backoff cost 200 ms a time.
STALE_CONNECTION = "upstream_stale_connection"
STALE_RESENDS = 3  # more than one pooled connection may have been closed meanwhile


@dataclass(frozen=True)
class ModelConfig:
    name: str
    base_url: str
    api_key: str
    context_window: int
    max_output_tokens: int
    health_url: str = ""
    cache: bool = True
    tools: str = "native"  # "native", "emulated" or "none" (genaisite.env.TOOL_MODES)


@dataclass
class TokenLogprobs:
    """Each answer token's log probability and its ``top`` alternatives (OpenAI's ``logprobs`` entries), one list per
    call to the server: after a retry, the last list is the one of the text the caller got."""

    top: int
    attempts: list[list[dict]] = field(default_factory=list)


class UnknownModel(LLMError):
    def __init__(self, name: str) -> None:
        available = ", ".join(model.name for model in configured_models())
        super().__init__("model_not_found", f"Unknown model {name!r}. Available: {available}.", status=404)


def configured_models() -> list[ModelConfig]:
    return [ModelConfig(**entry) for entry in settings.LLM_MODELS]


def default_model() -> ModelConfig:
    return configured_models()[0]


def model_config(name: str | None) -> ModelConfig:
    if not name:
        return default_model()
    for model in configured_models():
        if model.name == name:
            return model
    raise UnknownModel(name)


def fit_to_context(model: ModelConfig, messages: list[dict], *, max_tokens: int) -> tuple[list[dict], int]:
    """Drop the oldest turns (never system messages, never the last message) until the prompt and the answer fit.

    Returns the messages to send and the ``max_tokens`` to ask for, shrunk if even the newest turn is long.
    """
    system = [message for message in messages if message["role"] == "system"]
    turns = [message for message in messages if message["role"] != "system"]
    budget = model.context_window - max_tokens
    while len(turns) > 1 and estimate_prompt_tokens(system + turns) > budget:
        turns.pop(0)
    kept = system + turns
    room = model.context_window - estimate_prompt_tokens(kept)
    return kept, max(1, min(max_tokens, room))


# httpx pools belong to the event loop that created them, so clients are cached per loop.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


def client(model: ModelConfig | None = None) -> openai.AsyncOpenAI:
    model = model or default_model()
    key = (model.base_url, model.api_key)
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = openai.AsyncOpenAI(
            base_url=model.base_url,
            api_key=model.api_key,
            timeout=openai.Timeout(settings.LLM_READ_TIMEOUT, connect=settings.LLM_CONNECT_TIMEOUT),
            max_retries=0,  # retries are ours: only before the first token
        )
    return per_loop[key]


def _as_llm_error(exc: Exception) -> LLMError:
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("upstream_timeout", "The model server did not answer in time.", retryable=True, status=504)
    if isinstance(exc, openai.APIConnectionError) and _closed_before_answering(exc.__cause__):
        return LLMError(STALE_CONNECTION, "The model server closed the connection.", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("upstream_unreachable", "Could not reach the model server.", retryable=True)
    if isinstance(exc, httpx2.TimeoutException):
        return LLMError("upstream_timeout", "The model server stopped sending.", retryable=True, status=504)
    if isinstance(exc, httpx2.TransportError):
        return LLMError("upstream_unreachable", "The connection to the model server was lost.", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        retryable = exc.status_code == 429 or exc.status_code >= 500
        detail = _upstream_detail(exc)
        return LLMError("upstream_error", f"The model server answered {exc.status_code}: {detail}", retryable=retryable)
    return LLMError("upstream_malformed", f"The model server sent a response we could not read ({type(exc).__name__}).")


def _closed_before_answering(cause: BaseException | None) -> bool:
    # httpx's words for a pooled connection found closed when the request was written or its answer awaited.
    return isinstance(cause, httpx2.RemoteProtocolError) and "without sending a response" in str(cause)


def _upstream_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(exc.message)[:300]


def _request_body(model: ModelConfig, messages: list[dict], max_tokens: int, extra: dict, *, stream: bool) -> dict:
    body = {"model": model.name, "messages": messages, "max_tokens": max_tokens, **extra}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


async def _open_stream(model: ModelConfig, messages: list[dict], max_tokens: int, extra: dict) -> httpx2.Response:
    # The SDK makes the request (base URL, key, headers, timeouts, errors for non-2xx statuses), but hands us the raw
    # response: its typed path validates every parameter and builds a pydantic object per streamed chunk, about
    # 1.5 ms per request and 0.3 ms per token of CPU, which at a few thousand tokens a second would be a whole core.
    body = _request_body(model, messages, max_tokens, extra, stream=True)
    return await client(model).post("/chat/completions", body=body, cast_to=httpx2.Response, stream=True)


async def _ask_whole(model: ModelConfig, messages: list[dict], max_tokens: int, extra: dict) -> dict:
    # Raw, as for a stream (no pydantic objects). Nothing arrives until the answer is whole, so the per-read timeout
    # of a stream would cut long answers: the overall deadline bounds the wait instead.
    body = _request_body(model, messages, max_tokens, extra, stream=False)
    timeout = openai.Timeout(settings.LLM_DEADLINE, connect=settings.LLM_CONNECT_TIMEOUT)
    response = await client(model).post(
        "/chat/completions", body=body, cast_to=httpx2.Response, options={"timeout": timeout}
    )
    return wire.decoded(response.text)


async def stream_chat(
    model: ModelConfig,
    messages: list[dict],
    *,
    max_tokens: int,
    token_logprobs: TokenLogprobs | None = None,
    streamed: bool = True,
    **extra,
) -> AsyncIterator[Chunk]:
    """Stream an answer as Chunks, the last one with the finish reason and usage. Raises LLMError; retries only
    while nothing has been yielded, so a user never sees an answer start twice. ``token_logprobs`` collects the
    tokens' log probabilities (chat.generation.constrained.OutputContract carries it for a generation).
    ``streamed=False`` asks the server for the whole answer at once, yielded as one chunk: for answers nobody watches
    arrive (batch lines), since a server streaming one event per token spends about a sixth more CPU on them."""
    call_once = _stream_once if streamed else _whole_once
    if token_logprobs is not None:
        extra = {**extra, "logprobs": True, "top_logprobs": token_logprobs.top}
    messages, max_tokens = fit_to_context(model, messages, max_tokens=min(max_tokens, model.max_output_tokens))
    started = time.monotonic()
    attempt = stale_resends = 0
    while True:
        produced = 0
        try:
            async with (
                asyncio.timeout_at(_deadline(started)),
                contextlib.aclosing(call_once(model, messages, max_tokens, extra, token_logprobs)) as chunks,
            ):
                # aclosing: when our consumer hangs up, the upstream response is closed now, not at collection.
                async for chunk in chunks:
                    produced += 1 if chunk.text else 0
                    yield chunk
            return
        except TimeoutError:
            raise LLMError("upstream_deadline", "The answer took too long and was cut off.", status=504) from None
        except LLMError as error:
            if not produced and error.code == STALE_CONNECTION and stale_resends < STALE_RESENDS:
                stale_resends += 1  # nothing reached the server: sent again at once, not counted as a retry
                continue
            if produced or not _worth_retrying(error, attempt, started):
                raise
            logger.warning("model call failed before the first token (%s); retrying", error.code)
            await asyncio.sleep(RETRY_BACKOFF_SECONDS[attempt])
            attempt += 1


def _deadline(started: float) -> float:
    return asyncio.get_running_loop().time() + settings.LLM_DEADLINE - (time.monotonic() - started)


def _worth_retrying(error: LLMError, attempt: int, started: float) -> bool:
    if not error.retryable or attempt >= settings.LLM_RETRIES:
        return False
    # A server that cut or emptied an answer nobody saw yet is retried (after the same short backoff) however long
    # it took; one that cannot be reached only briefly, so the failure reaches the user within the promised 2 s.
    return error.code in INCOMPLETE_CODES or time.monotonic() - started <= RETRY_WINDOW_SECONDS


async def _finish_reading(lines: AsyncIterator[str]) -> None:
    """Read the (empty) rest of a finished stream, so its connection goes back to the pool for the next answer:
    closed mid-body it is dropped, and every answer would pay a new connection (a TLS handshake, upstream)."""
    with contextlib.suppress(TimeoutError, httpx2.HTTPError):
        async with asyncio.timeout(1):  # a server that keeps the body open after [DONE] is not waited for
            async for _ in lines:
                pass


async def _stream_once(
    model: ModelConfig, messages: list[dict], max_tokens: int, extra: dict, logprobs: TokenLogprobs | None = None
) -> AsyncIterator[Chunk]:
    """One streamed call to the model server, its pieces yielded as they come."""
    tokens: list[dict] = []
    if logprobs is not None:
        logprobs.attempts.append(tokens)
    produced = 0
    usage: Usage | None = None
    finish_reason: str | None = None
    calls = wire.ToolCallPieces()
    try:
        async with contextlib.AsyncExitStack() as stack:
            response = await _open_stream(model, messages, max_tokens, extra)
            stack.push_async_callback(response.aclose)
            lines = response.aiter_lines()
            async for line in lines:
                chunk = wire.parse_event(line)
                if chunk is None:
                    continue
                if chunk.get("done"):
                    await _finish_reading(lines)
                    break
                text, finished, reported = wire.read_chunk(chunk, calls)
                if logprobs is not None:
                    tokens += wire.token_logprobs(chunk)
                usage = reported or usage
                finish_reason = finished or finish_reason
                if text:
                    produced += 1
                    yield Chunk(text=text)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise _as_llm_error(exc) from exc
    yield wire.last_chunk(messages, finish_reason, calls.whole(), usage, pieces=produced)


async def _whole_once(
    model: ModelConfig, messages: list[dict], max_tokens: int, extra: dict, logprobs: TokenLogprobs | None = None
) -> AsyncIterator[Chunk]:
    """One call for the whole answer, checked as a stream is."""
    calls = wire.ToolCallPieces()
    try:
        answer = await _ask_whole(model, messages, max_tokens, extra)
        text, finish_reason, usage = wire.read_whole(answer, calls)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise _as_llm_error(exc) from exc
    if logprobs is not None:
        logprobs.attempts.append(wire.token_logprobs(answer))
    last = wire.last_chunk(messages, finish_reason, calls.whole(), usage, pieces=estimate_tokens(text))
    if text:
        yield Chunk(text=text)
    yield last


async def complete(model: ModelConfig, messages: list[dict], *, max_tokens: int, deadline: float | None = None) -> str:
    """A short non-streamed answer (titles and other housekeeping), within ``deadline`` seconds (LLM_DEADLINE)."""
    messages, max_tokens = fit_to_context(model, messages, max_tokens=min(max_tokens, model.max_output_tokens))
    try:
        async with asyncio.timeout(deadline or settings.LLM_DEADLINE):
            response = await client(model).chat.completions.create(
                model=model.name, messages=messages, max_tokens=max_tokens
            )
    except TimeoutError:
        raise LLMError("upstream_deadline", "The model server did not answer in time.", status=504) from None
    except Exception as exc:
        raise _as_llm_error(exc) from exc
    return (response.choices[0].message.content or "").strip() if response.choices else ""


READINESS_TIMEOUT = 3.0


async def readiness() -> tuple[bool, str]:
    """Whether the default model's backend is up. A server with a health endpoint (llama-server, vLLM) is asked
    there: it never takes a slot, so a probe neither waits behind long answers nor disturbs them. Another server is
    asked which models it serves (a listing, not a generation)."""
    model = default_model()
    if model.health_url:
        return await _health(model)
    try:
        page = await asyncio.wait_for(client(model).models.list(), READINESS_TIMEOUT)
    except (openai.APIError, TimeoutError) as exc:
        return False, f"unreachable at {model.base_url}: {type(exc).__name__}"
    served = [entry.id for entry in page.data]
    if model.name not in served:
        return False, f"model {model.name!r} not served (available: {', '.join(served) or 'none'})"
    return True, f"{model.name} at {model.base_url}"


async def _health(model: ModelConfig) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT):
            await client(model).get(model.health_url, cast_to=httpx2.Response)
    except openai.APIStatusError as exc:  # llama-server answers 503 while it loads the model
        return False, f"{model.health_url} answered {exc.status_code}"
    except (openai.APIError, httpx2.HTTPError, TimeoutError) as exc:
        return False, f"unreachable at {model.base_url}: {type(exc).__name__}"
    return True, f"{model.name} at {model.base_url} (healthy)"
