"""Daily token quotas: reserve before the model is called, settle to the real usage afterwards.

A request first holds the most it could spend (a bound on its prompt, on the sources retrieval may add, and its
``max_tokens``; together never more than the model's context window)
against the user's budget for the UTC day, in one SQL statement that succeeds only if the hold fits beside what is
already spent and held. Fifty requests racing at the edge of the budget are therefore decided by the database one
after another: those that fit get a hold, the rest a 429 with the reset time. When the answer ends, the hold is
swapped for the tokens really used (in the same statement that saves the answer, see ``chat.message_rows``); an answer
whose process died gives its hold back when the reaper closes it.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.utils import timezone

from accounts.models import User
from accounts.policies import policy_for
from chat import llm
from chat.rag.grounding import SOURCES_SHARE_OF_CONTEXT
from core import metrics
from core.errors import ServiceError

# Too little left for even a short answer: refuse rather than start one that must stop after a word.
MIN_ANSWER_TOKENS = 16
# What the standalone-query rewrite of a grounded question may cost (a small call of its own).
REWRITE_ALLOWANCE = 300
# The chat template's tokens around each message (role markers and separators): a few for every template we know.
TEMPLATE_TOKENS_PER_MESSAGE = 8


@dataclass(frozen=True)
class Hold:
    user_id: int
    day: date
    tokens: int
    max_tokens: int  # the answer's length limit that fits in the hold


def next_reset(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def exhausted(budget: int, now: datetime | None = None) -> ServiceError:
    now = now or timezone.now()
    reset = next_reset(now)
    metrics.count(metrics.LIMIT_REFUSALS, "daily_tokens")
    return ServiceError(
        "quota_exceeded",
        f"You have used your {budget:,} tokens for today. The budget resets at {reset:%Y-%m-%d %H:%M} UTC.",
        status=429,
        retry_after=max(1, int((reset - now).total_seconds())),
    )


_RESERVE = (
    "INSERT INTO chat_tokenquota (user_id, day, used, reserved)"
    " SELECT %(user)s, %(day)s, 0, %(amount)s WHERE %(amount)s <= %(budget)s"
    " ON CONFLICT (user_id, day) DO UPDATE SET reserved = chat_tokenquota.reserved + EXCLUDED.reserved"
    " WHERE chat_tokenquota.used + chat_tokenquota.reserved + EXCLUDED.reserved <= %(budget)s"
    " RETURNING 1"
)


def _try_reserve(user_id: int, day: date, amount: int, budget: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_RESERVE, {"user": user_id, "day": day, "amount": amount, "budget": budget})
        return cursor.fetchone() is not None


def available(user_id: int, day: date, budget: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT used + reserved FROM chat_tokenquota WHERE user_id = %s AND day = %s", [user_id, day])
        row = cursor.fetchone()
    return budget - (row[0] if row else 0)


def reserve(*, user_id: int, budget: int, prompt_tokens: int, max_tokens: int) -> Hold:
    """Hold ``prompt_tokens + max_tokens``; with less left, hold what is left and shorten the answer to fit."""
    now = timezone.now()
    day = now.date()
    wanted = prompt_tokens + max_tokens
    if _try_reserve(user_id, day, wanted, budget):
        return Hold(user_id, day, wanted, max_tokens)
    left = available(user_id, day, budget)
    if left >= prompt_tokens + MIN_ANSWER_TOKENS and _try_reserve(user_id, day, left, budget):
        return Hold(user_id, day, left, left - prompt_tokens)
    raise exhausted(budget, now)


def reserve_exact(*, user_id: int, budget: int, tokens: int) -> Hold:
    """Hold exactly ``tokens``, or refuse: for a request whose cost is known before it runs (embeddings), with no
    shorter answer to fall back on."""
    now = timezone.now()
    if _try_reserve(user_id, now.date(), tokens, budget):
        return Hold(user_id, now.date(), tokens, 0)
    raise exhausted(budget, now)


def release(hold: Hold) -> None:
    """Give a hold back unused (the request was refused after it was reserved)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chat_tokenquota SET reserved = GREATEST(reserved - %s, 0) WHERE user_id = %s AND day = %s",
            [hold.tokens, hold.user_id, hold.day],
        )


def release_interrupted(message_ids: list) -> None:
    """Give back the holds of answers that will never settle (their process died)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH held AS ("
            "  UPDATE chat_message m SET reserved_tokens = 0"
            "  FROM (SELECT id, reserved_tokens FROM chat_message WHERE id = ANY(%s) AND reserved_tokens > 0"
            "        FOR UPDATE) old, chat_conversation c"
            "  WHERE m.id = old.id AND c.id = m.conversation_id"
            "  RETURNING c.owner_id AS user_id, (m.created_at AT TIME ZONE 'UTC')::date AS day,"
            "   old.reserved_tokens AS tokens)"
            " UPDATE chat_tokenquota q SET reserved = GREATEST(q.reserved - held.total, 0)"
            " FROM (SELECT user_id, day, SUM(tokens) AS total FROM held GROUP BY user_id, day) held"
            " WHERE q.user_id = held.user_id AND q.day = held.day",
            [list(message_ids)],
        )


def today(user_id: int, budget: int) -> dict:
    """The user's budget for today as the usage endpoint and the UI meter show it."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT used, reserved FROM chat_tokenquota WHERE user_id = %s AND day = %s", [user_id, now.date()]
        )
        used, reserved = cursor.fetchone() or (0, 0)
    return {
        "daily_budget": budget,
        "used": used,
        "reserved": reserved,
        "remaining": max(0, budget - used - reserved),
        "resets_at": next_reset(now).isoformat(),
    }


def prompt_bound(model: llm.ModelConfig, prompt: list[dict], *, grounded: bool) -> int:
    """The most tokens ``prompt`` can cost once sent, as a bound rather than a guess: a token covers at least one
    byte of text, so a message costs at most its UTF-8 length plus the chat template's few tokens; and nothing sent
    can exceed the model's context window. Sources that retrieval adds are held with a margin (see below)."""
    bound = sum(len(str(m.get("content") or "").encode()) + TEMPLATE_TOKENS_PER_MESSAGE for m in prompt)
    if grounded:
        # Retrieval fills at most SOURCES_SHARE_OF_CONTEXT of the window by our 3.5-characters-a-token estimate;
        # held at twice that, so only text of under 1.75 characters a token could cost more.
        bound += int(2 * SOURCES_SHARE_OF_CONTEXT * model.context_window) + REWRITE_ALLOWANCE
    return min(bound, model.context_window)


def reserve_for(user: User, model: llm.ModelConfig, prompt: list[dict], max_tokens: int, *, grounded: bool) -> Hold:
    """Hold what this request can cost at most: its prompt's bound and its answer's limit, together never more than
    the context window (a model cannot process more in one request)."""
    max_tokens = min(max_tokens, model.max_output_tokens)
    prompt_tokens = min(prompt_bound(model, prompt, grounded=grounded), max(model.context_window - max_tokens, 1))
    return reserve(
        user_id=user.pk,
        budget=policy_for(user).daily_token_budget,
        prompt_tokens=prompt_tokens,
        max_tokens=max_tokens,
    )
