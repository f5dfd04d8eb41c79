"""What happens to an answer once it has been written, and to answers whose writer died.

The engine calls ``flush`` while text streams and ``save`` once at the end; the periodic reaper closes answers
left open by a process that died. A complete answer that needs a title sends ``answer_completed``: the title task
listens (chat.tasks), so this module never imports the layer that schedules work.
"""

import asyncio
import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from chat import answer_cache, llm, message_rows, quotas
from chat.generation.protocol import GenerationRequest, Outcome
from chat.models import Message
from chat.safety import screening
from core import liveness
from core.db import in_db_thread

logger = logging.getLogger(__name__)

# An open answer untouched for this long belongs to no running generation any more (its process died).
STALE_AFTER = timedelta(seconds=settings.LLM_DEADLINE + 60)

# Sent with ``conversation_id`` after a complete answer is saved in a conversation that still has no title.
answer_completed = Signal()


async def _rows_ready(request: GenerationRequest) -> None:
    if request.persisted is not None:
        await asyncio.shield(request.persisted)


async def flush(request: GenerationRequest, text: str) -> None:
    message_id = request.message_id
    try:
        await _rows_ready(request)
        await in_db_thread(message_rows.answer_flush)(message_id=message_id, content=text)
    except Exception:  # a missed flush only widens what a crash could lose; the final save still runs
        logger.exception("could not flush streamed text of message %s", message_id)


async def save(request: GenerationRequest, outcome: Outcome) -> None:
    for attempt in range(5):
        try:
            await _rows_ready(request)
            await in_db_thread(_record)(request, outcome)
            return
        except Exception:
            logger.exception("could not save the answer %s (attempt %d)", request.message_id, attempt + 1)
            await asyncio.sleep(0.5 * 2**attempt)
    await release_unrecorded_hold(request)


async def release_unrecorded_hold(request: GenerationRequest) -> None:
    """The answer could not be saved. If its rows were never written, no reaper will ever find its hold: give it
    back here. (With rows, the reaper gives it back from the message row, exactly once.)"""
    rows_missing = request.persisted is not None and request.persisted.done() and request.persisted.exception()
    if not rows_missing:
        return
    try:
        await in_db_thread(quotas.release)(request.hold)
    except Exception:
        logger.exception("could not give back the hold of the unsaved answer %s", request.message_id)


def _record(request: GenerationRequest, outcome: Outcome) -> None:
    usage = outcome.usage or llm.Usage(0, 0, estimated=True)
    message_rows.answer_save(
        message_id=request.message_id,
        conversation_id=request.conversation_id,
        user_id=request.user_id,
        model=request.model.name,
        sources=request.sources,
        hold=request.hold,
        outcome={
            "content": outcome.content,
            "status": outcome.status,
            "error": outcome.error,
            "finish_reason": outcome.finish_reason,
            "usage": {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "estimated": usage.estimated,
            },
            "time_to_first_token_ms": outcome.time_to_first_token_ms,
            "duration_ms": outcome.duration_ms,
            "cached": outcome.cached,
            "cache_entry_id": outcome.cache_entry_id,
            "tool_calls": outcome.tool_calls,
        },
    )
    if request.cache is not None and (request.cache.look_up or outcome.cached):
        answer_cache.count(outcome.cached, outcome.cache_saved_tokens)
    if request.guard is not None:
        screening.record_answer(
            user_id=request.user_id,
            message_id=request.message_id,
            content=outcome.withheld or outcome.content,
            redactions=request.guard.redactions,
            leaked=request.guard.leaked,
        )
    # A title summarises an answer: none for an empty or failed one (the next complete answer gets it).
    if request.needs_title and outcome.status == Message.Status.COMPLETE and outcome.content.strip():
        answer_completed.send(sender=None, conversation_id=request.conversation_id)


async def keep_in_cache(request: GenerationRequest, outcome: Outcome, key: str, probe, found) -> None:
    """A complete answer from the model is kept for its key (and question, for the semantic cache); never a cut or
    failed one. A cache that cannot keep it costs nothing but the next hit."""
    plan = request.cache
    if plan is None or outcome.status != Message.Status.COMPLETE or not outcome.content.strip():
        return
    sources = found.sources if found else []
    try:
        await in_db_thread(answer_cache.store)(
            user_id=plan.user_id,
            key=key,
            model=request.model.name,
            content=outcome.content,
            finish_reason=outcome.finish_reason,
            usage=outcome.usage or llm.Usage(0, 0, estimated=True),
            document_ids=[s["document_id"] for s in sources if s.get("kind") == "document"],
            origin_id=request.message_id,
            probe=probe,
            sources=request.sources,
        )
    except Exception:
        logger.exception("could not keep answer %s in the cache", request.message_id)


@transaction.atomic
def interrupted_messages_reap() -> int:
    """Close answers whose generation died with its process: keep the text, mark them failed with the reason. A
    writer whose liveness lease expired is dead at once; an answer without one (or whose broker is unreachable) is
    judged by its age."""
    open_answers = Message.objects.filter(status__in=[Message.Status.PENDING, Message.Status.STREAMING])
    writers = set(
        open_answers.filter(created_at__lt=timezone.now() - timedelta(seconds=liveness.lease_seconds()))
        .exclude(writer="")
        .values_list("writer", flat=True)
        .distinct()
    )
    closed = len(message_rows.dead_answers_close(writers=sorted(dead))) if (dead := liveness.dead(writers)) else 0
    stale = open_answers.filter(updated_at__lt=timezone.now() - STALE_AFTER)
    quotas.release_interrupted(list(stale.values_list("pk", flat=True)))
    return closed + stale.update(
        status=Message.Status.FAILED, error=message_rows.INTERRUPTED, updated_at=timezone.now()
    )
