"""What a generation is asked to do and how it ended, and the groups its events travel through."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from chat import llm
from chat.admission import Admission
from chat.answer_cache import CachePlan
from chat.generation.constrained import OutputContract
from chat.rag import grounding
from chat.safety import guardrails

STOP_EVENT = "generation.stop"
CHAT_EVENT = "chat.event"


def conversation_group(conversation_id: uuid.UUID) -> str:
    return f"conversation.{conversation_id.hex}"


# Stop requests travel to every process through this one group: each process has a single listener and stops the
# answer if it runs there. A subscription per answer would cost two broker round trips for a rare event.
CONTROL_GROUP = "generation-control"


@dataclass
class GenerationRequest:
    admission: Admission  # who asks, for which model, within which hold: only chat.admission.admit makes one
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    prompt: list[dict]
    extra: dict = field(default_factory=dict)
    sources: list[dict] = field(default_factory=list)
    # When the rows are still being written while the answer starts (the OpenAI-compatible path), the generation
    # waits for this before its first write to them.
    persisted: asyncio.Future | None = None
    needs_title: bool = False
    # Retrieval to run before the model is called (in the cancellable part, so "stop" works during it too).
    ground: Callable[[], Awaitable[grounding.Grounding | None]] | None = None
    # Filters what the model writes before anyone sees it (PII redaction, canary); None lets it through as is.
    guard: guardrails.OutputGuard | None = None
    # Whether (and for whom) the answer cache serves or keeps this answer; None: it does not take part.
    cache: CachePlan | None = None
    # A response format and/or tools (chat.generation.constrained); None: plain text.
    output: OutputContract | None = None
    # Watched live: the text goes to other processes' sockets as it comes, and is saved as it goes. Off for an
    # answer only its caller reads, whole (a batch line): a line that dies is run again from the start anyway, and
    # a 500-line batch would otherwise publish about 20 events and write a partial answer for each line.
    live: bool = True
    # The entry point it came in by (a Conversation.Source value), for the metrics.
    source: str = "chat"

    user_id = property(lambda self: self.admission.user.pk)
    model = property(lambda self: self.admission.model)
    hold = property(lambda self: self.admission.hold)  # held against the quota, settled when the answer is saved
    max_tokens = property(lambda self: self.admission.hold.max_tokens)


@dataclass
class Outcome:
    status: str
    content: str
    error: str = ""
    error_code: str = ""
    finish_reason: str = ""
    usage: llm.Usage | None = None
    time_to_first_token_ms: float | None = None
    duration_ms: float = 0.0
    withheld: str = ""  # text the output guard kept from the user (where a cut answer began to leak)
    cached: str = ""  # "exact" when served from the answer cache (no model tokens)
    cache_entry_id: int | None = None
    cache_saved_tokens: int = 0  # the model tokens the cached answer cost when it was written
    tool_calls: list[dict] = field(default_factory=list)  # in OpenAI's shape, whole


def done_event(request: GenerationRequest, outcome: Outcome) -> dict:
    usage = outcome.usage
    return {
        "type": "done",
        "message_id": str(request.message_id),
        "status": outcome.status,
        "content": outcome.content,
        "finish_reason": outcome.finish_reason,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "estimated": usage.estimated,
        }
        if usage
        else None,
        "time_to_first_token_ms": outcome.time_to_first_token_ms,
        "duration_ms": outcome.duration_ms,
        "error": outcome.error,
        "cached": outcome.cached or None,
        "tool_calls": outcome.tool_calls or None,
    }
