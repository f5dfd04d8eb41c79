"""One model call of a task: admitted by the one gate, run as a recorded generation (a conversation of source
``task`` with its messages, usage and quota settlement), waited for, and judged."""

import dataclasses
from dataclasses import dataclass

from django.conf import settings

from chat import admission, llm, services
from chat.generation import constrained
from chat.generation.protocol import Outcome
from chat.models import Conversation, Message
from core import structured
from core.errors import ServiceError


@dataclass(frozen=True)
class Asker:
    """Who runs the task, on which model (None: the default)."""

    caller: admission.Caller
    model: str | None = None

    @property
    def config(self) -> llm.ModelConfig:
        return llm.model_config(self.model)


@dataclass
class Tally:
    """The tokens every call of one task used, together."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0
    estimated: bool = False

    def add(self, usage: llm.Usage | None) -> None:
        self.calls += 1
        if usage is not None:
            self.prompt_tokens += usage.prompt_tokens
            self.completion_tokens += usage.completion_tokens
            self.estimated = self.estimated or usage.estimated

    def as_dict(self) -> dict:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "calls": self.calls,
            "estimated": self.estimated,
        }


async def start(
    asker: Asker,
    *,
    system: str,
    user: str,
    data_is_users: bool,
    output: structured.OutputFormat | None = None,
    max_tokens: int | None = None,
    extra: dict | None = None,
    logprobs: llm.TokenLogprobs | None = None,
) -> services.Reply:
    """Admit and start one call. ``data_is_users``: the fenced text came from the caller (screened as a prompt);
    otherwise it is a stored document's text (screened for blocked topics, like retrieved sources)."""
    prompt = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    request = admission.ModelRequest(
        model=asker.model,
        user_texts=[user] if data_is_users else [],
        context_texts=[system] if data_is_users else [system, user],
        size=admission.Size(len(user), settings.CHAT_MAX_PROMPT_CHARS, "prompt_too_long", "The prompt"),
        max_tokens=max_tokens,
        prompt=prompt,
    )
    contract = constrained.contract_for(asker.config, output, None, tool_history=False)
    if logprobs is not None:
        contract = dataclasses.replace(contract or constrained.OutputContract(), logprobs=logprobs)
    admitted = await admission.admit(asker.caller, request)
    return await services.exchange_start(
        admitted, extra=extra or {}, source=Conversation.Source.TASK, cache=None, output=contract
    )


async def finish(reply: services.Reply, tally: Tally) -> Outcome:
    """The call's outcome once saved; a failed call raises (422 when the model could not meet the schema twice)."""
    reply.generation.unsubscribe(reply.events)
    await reply.generation.finished.wait()
    return judged(reply.generation.outcome, tally)


def judged(outcome: Outcome, tally: Tally) -> Outcome:
    tally.add(outcome.usage)
    if outcome.status == Message.Status.COMPLETE:
        return outcome
    if outcome.error_code == structured.FAILED_CODE:
        raise ServiceError(structured.FAILED_CODE, outcome.error, status=422)
    raise ServiceError(outcome.error_code or "generation_failed", outcome.error or "The model failed.", status=502)


async def run(asker: Asker, tally: Tally, **call) -> Outcome:
    return await finish(await start(asker, **call), tally)
