"""Running a batch's lines: each one claimed with a lease, run through the same start as its /v1 request (the gate,
quotas, guardrails, the answer cache for a chat completion; the gate, quotas, the ledger for an embedding), its
response kept on its row.

A line is claimed by one process at a time (``FOR UPDATE SKIP LOCKED``) and names it (``core.liveness``); a line
whose process died is claimed again, and its result is recorded only by the process holding it, so no line ends
twice. At most BATCH_CONCURRENCY_PER_USER lines of one person run at once, whatever the number of workers: the
model server's other slots stay free for people chatting. A spent daily budget parks the batch, with the reason
shown, until the reset.
"""

import asyncio
import json
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from batches import embedding_lines, services
from batches.models import Batch, BatchLine
from batches.validation import CHAT_COMPLETIONS, EMBEDDINGS
from chat import admission
from chat.models import Conversation
from chat.openai_compat.request import parse_completion
from chat.openai_compat.views import (
    answered_as,
    completion_result,
    error_body,
    service_error_body,
    start_completion,
)
from core import liveness, metrics
from core.db import in_db_thread
from core.errors import ServiceError

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 3  # a line that keeps failing inside the service ends failed, instead of being retried for ever
LINES_AHEAD = 1  # claimed before a slot frees: one is enough, a claim takes about 20 ms and a line hundreds


def _lease() -> timedelta:
    return timedelta(seconds=settings.LLM_DEADLINE + 60)


def claim(batch_id: str, count: int, *, off_model: Collection[int] = (), ahead: int = 0) -> list[BatchLine]:
    """Up to ``count`` lines to run now: pending ones, or running ones whose process died, within the owner's cap.
    ``off_model``: this process's lines whose answer is written but not yet saved; they no longer hold a model slot.
    ``ahead``: lines this process may hold beyond the cap, claimed in advance and started only when a slot frees (so
    the claim's round trips are not between one line's end and the next one's start)."""
    with transaction.atomic():
        batch = Batch.objects.select_for_update().get(pk=batch_id)
        if batch.status != Batch.Status.IN_PROGRESS or timezone.now() >= batch.expires_at:
            return []
        now = timezone.now()
        running = list(
            BatchLine.objects.filter(
                batch__owner_id=batch.owner_id, state=BatchLine.State.RUNNING, leased_until__gt=now
            )
            .exclude(pk__in=off_model)
            .values_list("worker", flat=True)
        )
        dead = liveness.dead(set(running))
        held = sum(worker not in dead for worker in running)
        room = min(count, settings.BATCH_CONCURRENCY_PER_USER + ahead - held)
        if room <= 0:
            return []
        lines = BatchLine.objects.select_for_update(skip_locked=True).filter(batch=batch).order_by("number")
        # A line held by a dead process, or past its lease (its holder is stuck), is taken over.
        abandoned = Q(worker__in=dead) | Q(leased_until__lte=now)
        found = list(lines.filter(state=BatchLine.State.PENDING)[:room]) or list(
            lines.filter(abandoned, state=BatchLine.State.RUNNING)[:room]
        )
        for line in found:
            line.state, line.worker, line.leased_until = BatchLine.State.RUNNING, liveness.PROCESS_ID, now + _lease()
            line.attempts += 1
        BatchLine.objects.bulk_update(found, ["state", "worker", "leased_until", "attempts"])
        if found and batch.waiting_reason:
            Batch.objects.filter(pk=batch_id).update(waiting_reason="")
        return found


def record(line: BatchLine, status_code: int, body: dict, usage: dict | None) -> bool:
    """The line's result, if this process still holds it (a line taken over after a stall is the new holder's)."""
    state = BatchLine.State.SUCCEEDED if status_code == 200 else BatchLine.State.FAILED
    with transaction.atomic():
        updated = BatchLine.objects.filter(
            pk=line.pk, state=BatchLine.State.RUNNING, worker=liveness.PROCESS_ID
        ).update(state=state, status_code=status_code, response=body, finished_at=timezone.now(), leased_until=None)
        if updated:
            # Live counts, as OpenAI's request_counts move while a batch runs; finalizing recounts them from the rows.
            counter = "completed" if state == BatchLine.State.SUCCEEDED else "failed"
            tokens = (
                {
                    "prompt_tokens": F("prompt_tokens") + usage["prompt_tokens"],
                    "completion_tokens": F("completion_tokens") + usage["completion_tokens"],
                }
                if usage
                else {}
            )
            Batch.objects.filter(pk=line.batch_id).update(**{counter: F(counter) + 1}, **tokens)
            services.batch_changed_by_id(line.batch_id)
    if updated:
        metrics.count(metrics.BATCH_LINES, state)
    return bool(updated)


def release(line: BatchLine, *, attempted: bool = True) -> None:
    """Back to pending. A line that only waited for its owner's budget gives its attempt back: attempts count
    failures inside the service (MAX_ATTEMPTS), not how often a batch was parked."""
    given_back = {} if attempted else {"attempts": F("attempts") - 1}
    BatchLine.objects.filter(pk=line.pk, worker=liveness.PROCESS_ID, state=BatchLine.State.RUNNING).update(
        state=BatchLine.State.PENDING, leased_until=None, worker="", **given_back
    )


def park(batch_id: str, reason: str) -> None:
    Batch.objects.filter(pk=batch_id).update(waiting_reason=reason[:300])
    services.batch_changed_by_id(batch_id)


def settle(batch_id: str) -> str:
    """After a round: finalize a batch with nothing left to do (or cancelled, or past its window, with nothing
    running); otherwise say who still has it."""
    batch = Batch.objects.get(pk=batch_id)
    left = services.open_lines(batch_id)
    stopping = batch.status == Batch.Status.CANCELLING or timezone.now() >= batch.expires_at
    if (stopping and not left["running"]) or not (left["pending"] or left["running"]):
        services.batch_finalize(batch_id)
        return "finished"
    return "elsewhere"


async def _chat_completion(
    caller: admission.Caller, body: dict, off_model: asyncio.Event
) -> tuple[int, dict, dict | None]:
    completion = parse_completion(json.dumps(body).encode())
    reply = await start_completion(caller, completion, source=Conversation.Source.BATCH)
    reply.generation.unsubscribe(reply.events)
    await reply.generation.streamed.wait()
    off_model.set()  # the next line may start while this answer is saved
    await reply.generation.finished.wait()
    completion_id = f"chatcmpl-{reply.turn.assistant_message.pk.hex}"
    status, answered = completion_result(reply.generation, completion_id, answered_as(completion, reply.generation))
    return status, answered, answered.get("usage")


async def _embedding(caller: admission.Caller, body: dict, off_model: asyncio.Event) -> tuple[int, dict, dict]:
    return await embedding_lines.answer(caller, body)


# Each endpoint's answer to a line: (HTTP status, response body, usage), or a ServiceError for a refusal. Each sets
# ``off_model`` once it no longer uses the model, if that is before it returns.
ANSWERS = {CHAT_COMPLETIONS: _chat_completion, EMBEDDINGS: _embedding}


@dataclass
class _Running:
    line: BatchLine
    off_model: asyncio.Event = field(default_factory=asyncio.Event)


async def _run_line(batch: Batch, line: BatchLine, off_model: asyncio.Event) -> str:
    """'done', or 'parked' when the owner's budget is spent (the line goes back to pending)."""
    try:
        caller = admission.Caller(user=batch.owner, batch_line=True)
        status, body, usage = await ANSWERS[batch.endpoint](caller, line.body, off_model)
    except ServiceError as exc:
        if exc.code == "quota_exceeded":
            await in_db_thread(release)(line, attempted=False)
            await in_db_thread(park)(line.batch_id, exc.message)
            metrics.count(metrics.BATCH_LINES, "parked")
            return "parked"
        await in_db_thread(record)(line, exc.status, service_error_body(exc), None)
        return "done"
    await in_db_thread(record)(line, status, body, usage)
    return "done"


async def _guarded(batch: Batch, running: _Running) -> str:
    line = running.line
    try:
        return await _run_line(batch, line, running.off_model)
    except Exception:  # a bug must not strand the line as running: it goes back for another try
        logger.exception("batch %s line %s failed unexpectedly", line.batch_id, line.number)
        if line.attempts < MAX_ATTEMPTS:
            await in_db_thread(release)(line)
            return "released"
        body = error_body("The request failed inside the service, repeatedly.", kind="api_error", code="internal_error")
        await in_db_thread(record)(line, 500, body, None)
        return "done"
    finally:
        running.off_model.set()


async def run_batch(batch_id: str, *, slice_seconds: float = 30.0) -> str:
    """Keep up to BATCH_CONCURRENCY_PER_USER lines on the model for about ``slice_seconds``, then give the worker back
    ('more': the task queues itself again, behind interactive work). Otherwise 'finished', 'parked' (budget spent)
    or 'elsewhere' (another process runs the rest).

    A slot is refilled the moment its line's answer is written (while that answer is still being saved) from one
    line claimed in advance, so the model does not wait for our bookkeeping, nor for the slowest line of a group."""
    liveness.keep_alive()
    batch = await Batch.objects.select_related("owner").aget(pk=batch_id)
    ends = time.monotonic() + slice_seconds
    tasks: dict[asyncio.Task, _Running] = {}
    ready: list[BatchLine] = []  # claimed in advance, not started yet
    parked = False
    while True:
        on_model = [running for running in tasks.values() if not running.off_model.is_set()]
        taking = not parked and time.monotonic() < ends
        if taking:
            _fill(batch, ready, tasks, on_model)  # first, from the line claimed in advance: no claim between lines
        wanted = settings.BATCH_CONCURRENCY_PER_USER - len(on_model) + LINES_AHEAD - len(ready)
        if taking and wanted > 0:
            saving = [running.line.pk for running in tasks.values() if running.off_model.is_set()]
            ready += await in_db_thread(claim)(batch_id, wanted, off_model=saving, ahead=LINES_AHEAD)
            _fill(batch, ready, tasks, on_model)
        if not tasks:
            break
        parked = await _next_change(tasks, on_model) or parked
    for line in ready:  # never started: back to pending, its attempt given back
        await in_db_thread(release)(line, attempted=False)
    if parked:
        return "parked"
    if time.monotonic() >= ends and (await in_db_thread(services.open_lines)(batch_id))["pending"]:
        return "more"
    return await in_db_thread(settle)(batch_id)


def _fill(batch: Batch, ready: list[BatchLine], tasks: dict[asyncio.Task, _Running], on_model: list[_Running]) -> None:
    """Start claimed lines while a model slot is free."""
    while ready and len(on_model) < settings.BATCH_CONCURRENCY_PER_USER:
        running = _Running(ready.pop(0))
        tasks[asyncio.create_task(_guarded(batch, running))] = running
        on_model.append(running)


async def _next_change(tasks: dict[asyncio.Task, _Running], on_model: list[_Running]) -> bool:
    """Wait until a line leaves the model or ends; forget the ended ones. True when one parked the batch."""
    leaving = [asyncio.ensure_future(running.off_model.wait()) for running in on_model]
    try:
        await asyncio.wait([*tasks, *leaving], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in leaving:
            waiter.cancel()
    ended = [task for task in tasks if task.done()]
    for task in ended:
        del tasks[task]
    return any(task.result() == "parked" for task in ended)
