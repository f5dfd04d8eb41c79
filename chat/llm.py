"""The one LLM boundary: every model call goes through ``openai.AsyncOpenAI`` here.

The embedded llama.cpp server, OpenAI, vLLM and Ollama are all reached the same way, by base URL and key. This module
owns timeouts (connect, per-read, overall deadline), retries (only before the first token), ``max_tokens`` (always
set), fitting the history into the context window, and token usage (reported by the backend, or counted here).
"""

import asyncio
import contextlib
import json
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx2  # the openai SDK's HTTP client: its transport errors surface while we read the raw stream
import openai
from django.conf import settings

from core.errors import ServiceError

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
# Tokens the chat template adds around each message, beyond its text.
MESSAGE_OVERHEAD_TOKENS = 4


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


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool


@dataclass(frozen=True)
class Chunk:
    """One piece of a streamed answer: text, and at the end a finish reason and usage."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    tool_calls: list[dict] | None = None  # on the last chunk: the calls a native tools backend made, whole


@dataclass
class TokenLogprobs:
    """Each answer token's log probability and its ``top`` alternatives (OpenAI's ``logprobs`` entries), one list per
    call to the server: after a retry, the last list is the one of the text the caller got."""

    top: int
    attempts: list[list[dict]] = field(default_factory=list)


class LLMError(ServiceError):
    """A model call failed; ``message`` is safe to show to users, ``code`` is stable for clients."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, status: int = 502) -> None:
        super().__init__(code, message, status=status)
        self.retryable = retryable


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


def estimate_tokens(text: str) -> int:
    """A deliberately generous estimate (English averages ~4 characters a token) for when the backend reports none."""
    return math.ceil(len(text) / 3.5) if text else 0


def estimate_prompt_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(str(message.get("content") or "")) + MESSAGE_OVERHEAD_TOKENS for message in messages)


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
    return _decoded(response.text)


def _parse_event(line: str) -> dict | None:
    """One SSE line: the chunk's JSON, None for anything that is not data; raises LLMError on an error event."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return {"done": True}
    return _decoded(data)


def _decoded(data: str) -> dict:
    """A chunk or a whole answer from its JSON; raises LLMError when it is unreadable or reports an error."""
    try:
        decoded = json.loads(data)
    except json.JSONDecodeError:
        raise LLMError("upstream_malformed", "The model server sent data we could not read.") from None
    if not isinstance(decoded, dict):
        raise LLMError("upstream_malformed", "The model server sent data we could not read.")
    if decoded.get("error"):
        error = decoded["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise LLMError("upstream_error", f"The model server failed: {str(message)[:300]}")
    return decoded


def _reported_usage(answer: dict) -> Usage | None:
    usage = answer.get("usage")
    return Usage(int(usage["prompt_tokens"]), int(usage["completion_tokens"]), False) if usage else None


def _read_chunk(chunk: dict, calls: "_ToolCallPieces") -> tuple[str, str | None, Usage | None]:
    reported = _reported_usage(chunk)
    choices = chunk.get("choices") or []
    if not choices:
        return "", None, reported
    choice = choices[0]
    delta = choice.get("delta") or {}
    if delta.get("tool_calls"):
        calls.add(delta["tool_calls"])
    return delta.get("content") or "", choice.get("finish_reason"), reported


def _token_logprobs(chunk: dict) -> list[dict]:
    choices = chunk.get("choices") or [{}]
    return [e for e in (choices[0].get("logprobs") or {}).get("content") or [] if isinstance(e, dict) and "token" in e]


class _ToolCallPieces:
    """A native backend streams each call in pieces (id and name first, then the arguments' text in fragments),
    keyed by index: put back together here, so every caller sees whole calls."""

    def __init__(self) -> None:
        self.calls: dict[int, dict] = {}

    def add(self, pieces: object) -> None:
        if not isinstance(pieces, list):
            raise LLMError("upstream_malformed", "The model server sent tool calls we could not read.")
        for piece in pieces:
            if not isinstance(piece, dict):
                raise LLMError("upstream_malformed", "The model server sent tool calls we could not read.")
            call = self.calls.setdefault(
                int(piece.get("index", len(self.calls))),
                {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
            )
            call["id"] = piece.get("id") or call["id"]
            function = piece.get("function") or {}
            call["function"]["name"] += function.get("name") or ""
            call["function"]["arguments"] += function.get("arguments") or ""

    def whole(self) -> list[dict] | None:
        return [self.calls[index] for index in sorted(self.calls)] or None


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
    calls = _ToolCallPieces()
    try:
        async with contextlib.AsyncExitStack() as stack:
            response = await _open_stream(model, messages, max_tokens, extra)
            stack.push_async_callback(response.aclose)
            lines = response.aiter_lines()
            async for line in lines:
                chunk = _parse_event(line)
                if chunk is None:
                    continue
                if chunk.get("done"):
                    await _finish_reading(lines)
                    break
                text, finished, reported = _read_chunk(chunk, calls)
                if logprobs is not None:
                    tokens += _token_logprobs(chunk)
                usage = reported or usage
                finish_reason = finished or finish_reason
                if text:
                    produced += 1
                    yield Chunk(text=text)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise _as_llm_error(exc) from exc
    yield _last_chunk(messages, finish_reason, calls.whole(), usage, pieces=produced)


async def _whole_once(
    model: ModelConfig, messages: list[dict], max_tokens: int, extra: dict, logprobs: TokenLogprobs | None = None
) -> AsyncIterator[Chunk]:
    """One call for the whole answer, checked as a stream is."""
    calls = _ToolCallPieces()
    try:
        answer = await _ask_whole(model, messages, max_tokens, extra)
        text, finish_reason, usage = _read_whole(answer, calls)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise _as_llm_error(exc) from exc
    if logprobs is not None:
        logprobs.attempts.append(_token_logprobs(answer))
    last = _last_chunk(messages, finish_reason, calls.whole(), usage, pieces=estimate_tokens(text))
    if text:
        yield Chunk(text=text)
    yield last


def _read_whole(answer: dict, calls: "_ToolCallPieces") -> tuple[str, str | None, Usage | None]:
    choices = answer.get("choices") or [{}]
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise LLMError("upstream_malformed", "The model server sent an answer we could not read.")
    message = choices[0].get("message") or {}
    if message.get("tool_calls"):
        calls.add(message["tool_calls"])
    return message.get("content") or "", choices[0].get("finish_reason"), _reported_usage(answer)


def _last_chunk(
    messages: list[dict], finish_reason: str | None, tool_calls: list[dict] | None, usage: Usage | None, *, pieces: int
) -> Chunk:
    """The end of an answer, after its checks: one without a finish reason was cut, one with no text (and no calls)
    is empty; both raise (retryable), so neither is ever saved as a complete answer. ``pieces`` counts the
    completion when the server reported no usage (most servers stream one token per chunk)."""
    if finish_reason is None:
        raise LLMError("upstream_cut", "The model server ended the answer before finishing it.", retryable=True)
    if pieces == 0 and not tool_calls:
        raise LLMError("upstream_empty", "The model server sent an empty answer.", retryable=True)
    if usage is None:
        usage = Usage(estimate_prompt_tokens(messages), pieces, estimated=True)
    return Chunk(finish_reason=finish_reason, usage=usage, tool_calls=tool_calls)


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
