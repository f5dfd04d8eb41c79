"""Answers under an output contract: a response format, tools, or both, as the model server can take them.

When the answer's text must meet a format (a client's ``json_schema`` / ``json_object``, or the call-or-answer form of
emulated tools), it is not streamed as it comes: it is collected, checked (``core.structured``), retried once with
the reason if it fails, and only a valid answer is shown — in one piece. A second failure ends the answer ``failed``
with ``schema_validation_failed`` (422) and the rejected text kept on the saved message, never shown as an answer.
"""

import json
from dataclasses import dataclass, field

from chat import llm, tool_calls
from chat.safety.guardrails import OutputGuard
from chat.tool_calls import ToolUse
from core.errors import ServiceError
from core.structured import FAILED_CODE, OutputFormat, OutputMismatch, retry_prompt

ATTEMPTS = 2  # the first, and one retry told what was wrong


@dataclass(frozen=True)
class OutputContract:
    format: OutputFormat | None = None
    tools: ToolUse | None = None
    emulate_tools: bool = False  # the backend's template knows no tools: described and schema-constrained by us
    plain_history: bool = False  # the prompt's tool calls and results are written out as text for the backend
    logprobs: llm.TokenLogprobs | None = None  # collects the answer tokens' log probabilities (classify's scores)

    @property
    def enforced(self) -> OutputFormat | None:
        """What the answer's text must meet: the client's format, or a call (or answer) of emulated tools."""
        if self.tools is not None and self.emulate_tools and self.tools.may_call:
            return tool_calls.emulated_format(self.tools)
        return self.format

    def backend_fields(self) -> dict:
        fields = {}
        if (enforced := self.enforced) is not None:
            fields["response_format"] = enforced.backend_field()
        if self.tools is not None and not self.emulate_tools:
            fields.update(self.tools.forwarded)
        return fields

    def backend_prompt(self, prompt: list[dict]) -> list[dict]:
        if self.plain_history:
            return tool_calls.emulated_prompt(prompt, self.tools if self.emulate_tools else None)
        return prompt


def contract_for(
    model: llm.ModelConfig, output: OutputFormat | None, tools: ToolUse | None, *, tool_history: bool
) -> OutputContract | None:
    """The contract for ``model``, or a 400 when it cannot keep it. ``tool_history``: the prompt holds tool calls
    or results."""
    if tools is not None and model.tools == "none":
        raise ServiceError(
            "tools_not_supported",
            f"The model {model.name!r} cannot call tools; send the request without 'tools'.",
            param="tools",
        )
    emulate = model.tools != "native"
    if tools is not None and emulate and tools.may_call and output is not None:
        raise ServiceError(
            "unsupported_combination",
            f"The model {model.name!r} cannot take 'response_format' together with 'tools'; send one of them.",
            param="response_format",
        )
    if output is None and tools is None and not tool_history:
        return None
    return OutputContract(output, tools, emulate_tools=emulate, plain_history=emulate and (tool_history or bool(tools)))


@dataclass
class Checked:
    """What the attempts produced: the answer to show (and its calls), or the rejected text and the error."""

    content: str = ""
    tool_calls: list[dict] = field(default_factory=list)
    usage: llm.Usage = field(default_factory=lambda: llm.Usage(0, 0, estimated=False))
    finish_reason: str = ""
    pieces: int = 0
    rejected: str = ""
    error: llm.LLMError | None = None


async def _collect(
    model: llm.ModelConfig,
    prompt: list[dict],
    max_tokens: int,
    fields: dict,
    into: Checked,
    contract: OutputContract,
    streamed: bool,
) -> str:
    parts = []
    chunks = llm.stream_chat(
        model, prompt, max_tokens=max_tokens, token_logprobs=contract.logprobs, streamed=streamed, **fields
    )
    async for chunk in chunks:
        if chunk.text:
            parts.append(chunk.text)
            into.pieces += 1
        if chunk.usage is not None:
            used = into.usage
            into.usage = llm.Usage(
                used.prompt_tokens + chunk.usage.prompt_tokens,
                used.completion_tokens + chunk.usage.completion_tokens,
                used.estimated or chunk.usage.estimated,
            )
            into.finish_reason = chunk.finish_reason or ""
        if chunk.tool_calls:
            into.tool_calls = chunk.tool_calls
    return "".join(parts)


async def checked_answer(
    model: llm.ModelConfig,
    prompt: list[dict],
    *,
    max_tokens: int,
    extra: dict,
    contract: OutputContract,
    streamed: bool = True,
) -> Checked:
    """Up to two attempts at an answer that meets ``contract.enforced``. Raises LLMError when the backend fails.
    ``streamed=False``: each attempt is asked for whole (llm.stream_chat), for answers nobody watches arrive."""
    enforced = contract.enforced
    fields = {**extra, **contract.backend_fields()}
    attempt_prompt = contract.backend_prompt(prompt)
    result = Checked()
    for attempt in range(ATTEMPTS):
        text = await _collect(model, attempt_prompt, max_tokens, fields, result, contract, streamed)
        try:
            value = enforced.check(text)
        except OutputMismatch as mismatch:
            if attempt + 1 < ATTEMPTS:
                attempt_prompt = retry_prompt(attempt_prompt, text, mismatch)
                continue
            result.rejected = text
            result.error = llm.LLMError(
                FAILED_CODE,
                f"The model's answer did not match the requested format, twice: {mismatch.reason[:300]}.",
                status=422,
            )
            return result
        if contract.emulate_tools and contract.tools is not None and contract.tools.may_call:
            result.content, result.tool_calls = tool_calls.read_emulated(value)
            result.finish_reason = "tool_calls" if result.tool_calls else "stop"
        else:
            result.content, result.finish_reason = text, "stop"  # valid JSON is whole, wherever the limit was
        return result
    raise AssertionError("unreachable")  # pragma: no cover


class RedactedMismatch(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.error = llm.LLMError(
            FAILED_CODE,
            f"Personal data was redacted from the answer, which then no longer fit the format: {reason}.",
            status=422,
        )


def guarded(guard: OutputGuard | None, content: str, contract: OutputContract, calls: list[dict]) -> str:
    """The checked answer as it may be shown. Under a client's format, PII is redacted inside its strings only: a
    number turned into a label would break the JSON (numbers are left as they are). A redacted answer is checked
    again; one that no longer fits raises RedactedMismatch. A tool call's arguments are the client's own data for its
    own function and are not redacted."""
    if guard is None or not content:
        return content
    if contract.format is None or calls:
        return guard.feed(content) + guard.finish()
    changed = False

    def redact(node: object) -> object:
        nonlocal changed
        if isinstance(node, str):
            shown = guard.feed(node) + guard.finish()
            changed = changed or shown != node
            return shown
        if isinstance(node, list):
            return [redact(item) for item in node]
        if isinstance(node, dict):
            return {key: redact(item) for key, item in node.items()}
        return node

    redacted = redact(json.loads(content))
    if not changed:
        return content
    shown = json.dumps(redacted, ensure_ascii=False, indent=2)
    try:
        contract.format.check(shown)
    except OutputMismatch as mismatch:
        raise RedactedMismatch(mismatch.reason) from None
    return shown
