"""The part of a generation that consumes the model's stream: relays each piece, flushes text as it goes, serves
answer-cache hits and answers under an output contract (chat.generation.constrained). The engine owns the task."""

import asyncio
import logging
import time

from django.conf import settings

from chat import answer_cache, llm
from chat.generation import constrained, finisher
from chat.generation.delta_batching import DeltaBatcher
from chat.generation.protocol import GenerationRequest, Outcome
from chat.models import Message
from chat.rag import grounding
from chat.safety import guardrails
from core import metrics
from core.db import in_db_thread

logger = logging.getLogger(__name__)


class Recorder:
    """Consumes the model's stream: relays each piece, flushes text to the database as it goes."""

    def __init__(self, generation) -> None:  # an engine.Generation
        self.generation = generation
        self.started = time.monotonic()
        self.first_token_at: float | None = None
        self.last_token_at: float | None = None
        self.relayed = 0  # pieces shown, for the mean gap between them
        self.last_flush = self.started
        self.flushing: asyncio.Task | None = None
        self.error: llm.LLMError | None = None
        self.usage: llm.Usage | None = None
        self.finish_reason = ""
        self.grounding: grounding.Grounding | None = None
        self.pieces = 0  # as the model sent them, before the guard: a fallback count of completion tokens
        self.cut = False
        self.deltas = DeltaBatcher(str(generation.request.message_id), generation.publish)
        self.cache_key: str | None = None
        self.hit: answer_cache.Hit | None = None
        self.probe = None  # a single-turn question's partition and embedding (semantic cache)
        self.tool_calls: list[dict] = []
        self.rejected = ""  # output that failed its format twice: saved with the failed answer, never shown

    async def stream(self) -> None:
        request = self.generation.request
        message_id = str(request.message_id)
        guard = request.guard
        try:
            if await self._served_semantically():
                return
            prompt = await self._grounded_prompt()
            if await self._served_from_cache(prompt):
                return
            contract, extra = request.output, request.extra
            if contract is not None and contract.enforced is not None:
                await self._checked(prompt)
                return
            if contract is not None:
                prompt, extra = contract.backend_prompt(prompt), {**extra, **contract.backend_fields()}
            logprobs = contract.logprobs if contract is not None else None
            chunks = llm.stream_chat(
                request.model,
                prompt,
                max_tokens=request.max_tokens,
                token_logprobs=logprobs,
                streamed=request.live,
                **extra,
            )
            try:
                async for chunk in chunks:
                    if chunk.text:
                        self.pieces += 1
                        shown = guard.feed(chunk.text) if guard else chunk.text
                        if shown:
                            await self._relay(message_id, shown)
                    if chunk.usage is not None:
                        self.usage = chunk.usage
                        self.finish_reason = chunk.finish_reason or ""
                        self.tool_calls = chunk.tool_calls or []
            finally:
                await chunks.aclose()  # a cut answer leaves the upstream mid-stream: hang up on it now
            if guard and (rest := guard.finish()):
                await self._relay(message_id, rest)
        except llm.LLMError as exc:
            self.error = exc
            await self.show_held_back()
        except guardrails.CanaryLeak:
            self.cut = True

    async def _checked(self, prompt: list[dict]) -> None:
        """An answer that must meet a format: shown whole once it does (chat.generation.constrained)."""
        request = self.generation.request
        result = await constrained.checked_answer(
            request.model,
            prompt,
            max_tokens=request.max_tokens,
            extra=request.extra,
            contract=request.output,
            streamed=request.live,
        )
        self.pieces += result.pieces
        self.usage, self.finish_reason, self.tool_calls = result.usage, result.finish_reason, result.tool_calls
        if result.error is None:
            try:
                shown = constrained.guarded(request.guard, result.content, request.output, result.tool_calls)
            except constrained.RedactedMismatch as mismatch:
                result.error, result.rejected = mismatch.error, result.content
        if result.error is not None:
            self.error, self.rejected = result.error, result.rejected
            return
        if shown:
            await self._relay(str(request.message_id), shown)

    async def _served_semantically(self) -> bool:
        """Before retrieval: a single-turn question that means the same as an earlier one gets that answer."""
        generation, plan = self.generation, self.generation.request.cache
        if plan is None or not plan.semantic or generation.request.output is not None:  # same meaning, other format
            return False
        request = generation.request
        try:
            hit, self.probe = await in_db_thread(answer_cache.semantic_lookup)(
                plan, request.model.name, request.prompt, request.extra, request.max_tokens
            )
        except Exception:  # the embedding service or the database is struggling: answer as if there were no cache
            logger.exception("semantic cache lookup failed for message %s", request.message_id)
            return False
        if hit is None:
            return False
        await self._serve(hit)
        return True

    async def _served_from_cache(self, prompt: list[dict]) -> bool:
        """After retrieval: the very same final request as an earlier one gets its answer; a miss notes the key."""
        generation, plan = self.generation, self.generation.request.cache
        if plan is None or _calls_tools(generation.request):  # an entry keeps text, not tool calls
            generation.decide_cache("")
            return False
        request = generation.request
        output = request.output.backend_fields() if request.output is not None else {}
        self.cache_key = answer_cache.request_key(
            request.model.name, prompt, {**request.extra, **output}, request.max_tokens, plan.canary
        )
        hit = None
        try:
            hit = await in_db_thread(answer_cache.lookup)(plan.user_id, self.cache_key) if plan.look_up else None
        except Exception:  # the cache is an optimisation: a failed lookup is a miss
            logger.exception("answer cache lookup failed for message %s", request.message_id)
        if hit is None:
            generation.decide_cache("MISS")
            return False
        await self._serve(hit)
        return True

    async def _serve(self, hit: answer_cache.Hit) -> None:
        """A hit is relayed like a model's answer (one piece), finished as it was, with no model tokens."""
        self.hit = hit
        self.generation.decide_cache("HIT")
        await self._relay(str(self.generation.request.message_id), hit.content)
        self.finish_reason = hit.finish_reason
        self.usage = llm.Usage(0, 0, estimated=False)

    async def _grounded_prompt(self) -> list[dict]:
        request = self.generation.request
        if request.ground is None:
            return request.prompt
        try:
            self.grounding = await request.ground()
        except Exception:  # retrieval trouble must not cost the user the answer itself
            logger.exception("retrieval failed for message %s", request.message_id)
            self.grounding = None
        context = self.grounding.message() if self.grounding else None
        if context is None:
            return request.prompt
        await self._announce_web_pages()
        # The sources go right before the question, where a model weighs them most.
        return [*request.prompt[:-1], context, request.prompt[-1]]

    async def _announce_web_pages(self) -> None:
        """Tell watchers at once which links were read and which could not be used, and why."""
        found = self.grounding
        pages = [
            {"url": s["url"], "title": s["title"], "cached": s.get("cached", False)}
            for s in found.sources
            if s.get("kind") == "web"
        ]
        if pages or found.unusable:
            message_id = str(self.generation.request.message_id)
            await self.generation.publish(
                {"type": "web", "message_id": message_id, "pages": pages, "unusable": found.unusable}
            )

    async def _relay(self, message_id: str, text: str) -> None:
        generation = self.generation
        now = time.monotonic()
        if self.first_token_at is None:
            self.first_token_at = now
            metrics.first_token()
        self.last_token_at, self.relayed = now, self.relayed + 1
        offset = generation.length
        generation.parts.append(text)
        generation.length += len(text)
        await self.deltas.add(offset, text)
        due = now - self.last_flush >= settings.CHAT_FLUSH_SECONDS
        if generation.request.live and due and (self.flushing is None or self.flushing.done()):
            # In the background: the next token must not wait for the database.
            self.last_flush = now
            self.flushing = asyncio.create_task(finisher.flush(generation.request, generation.text))

    async def wait_for_flush(self) -> None:
        if self.flushing is not None:
            await asyncio.wait([self.flushing])

    async def show_held_back(self) -> None:
        """Stopped or failed: the words the guard still held belong to the partial answer; shown, then saved."""
        if rest := self._held_back():
            await self._relay(str(self.generation.request.message_id), rest)

    def _held_back(self) -> str:
        """What the guard still holds when the stream ends early (stop, failure): part of the answer, shown now."""
        guard = self.generation.request.guard
        if guard is None or self.cut:
            return ""
        try:
            return guard.finish()
        except guardrails.CanaryLeak:
            self.cut = True
            return ""

    def outcome(self, *, cancelled: bool) -> Outcome:
        generation = self.generation
        text = generation.text + self._held_back()
        usage = self.usage
        if usage is None:  # stopped or failed before the backend reported usage
            prompt = llm.estimate_prompt_tokens(generation.request.prompt)
            usage = llm.Usage(prompt, self.pieces, estimated=True)
        ttft = (self.first_token_at - self.started) * 1000 if self.first_token_at else None
        result = Outcome(
            status=Message.Status.COMPLETE,
            content=text or self.rejected,
            finish_reason=self.finish_reason,
            usage=usage,
            time_to_first_token_ms=ttft,
            duration_ms=(time.monotonic() - self.started) * 1000,
            tool_calls=self.tool_calls,
        )
        if self.hit is not None:
            result.cached, result.cache_entry_id = self.hit.kind, self.hit.entry_id
            result.cache_saved_tokens = self.hit.saved_tokens
        if self.cut:
            result.status, result.finish_reason = Message.Status.STOPPED, "content_filter"
            result.error_code = "output_blocked"
            result.error = "The answer was cut here: it began to reveal the assistant's confidential instructions."
            result.withheld = generation.request.guard.withheld()
        elif cancelled:
            result.status, result.finish_reason = Message.Status.STOPPED, "stopped"
            result.error = generation.stop_reason
        elif self.error is not None:
            result.status, result.error, result.error_code = Message.Status.FAILED, self.error.message, self.error.code
        return result

    def measure(self, outcome: Outcome | None) -> None:
        """The answer's numbers to the metrics, once it has ended (``None``: it ended in an error of ours)."""
        request, first = self.generation.request, self.first_token_at
        usage = outcome.usage if outcome is not None else None
        gaps = self.relayed - 1
        metrics.answer_finished(
            model=request.model.name,
            source=request.source,
            outcome=_outcome_label(outcome),
            ttft=first - self.started if first is not None else None,
            inter_token=(self.last_token_at - first) / gaps if first is not None and gaps > 0 else None,
            duration=time.monotonic() - self.started,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


def _outcome_label(outcome: Outcome | None) -> str:
    if outcome is None:
        return "failed"
    if outcome.cached:
        return "cache_hit"
    if outcome.error_code == "output_blocked":
        return "cut"
    return {Message.Status.COMPLETE: "complete", Message.Status.STOPPED: "stopped"}.get(outcome.status, "failed")


def _calls_tools(request: GenerationRequest) -> bool:
    return request.output is not None and request.output.tools is not None
