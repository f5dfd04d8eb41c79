"""``POST /v1/chat/completions`` bodies, checked field by field before anything reaches a model server.

Every field we act on is typed and range-checked here (OpenAI's documented ranges), so a client mistake is a 400
naming the field, never the model server's internal validation text relayed as a 502. Nothing is silently ignored:
a field we do not support is a 400 naming it (an agent framework that sends ``logprobs`` learns at once that it gets
none, not later from a missing value). docs/openai-compat.md lists what is supported.
"""

import json
import math
from dataclasses import dataclass, field

from chat import tool_calls
from chat.answer_cache import parse_choice
from core import structured
from core.errors import ServiceError

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
SUPPORTED_FIELDS = frozenset(
    {
        *("model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options", "n", "user"),
        *("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "stop"),
        *("response_format", "tools", "tool_choice", "parallel_tool_calls", "cache"),
    }
)
# Fields accepted only at the value that asks for nothing (clients and frameworks often send them explicitly).
NEUTRAL_VALUES = {
    "logprobs": (False,),
    "top_logprobs": (0,),
    "logit_bias": ({},),
    "store": (False,),
    "modalities": (["text"],),
    "service_tier": ("auto", "default"),
    "metadata": ({},),
}
MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "refusal"})
MAX_STOP_SEQUENCES = 4
MAX_USER_CHARS = 256
MAX_STOP_CHARS = 200


@dataclass(frozen=True)
class CompletionRequest:
    model: str
    messages: list[dict]
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False
    sampling: dict = field(default_factory=dict)  # passed to the model server as is: every value checked
    cache: bool | None = None  # ours: true asks for the answer cache, false for a fresh answer (chat.answer_cache)
    output: structured.OutputFormat | None = None
    tools: tool_calls.ToolUse | None = None

    @property
    def tool_history(self) -> bool:
        return any(m["role"] == "tool" or m.get("tool_calls") for m in self.messages)

    @property
    def prompt_chars(self) -> int:
        return sum(len(message["content"]) for message in self.messages)


def _invalid(param: str, message: str, code: str = "invalid_request") -> ServiceError:
    return ServiceError(code, message, param=param)


def _number(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(name, f"'{name}' must be a number between {low:g} and {high:g}.", "invalid_type")
    if not low <= value <= high:
        raise _invalid(name, f"'{name}' must be between {low:g} and {high:g}; got {value:g}.", "out_of_range")
    return value


def _integer(body: dict, name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, f"'{name}' must be an integer.", "invalid_type")
    if not low <= value <= high:
        raise _invalid(name, f"'{name}' must be between {low} and {high}; got {value}.", "out_of_range")
    return value


def _flag(body: dict, name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(name, f"'{name}' must be true or false.", "invalid_type")
    return value


def _include_usage(options: dict) -> bool:
    try:
        return _flag(options, "include_usage")
    except ServiceError as exc:
        raise _invalid("stream_options.include_usage", exc.message, "invalid_stream_options") from exc


def _stop(body: dict) -> str | list[str] | None:
    value = body.get("stop")
    if value is None:
        return None
    sequences = [value] if isinstance(value, str) else value
    if (
        not isinstance(sequences, list)
        or not 1 <= len(sequences) <= MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and 0 < len(s) <= MAX_STOP_CHARS for s in sequences)
    ):
        raise _invalid(
            "stop", f"'stop' must be a string or a list of 1 to {MAX_STOP_SEQUENCES} non-empty strings.", "invalid_type"
        )
    return value


def _sampling(body: dict) -> dict:
    checked = {
        "temperature": _number(body, "temperature", 0, 2),
        "top_p": _number(body, "top_p", 0, 1),
        "presence_penalty": _number(body, "presence_penalty", -2, 2),
        "frequency_penalty": _number(body, "frequency_penalty", -2, 2),
        "seed": _integer(body, "seed", -(2**63), 2**63 - 1),
        "stop": _stop(body),
    }
    return {name: value for name, value in checked.items() if value is not None}


def _text(content: object, position: int) -> str:
    param = f"messages[{position}].content"
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _invalid(param, f"{param}: only text content parts are supported.", "invalid_content")
            parts.append(part["text"])
        return "".join(parts)
    raise _invalid(param, f"{param} must be a string or a list of text parts.", "invalid_content")


def _message(message: object, position: int) -> dict:
    role = message.get("role") if isinstance(message, dict) else None
    if not isinstance(role, str) or role not in ROLES:
        param = f"messages[{position}].role"
        raise _invalid(param, f"{param} must be one of {', '.join(ROLES)}.", "invalid_role")
    for name in message:
        if name not in MESSAGE_FIELDS or (name == "refusal" and message[name] is not None):
            raise _invalid(f"messages[{position}].{name}", f"messages[{position}].{name} is not supported.")
    parsed = {"role": ROLES[role]}
    if role == "assistant" and message.get("tool_calls") is not None:
        parsed["tool_calls"] = tool_calls.parse_calls(message["tool_calls"], f"messages[{position}].tool_calls")
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id or len(call_id) > 100:
            param = f"messages[{position}].tool_call_id"
            raise _invalid(param, f"{param}: a tool result names the call it answers.", "invalid_messages")
        parsed["tool_call_id"] = call_id
    raw_content = message.get("content")
    content = "" if raw_content is None and "tool_calls" in parsed else _text(raw_content, position)
    if "\x00" in content:
        param = f"messages[{position}].content"
        raise _invalid(param, f"{param} contains a NUL character.", "invalid_content")
    parsed["content"] = content
    return parsed


def parse_messages(raw: object) -> list[dict]:
    if not isinstance(raw, list) or not raw:
        raise _invalid("messages", "'messages' must be a non-empty list.", "invalid_messages")
    messages = [_message(message, position) for position, message in enumerate(raw)]
    if messages[-1]["role"] not in ("user", "tool"):
        raise _invalid(
            f"messages[{len(messages) - 1}].role",
            "The last message must come from the user (or be a tool's result).",
            "invalid_messages",
        )
    return messages


def reject_unsupported(body: dict, supported: frozenset[str], neutral: dict) -> None:
    """A 400 naming the first field we would otherwise have to ignore."""
    for name, value in body.items():
        if name in supported or value is None or value in neutral.get(name, ()):
            continue
        if name in ("functions", "function_call"):
            raise _invalid(name, f"'{name}' is deprecated by OpenAI and not supported; use 'tools'.", "unsupported")
        if name in neutral:
            raise _invalid(name, f"'{name}' is not supported with this value.", "unsupported_parameter")
        raise _invalid(name, f"Unrecognized request argument supplied: {name}", "unknown_parameter")


def json_object(raw_body: bytes) -> dict:
    """A request body that must be a JSON object, or a 400 saying so."""
    try:
        body = json.loads(raw_body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise ServiceError("invalid_json", "The request body must be JSON.") from None
    if not isinstance(body, dict):
        raise ServiceError("invalid_json", "The request body must be a JSON object.")
    return body


def json_body(raw_body: bytes, supported: frozenset[str], neutral: dict | None = None) -> dict:
    """A /v1 request body: a JSON object holding only fields we support (``user`` among them, checked here)."""
    return checked_fields(json_object(raw_body), supported, neutral)


def checked_fields(body: dict, supported: frozenset[str], neutral: dict | None = None) -> dict:
    """``json_body``'s checks on a body already decoded (a batch line's): only fields we support, ``user`` typed."""
    reject_unsupported(body, supported, neutral or {})
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > MAX_USER_CHARS):
        raise _invalid("user", f"'user' must be a string of at most {MAX_USER_CHARS} characters.", "invalid_type")
    return body


def parse_completion(raw_body: bytes) -> CompletionRequest:
    body = json_body(raw_body, SUPPORTED_FIELDS, NEUTRAL_VALUES)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("model", "'model' is required.", "missing_model")
    if body.get("n", 1) not in (1, None) or isinstance(body.get("n"), bool):
        raise _invalid("n", "Only n=1 is supported.", "unsupported_n")
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    try:
        max_tokens = _integer(body, name, 1, 1_000_000)
    except ServiceError as exc:
        raise _invalid(name, f"'{name}' must be a positive integer.", "invalid_max_tokens") from exc
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _invalid("stream_options", "'stream_options' must be an object.", "invalid_stream_options")
    return CompletionRequest(
        model=model,
        messages=parse_messages(body.get("messages")),
        max_tokens=max_tokens,
        stream=_flag(body, "stream"),
        include_usage=_include_usage(options or {}),
        sampling=_sampling(body),
        cache=parse_choice(body.get("cache")),
        output=structured.parse_response_format(body.get("response_format")),
        tools=tool_calls.parse_tools(body),
    )
