"""Summaries by map-reduce: a text or document that fits one window is summarised in one call; a longer one is
summarised window by window (each window a group of consecutive chunks), then the partial summaries are combined
— in rounds, if even they do not fit one window. Every call is its own admitted, recorded generation.

Citations name, for each partial summary (the parts the final summary is made of), the pages, sections and chunks
it was written from.
"""

import asyncio
import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from chat import services
from chat.nlp_tasks import calls, prompts
from chat.nlp_tasks.sources import Piece, Source, joined, origin, room, windows
from core.errors import ServiceError

MAX_WINDOWS = 12  # map calls per request: a longer document is summarised from its start, and says so
CONCURRENT_CALLS = 4
TOKENS_PER_WORD = 1.4


@dataclass
class Plan:
    """Everything before the final call: the parts (with their citations) and that call's prompt."""

    system: str
    user: str
    from_user: bool
    max_tokens: int | None
    parts: list[dict]
    truncated: bool
    tally: calls.Tally = field(default_factory=calls.Tally)

    def result(self, summary: str) -> dict:
        if len(self.parts) == 1:  # no combining step: the summary is the one part
            self.parts[0]["summary"] = summary
        return {
            "summary": summary,
            "citations": self.parts,
            "truncated": self.truncated,
            "usage": self.tally.as_dict(),
        }


def answer_tokens(asker: calls.Asker, max_words: int | None) -> int:
    limit = asker.config.max_output_tokens
    return min(limit, math.ceil(max_words * TOKENS_PER_WORD) + 8) if max_words else limit


async def _summaries(asker: calls.Asker, tally: calls.Tally, groups: list[list[Piece]], *, system: str, from_user):
    gate = asyncio.Semaphore(CONCURRENT_CALLS)  # the model server's slots are shared with everyone else's answers

    async def one(group: list[Piece]) -> str:
        async with gate:
            user = prompts.summarize_user(joined(group), None)
            outcome = await calls.run(asker, tally, system=system, user=user, data_is_users=from_user)
            return outcome.content.strip()

    return await asyncio.gather(*(one(group) for group in groups))


async def prepare(asker: calls.Asker, source: Source, max_words: int | None) -> Plan:
    """Runs the map (and any intermediate combining) calls; the final call is the caller's to run or stream."""
    final_tokens = answer_tokens(asker, max_words)
    window = room(asker.config, asker.config.max_output_tokens)
    groups = windows(source.pieces, window)
    truncated, groups = len(groups) > MAX_WINDOWS, groups[:MAX_WINDOWS]
    if len(groups) == 1:
        user = prompts.summarize_user(joined(groups[0]), max_words)
        parts = [{"part": 1, "summary": "", **origin(groups[0])}]
        return Plan(prompts.SUMMARIZE_SYSTEM, user, source.from_user, final_tokens, parts, truncated)
    tally = calls.Tally()
    system = prompts.SUMMARIZE_SYSTEM
    summaries = await _summaries(asker, tally, groups, system=system, from_user=source.from_user)
    parts = [
        {"part": n, "summary": text, **origin(group)}
        for n, (text, group) in enumerate(zip(summaries, groups, strict=True), 1)
    ]
    texts = [Piece(text, n) for n, text in enumerate(summaries)]
    while len(combined := windows(texts, window)) > 1:  # the summaries themselves are too long for one call
        merged = await _summaries(asker, tally, combined, system=prompts.COMBINE_SYSTEM, from_user=False)
        texts = [Piece(text, n) for n, text in enumerate(merged)]
    user = prompts.summarize_user(joined(texts), max_words)
    # The partial summaries are the model's own writing, not the caller's: screened like sources, not as a prompt.
    return Plan(prompts.COMBINE_SYSTEM, user, False, final_tokens, parts, truncated, tally)


async def start_final(asker: calls.Asker, plan: Plan) -> services.Reply:
    return await calls.start(
        asker, system=plan.system, user=plan.user, data_is_users=plan.from_user, max_tokens=plan.max_tokens
    )


async def summarize(asker: calls.Asker, source: Source, max_words: int | None) -> dict:
    plan = await prepare(asker, source, max_words)
    outcome = await calls.finish(await start_final(asker, plan), plan.tally)
    return plan.result(outcome.content.strip())


def _event(name: str, data: dict) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def stream(plan: Plan, reply: services.Reply) -> AsyncIterator[str]:
    """The final call as Server-Sent Events: ``delta`` pieces as the model writes, then ``summary`` (the whole
    result, citations and usage) or ``error``."""
    running, events = reply.generation, reply.events
    try:
        while (event := await events.get()) is not None:
            if event["type"] == "delta":
                yield _event("delta", {"offset": event["offset"], "text": event["text"]})
        try:
            outcome = calls.judged(running.outcome, plan.tally)
        except ServiceError as failed:
            yield _event("error", {"code": failed.code, "message": failed.message})
            return
        yield _event("summary", plan.result(outcome.content.strip()))
    finally:
        running.unsubscribe(events)  # a client that goes away only stops watching; the call completes and is saved
