"""Answer generation: each answer runs as its own asyncio task, independent of whoever asked for it.

A websocket, an SSE response or an OpenAI-compatible request starts a generation and then merely watches it, so a
client that disconnects does not kill the answer: it completes and is saved. Watchers get events two ways:
in-process subscribers (the HTTP response that started it) and the channel-layer group of the conversation (every
open tab, in any web process). Text is written to the database at least every CHAT_FLUSH_SECONDS while streaming and
once at the end; stop, upstream failure and deadline all end in a saved message with its status and reason.
"""

import asyncio
import contextvars
import logging
import uuid

from channels.layers import get_channel_layer

from chat.generation import finisher, stop_control
from chat.generation.protocol import CHAT_EVENT, GenerationRequest, Outcome, conversation_group, done_event
from chat.generation.recorder import Recorder
from chat.models import Message
from chat.rag import grounding
from core import liveness, metrics, request_id, tracing
from core.db import in_db_thread

logger = logging.getLogger(__name__)


class Generation:
    def __init__(self, request: GenerationRequest) -> None:
        self.request = request
        self.parts: list[str] = []
        self.length = 0
        self.subscribers: set[asyncio.Queue] = set()
        self.stop_requested = False
        self.stop_reason = ""
        self.outcome: Outcome | None = None
        self.finished = asyncio.Event()
        # The model's part is over (the answer is still being saved): a caller pacing its use of the model's slots,
        # like the batch runner, can send its next request now instead of after the bookkeeping.
        self.streamed = asyncio.Event()
        self.task: asyncio.Task | None = None
        self._stream_task: asyncio.Task | None = None
        # "HIT", "MISS" or "" (not cached) once known, for HTTP entry points' X-Cache header.
        self.cache_status: asyncio.Future = asyncio.get_running_loop().create_future()

    def decide_cache(self, status: str) -> None:
        if not self.cache_status.done():
            self.cache_status.set_result(status)

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def subscribe(self) -> asyncio.Queue:
        """Events from now on; ``None`` marks the end. Call ``text`` first for what came before."""
        queue: asyncio.Queue = asyncio.Queue()
        if self.finished.is_set():
            queue.put_nowait(None)
        else:
            self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    async def publish(self, event: dict) -> None:
        for queue in self.subscribers:
            queue.put_nowait(event)
        if not self.request.live:
            return
        await get_channel_layer().group_send(
            conversation_group(self.request.conversation_id), {"type": CHAT_EVENT, "event": event}
        )

    def stop(self, reason: str = "") -> None:
        self.stop_requested = True
        self.stop_reason = reason  # saved with the answer: why it ended early, when it was not the user's wish
        if self._stream_task is not None:
            self._stream_task.cancel()


# The generations running in this process, by conversation: at most one answer per conversation at a time.
_running: dict[uuid.UUID, Generation] = {}


def running_in(conversation_id: uuid.UUID) -> Generation | None:
    return _running.get(conversation_id)


def start(request: GenerationRequest) -> Generation:
    if not request.admission.genuine:
        raise PermissionError("A generation starts only from chat.admission.admit(); this request skipped it.")
    generation = Generation(request)
    _running[request.conversation_id] = generation
    metrics.answer_started()
    liveness.keep_alive()  # its row names this process as the writer: keep the lease that says it is alive
    # A fresh context: the task must not inherit the caller's (a socket's) thread-sensitive executor, which ends
    # with the socket. The strong reference lives in _running until the task has saved its outcome.
    # Only the request id goes along, so its log lines name the request that started it.
    context = contextvars.Context()
    context.run(request_id.use, request_id.get())
    generation.task = asyncio.create_task(_traced(generation), name=f"generation-{request.message_id}", context=context)
    return generation


SHUTDOWN_REASON = "The server was restarting: the answer was stopped here and saved."


async def drain(grace: float, save_within: float = 5.0) -> int:
    """The process is shutting down: give running answers up to ``grace`` seconds to finish, then stop the rest,
    which are saved as stopped with the reason and send their final events. Returns how many had to be stopped."""
    running = [generation.task for generation in _running.values() if generation.task is not None]
    if running:
        await asyncio.wait(running, timeout=grace)
    cut = list(_running.values())
    for generation in cut:
        generation.stop(SHUTDOWN_REASON)
    tasks = [generation.task for generation in cut if generation.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=save_within)
    return len(cut)


async def request_stop(conversation_id: uuid.UUID) -> None:
    """Stop the conversation's answer wherever it runs: here at once, elsewhere through the control group."""
    generation = _running.get(conversation_id)
    if generation is not None:
        generation.stop()
        return
    await stop_control.broadcast_stop(conversation_id)


publish_closed = stop_control.publish_closed


async def _traced(generation: Generation) -> None:
    request = generation.request
    attributes = {"gen_ai.request.model": request.model.name, "genaisite.source": request.source}
    with tracing.span("llm.answer", **attributes) as span:
        await _run(generation)
        if span is not None and generation.outcome is not None:
            span.set_attribute("genaisite.status", str(generation.outcome.status))


async def _run(generation: Generation) -> None:
    request = generation.request
    recorder = Recorder(generation)
    try:
        try:
            await stop_control.listener_ready(running_in)
        except Exception as exc:  # answering matters more than being stoppable from another process
            logger.warning("answer %s starts without listening for stops from elsewhere: %r", request.message_id, exc)
        generation._stream_task = asyncio.create_task(recorder.stream())
        if generation.stop_requested:  # stopped before it even began
            generation._stream_task.cancel()
        await asyncio.wait([generation._stream_task])
        generation.streamed.set()
        if generation._stream_task.cancelled():
            await recorder.show_held_back()
        await recorder.deltas.drain()  # every piece of text goes out before the closing events
        outcome = recorder.outcome(cancelled=generation._stream_task.cancelled())
        generation.outcome = outcome
        if outcome.status == Message.Status.FAILED:
            await generation.publish(
                {
                    "type": "error",
                    "message_id": str(request.message_id),
                    "code": outcome.error_code,
                    "message": outcome.error,
                }
            )
        await recorder.wait_for_flush()
        cited = recorder.grounding is not None and bool(outcome.content)
        if cited:
            request.sources = await _cite(outcome.content, recorder.grounding)
        elif recorder.hit is not None and recorder.hit.sources:
            request.sources, cited = recorder.hit.sources, True  # a semantic hit skipped retrieval: its citations
        if cited:
            await generation.publish(
                {"type": "sources", "message_id": str(request.message_id), "sources": request.sources}
            )
        await finisher.save(request, outcome)
        if recorder.hit is None and recorder.cache_key is not None:  # before "done": the next request may use it
            await finisher.keep_in_cache(request, outcome, recorder.cache_key, recorder.probe, recorder.grounding)
        await generation.publish(done_event(request, outcome))
    finally:
        generation.decide_cache("")
        recorder.deltas.stop()
        _running.pop(request.conversation_id, None)
        generation.streamed.set()
        generation.finished.set()
        for queue in generation.subscribers:
            queue.put_nowait(None)
        recorder.measure(generation.outcome)  # last: the subscribers are told first, whatever happens here


async def _cite(answer: str, found: grounding.Grounding) -> list[dict]:
    try:
        return await in_db_thread(grounding.cited_sources)(answer, found)
    except Exception:
        logger.exception("could not work out the cited sources")
        return []
