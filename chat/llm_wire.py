"""What the model server sends, read: answers whole or as server-sent events, their usage and tool calls, and the
checks every answer passes at its end (``chat.llm`` is the one place that calls the server; this is how it reads).
"""

import json
import math
from dataclasses import dataclass

from core.errors import ServiceError

# Tokens the chat template adds around each message, beyond its text.
MESSAGE_OVERHEAD_TOKENS = 4


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


class LLMError(ServiceError):
    """A model call failed; ``message`` is safe to show to users, ``code`` is stable for clients."""

    def __init__(self, code: str, message: str, *, retryable: bool = False, status: int = 502) -> None:
        super().__init__(code, message, status=status)
        self.retryable = retryable


def estimate_tokens(text: str) -> int:
    """A deliberately generous estimate (English averages ~4 characters a token) for when the backend reports none."""
    return math.ceil(len(text) / 3.5) if text else 0


def estimate_prompt_tokens(messages: list[dict]) -> int:
    return sum(estimate_tokens(str(message.get("content") or "")) + MESSAGE_OVERHEAD_TOKENS for message in messages)


def parse_event(line: str) -> dict | None:
    """One SSE line: the chunk's JSON, None for anything that is not data; raises LLMError on an error event."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return {"done": True}
    return decoded(data)


def decoded(data: str) -> dict:
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


def reported_usage(answer: dict) -> Usage | None:
    usage = answer.get("usage")
    return Usage(int(usage["prompt_tokens"]), int(usage["completion_tokens"]), False) if usage else None


def read_chunk(chunk: dict, calls: "ToolCallPieces") -> tuple[str, str | None, Usage | None]:
    reported = reported_usage(chunk)
    choices = chunk.get("choices") or []
    if not choices:
        return "", None, reported
    choice = choices[0]
    delta = choice.get("delta") or {}
    if delta.get("tool_calls"):
        calls.add(delta["tool_calls"])
    return delta.get("content") or "", choice.get("finish_reason"), reported


def token_logprobs(chunk: dict) -> list[dict]:
    choices = chunk.get("choices") or [{}]
    return [e for e in (choices[0].get("logprobs") or {}).get("content") or [] if isinstance(e, dict) and "token" in e]


class ToolCallPieces:
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


def read_whole(answer: dict, calls: "ToolCallPieces") -> tuple[str, str | None, Usage | None]:
    choices = answer.get("choices") or [{}]
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise LLMError("upstream_malformed", "The model server sent an answer we could not read.")
    message = choices[0].get("message") or {}
    if message.get("tool_calls"):
        calls.add(message["tool_calls"])
    return message.get("content") or "", choices[0].get("finish_reason"), reported_usage(answer)


def last_chunk(
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
