"""The exact answer cache: a repeated request gets the answer its first asking got, without the model.

The key is a hash of the final upstream request — model, every message as sent (system prompt, history, the
retrieved document and web text), sampling parameters and the output limit — so editing a document changes the key
by itself. The per-request canary in our system prompt is left out of it (it differs every time, by design).

Never across people: entries are partitioned by user, so an answer is only ever served to the person whose own
request produced it (no one learns from a hit what someone else asked, and no answer built on a private document
reaches anyone else). Deleting, re-ingesting or re-sharing a document removes every entry that used it; a
thumbs-down or a moderator's hide removes the entry the answer came from (or went into); entries expire after
``ANSWER_CACHE_TTL_SECONDS``.

Used when the request is deterministic (temperature 0, or a seed) or the client asks for it (``cache: true``);
``Cache-Control: no-cache`` or ``cache: false`` asks for a fresh answer (which then replaces the entry), and
``no-store`` keeps it out of the cache altogether. On/off per role (``RolePolicy.answer_cache``) and per model
(``"cache": false`` in ``LLM_MODELS``).
"""

import asyncio
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone

from accounts.policies import Policy
from chat import llm, semantic_cache
from chat.models import AnswerCacheEntry, Message
from chat.rag.grounding import DocumentScope
from chat.safety import guardrails
from core import metrics, shared_redis
from core.errors import ServiceError
from documents.services import document_changed

logger = logging.getLogger(__name__)

EXACT = "exact"
SEMANTIC = "semantic"


@dataclass(frozen=True)
class CachePlan:
    """How one request uses the cache: whose entries, whether to look (a fresh answer does not; its answer is kept
    all the same), and the canary to leave out of the key."""

    user_id: int
    look_up: bool = True
    canary: str | None = None
    semantic: bool = False  # the role allows the semantic cache (single-turn questions only)
    scope: DocumentScope | None = None  # the documents the answer may be grounded in (part of the partition)


@dataclass(frozen=True)
class Hit:
    entry_id: int
    content: str
    finish_reason: str
    saved_tokens: int
    kind: str = EXACT
    sources: list | None = None  # a semantic hit's citations (an exact hit's are worked out from its sources)


def parse_choice(value: object, param: str = "cache") -> bool | None:
    """A request's own ``cache`` field: true, false or absent."""
    if value is None or isinstance(value, bool):
        return value
    raise ServiceError("invalid_type", f"'{param}' must be true or false.", param=param)


def plan_for(
    *,
    user_id: int,
    policy: Policy,
    model: llm.ModelConfig,
    sampling: dict,
    asked: bool | None = None,
    cache_control: str = "",
    canary: str | None = None,
    scope: DocumentScope | None = None,
) -> CachePlan | None:
    """The cache plan of a request, or None when it does not use the cache at all."""
    directives = {part.strip().lower() for part in cache_control.split(",")}
    if not settings.ANSWER_CACHE_ENABLED or not policy.answer_cache or not model.cache or "no-store" in directives:
        return None
    deterministic = sampling.get("temperature") == 0 or sampling.get("seed") is not None
    if asked is None and not deterministic:
        return None
    fresh = asked is False or "no-cache" in directives
    semantic = policy.semantic_cache and settings.ANSWER_CACHE_SEMANTIC_THRESHOLD < 1
    return CachePlan(user_id=user_id, look_up=not fresh, canary=canary, semantic=semantic, scope=scope)


def request_key(model: str, prompt: list[dict], sampling: dict, max_tokens: int, canary: str | None) -> str:
    messages = [m | {"content": guardrails.without_canary(m["content"], canary)} for m in prompt]
    canonical = json.dumps(
        {"model": model, "messages": messages, "sampling": sampling, "max_tokens": max_tokens},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def with_cache_header(response, generation):
    """``X-Cache: HIT`` or ``MISS`` on an HTTP response whose request took part in the answer cache (the generation
    knows within one lookup, before its first token)."""
    status = await asyncio.shield(generation.cache_status)
    if status:
        response["X-Cache"] = status
    return response


def _fresh_entries():
    return AnswerCacheEntry.objects.filter(
        created_at__gt=timezone.now() - timedelta(seconds=settings.ANSWER_CACHE_TTL_SECONDS)
    )


def lookup(user_id: int, key: str) -> Hit | None:
    """The user's live entry for ``key``, counted as a hit."""
    entry = _fresh_entries().filter(user_id=user_id, key=key).first()
    metrics.count(metrics.CACHE_LOOKUPS, EXACT, "miss" if entry is None else "hit")
    if entry is None:
        return None
    _count_hit(entry.pk)
    return _hit(entry, EXACT)


def semantic_lookup(plan: CachePlan, model: str, prompt: list[dict], sampling: dict, max_tokens: int):
    """For a single-turn question: (a hit on a question that means the same, the probe to store the answer with);
    (None, None) for any other request."""
    question = semantic_cache.single_turn_question(prompt)
    if not plan.semantic or question is None:
        return None, None
    partition = semantic_cache.partition_of(
        user_id=plan.user_id,
        model=model,
        prompt=prompt,
        sampling=sampling,
        max_tokens=max_tokens,
        canary=plan.canary,
        scope=plan.scope,
    )
    entries = _fresh_entries().filter(user_id=plan.user_id, partition=partition)
    # The very same question under the same instructions, parameters and document versions: an exact hit, found
    # without embedding anything.
    same = entries.filter(question=question).first() if plan.look_up else None
    if same is not None:
        metrics.count(metrics.CACHE_LOOKUPS, SEMANTIC, "hit")
        _count_hit(same.pk)
        return _hit(same, EXACT), None
    probe = semantic_cache.probe(partition, question)
    entry = semantic_cache.nearest(probe, entries) if plan.look_up else None
    if plan.look_up:
        metrics.count(metrics.CACHE_LOOKUPS, SEMANTIC, "miss" if entry is None else "hit")
    if entry is None:
        return None, probe
    _count_hit(entry.pk)
    return _hit(entry, SEMANTIC), probe


def _hit(entry: AnswerCacheEntry, kind: str) -> Hit:
    saved = entry.prompt_tokens + entry.completion_tokens
    return Hit(entry.pk, entry.content, entry.finish_reason, saved, kind, entry.sources)


def _count_hit(entry_id: int) -> None:
    AnswerCacheEntry.objects.filter(pk=entry_id).update(hits=F("hits") + 1, last_hit_at=timezone.now())


def store(
    *,
    user_id: int,
    key: str,
    model: str,
    content: str,
    finish_reason: str,
    usage: llm.Usage,
    document_ids: list[str],
    origin_id: uuid.UUID,
    probe: "semantic_cache.Probe | None" = None,
    sources: list | None = None,
) -> None:
    """Keep a complete answer for its key (replacing an older one: a fresh answer was asked for), and for its
    question's meaning when it came from a single-turn request under the semantic cache."""
    semantic = {
        "partition": probe.partition if probe else "",
        "question": probe.question if probe else "",
        "question_embedding": probe.vector.tolist() if probe else None,
        "sources": sources or [],
    }
    AnswerCacheEntry.objects.update_or_create(
        user_id=user_id,
        key=key,
        defaults={
            "model": model,
            "content": content,
            "finish_reason": finish_reason,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "document_ids": sorted(set(document_ids)),
            "origin_id": origin_id,
            "hits": 0,
            "created_at": timezone.now(),
            "last_hit_at": None,
        }
        | semantic,
    )


def evict_for_message(message: Message) -> int:
    """The entry an answer went into or came from (a thumbs-down, a moderator's hide); for a hidden question, the
    entry of the answer that followed it."""
    if message.role == Message.Role.USER:
        following = message.conversation.messages.filter(role=Message.Role.ASSISTANT, created_at__gt=message.created_at)
        message = following.order_by("created_at").first()
        if message is None:
            return 0
    entries = AnswerCacheEntry.objects.filter(origin=message)
    if message.cache_entry_id is not None:
        entries = entries | AnswerCacheEntry.objects.filter(pk=message.cache_entry_id)
    return entries.delete()[0]


def evict_for_document(document_id: uuid.UUID | str) -> int:
    return AnswerCacheEntry.objects.filter(document_ids__contains=[uuid.UUID(str(document_id))]).delete()[0]


def purge_expired() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.ANSWER_CACHE_TTL_SECONDS)
    return AnswerCacheEntry.objects.filter(created_at__lte=cutoff).delete()[0]


@receiver(document_changed)
def _forget_answers_built_on(sender, document_id, **kwargs) -> None:
    evict_for_document(document_id)


COUNTERS = "genaisite:answer-cache:counters"


def count(cached: str, saved_tokens: int) -> None:
    """One request that took part: a hit of its kind (and the model tokens it saved) or a miss; one round trip."""
    try:
        pipeline = shared_redis.client().pipeline(transaction=False)
        pipeline.hincrby(COUNTERS, f"hits_{cached}" if cached else "misses", 1)
        if saved_tokens:
            pipeline.hincrby(COUNTERS, "saved_tokens", saved_tokens)
        pipeline.execute()
    except Exception:  # counters are for people looking at them; never for the answer
        logger.warning("could not count an answer-cache %s", cached or "miss")


def counters() -> dict[str, int]:
    """Since the broker's data began: hits by kind, misses and the model tokens hits saved."""
    raw = shared_redis.client().hgetall(COUNTERS)
    return {key.decode(): int(value) for key, value in raw.items()}
