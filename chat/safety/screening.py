"""Guardrail decisions, made and recorded: prompts screened before any model call, answers checked after.

Every decision is written down (``GuardrailEvent``) with its reason; the ones a person should look at (a refused
injection attempt, a leaked canary) also go to the moderation queue (``ModerationFlag``).
"""

import logging
import re
import time
from collections import Counter

from django.conf import settings

from accounts.models import User
from chat.models import BlockedTopic, GuardrailEvent, Message, ModerationFlag
from chat.safety import guardrails
from chat.safety.redaction import redact
from core import metrics
from core.errors import ServiceError

logger = logging.getLogger(__name__)

EXCERPT_CHARS = 500
BLOCKED_TOPICS_TTL = 5.0  # seconds an admin's edit takes to reach every process
_topics: list[tuple[str, str, list[re.Pattern]]] = []
_topics_loaded_at = 0.0


def excerpt(text: str) -> str:
    """What moderators see of a text: shortened, with PII already redacted."""
    return redact(text[:EXCERPT_CHARS])


def _compile(line: str) -> re.Pattern | None:
    line = line.strip()
    if not line:
        return None
    if line.startswith("re:"):
        try:
            return re.compile(line[3:].strip(), re.IGNORECASE)
        except re.error:
            logger.warning("blocked topic pattern %r is not a valid regular expression; ignored", line)
            return None
    words = r"\s+".join(re.escape(word) for word in guardrails.normalise(line).split())
    return re.compile(rf"\b{words}\b")


def blocked_topics() -> list[tuple[str, str, list[re.Pattern]]]:
    """(name, message for the user, patterns) of every enabled topic; cached per process for a few seconds."""
    global _topics, _topics_loaded_at
    if time.monotonic() - _topics_loaded_at > BLOCKED_TOPICS_TTL:
        _topics = [
            (topic.name, topic.message, [p for p in map(_compile, topic.patterns.splitlines()) if p])
            for topic in BlockedTopic.objects.filter(enabled=True)
        ]
        _topics_loaded_at = time.monotonic()
    return _topics


def forget_blocked_topics() -> None:
    global _topics_loaded_at
    _topics_loaded_at = 0.0


def record(
    *,
    user: User | None,
    stage: str,
    guardrail: str,
    action: str,
    reason: str,
    text: str = "",
    category: str = "",
    message: Message | None = None,
    flag: bool = False,
) -> GuardrailEvent:
    event = GuardrailEvent.objects.create(
        user=user,
        message=message,
        stage=stage,
        guardrail=guardrail,
        category=category,
        action=action,
        reason=reason[:300],
        excerpt=excerpt(text),
    )
    if flag:
        ModerationFlag.objects.create(
            source=ModerationFlag.Source.GUARDRAIL,
            reason=reason[:300],
            excerpt=event.excerpt,
            message=message,
            author=user,
            guardrail_event=event,
        )
    metrics.count(metrics.GUARDRAIL_DECISIONS, stage, guardrail, metrics.bounded(action, GuardrailEvent.Action.values))
    logger.info("guardrail %s/%s %s for user %s: %s", stage, guardrail, action, user and user.pk, reason)
    return event


def refuse_oversize(*, user: User, error: ServiceError, text: str) -> None:
    """Record a prompt refused for its size (the refusal itself is ``error``)."""
    record(user=user, stage="input", guardrail="size", action="blocked", reason=error.message, text=text)


def screen_prompt(*, user: User, texts: list[str], context: list[str] = ()) -> None:
    """Refuse (ServiceError 422) a prompt raising a blocked topic or, unless configured otherwise, one that looks
    like prompt injection. Records every finding; nothing is sent anywhere for a refused prompt.

    ``context`` is the rest of a caller-supplied prompt (system and assistant turns on /v1): it is screened for
    blocked topics too, since the model reads it all; injection heuristics apply to user turns only, because
    instructions are what a system turn is for."""
    joined = "\n".join(texts)
    everything = "\n".join([joined, *context])
    for name, message, patterns in blocked_topics():
        if found := guardrails.find_blocked_topic(everything, [(name, patterns)]):
            reason = f"Blocked topic “{name}” (matched “{found.evidence}”)."
            record(
                user=user, stage="input", guardrail="blocked_topic", category=name, action="blocked",
                reason=reason, text=joined,
            )  # fmt: skip
            raise ServiceError("blocked_topic", message or f"This service does not discuss {name}.", status=422)
    if settings.GUARDRAIL_INJECTION == "off":
        return
    found = guardrails.find_injection(joined)
    if found is None:
        return
    reason = f"Looks like prompt injection ({found.category.replace('_', ' ')}): “{found.evidence}”."
    block = settings.GUARDRAIL_INJECTION == "block"
    record(
        user=user, stage="input", guardrail="injection", category=found.category,
        action="blocked" if block else "flagged", reason=reason, text=joined, flag=True,
    )  # fmt: skip
    if block:
        raise ServiceError(
            "prompt_injection",
            "This message looks like an attempt to override the assistant's instructions, so it was not sent. "
            "Rephrase it as a plain request.",
            status=422,
        )


def record_answer(*, user_id: int, message_id, content: str, redactions: Counter, leaked: bool) -> None:
    """After an answer is saved: note what the output guard redacted, and flag a cut (leaked canary) answer."""
    if not redactions and not leaked:
        return
    user = User.objects.filter(pk=user_id).first()
    message = Message.objects.filter(pk=message_id).first()
    if redactions:
        found = ", ".join(f"{count} {kind}" for kind, count in sorted(redactions.items()))
        record(
            user=user, stage="output", guardrail="pii", category=",".join(sorted(redactions)), action="redacted",
            reason=f"Redacted from the answer: {found}.", message=message,
        )  # fmt: skip
    if leaked:
        record(
            user=user, stage="output", guardrail="canary", action="cut", message=message, text=content, flag=True,
            reason="The answer began to reveal the system prompt (its canary appeared) and was cut there.",
        )  # fmt: skip
