"""Hot-path persistence for answers, in plain SQL.

Every streamed answer opens a turn, flushes its text while streaming and saves its outcome. Through the ORM each of
those statements cost about a millisecond of CPU to build (on two cores, at a hundred answers a second, that alone
saturates the web process); here each is one prepared-shape statement and one round trip. Everything else in chat
uses the ORM. Runs on worker threads (``chat.services.in_db_thread``).
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from chat import branches, quotas
from chat.quotas import Hold
from core import liveness

OPEN_STATUSES = ("pending", "streaming")

_MESSAGE_COLUMNS = (
    "id, conversation_id, role, content, status, model, usage_estimated, finish_reason, error, sources, "
    "reserved_tokens, writer, tool_calls, tool_call_id, parent_id, created_at, updated_at"
)
INTERRUPTED = "The answer was interrupted (the server restarted)."


def _message_row(
    message_id,
    conversation_id,
    role: str,
    content: str,
    status: str,
    model: str,
    at: datetime,
    reserved: int = 0,
    writer: str = "",
    tool_calls: list[dict] | None = None,
    tool_call_id: str = "",
    parent_id: uuid.UUID | None = None,
):
    calls = json.dumps(tool_calls or [])
    return [
        *(message_id, conversation_id, role, content, status, model, False, "", "", "[]", reserved, writer),
        *(calls, tool_call_id, parent_id, at, at),
    ]


def _pending_answer_row(answer_id, conversation_id, model: str, at: datetime, reserved_tokens: int, parent_id) -> list:
    """The assistant's row before its first token, holding the quota reserved for it, written by this process."""
    return _message_row(
        answer_id,
        conversation_id,
        "assistant",
        "",
        "pending",
        model,
        at,
        reserved_tokens,
        liveness.PROCESS_ID,
        parent_id=parent_id,
    )


def _insert_messages(cursor, *, before: str, before_params: list, rows: list[list]) -> None:
    """``before`` (a CTE) and then one multi-row INSERT of messages, as a single statement."""
    placeholders = ", ".join("(" + ", ".join(["%s"] * len(row)) + ")" for row in rows)
    # Only constant column names and %s placeholders are spliced into the SQL; every value is a parameter.
    sql = f"{before} INSERT INTO chat_message ({_MESSAGE_COLUMNS}) VALUES {placeholders}"  # noqa: S608
    cursor.execute(sql, [*before_params, *(value for row in rows for value in row)])


def exchange_insert(
    *,
    conversation_id: uuid.UUID,
    answer_id: uuid.UUID,
    owner_id: int,
    model: str,
    source: str,
    messages: list[dict],
    reserved_tokens: int = 0,
    preset_revision_id: int | None = None,
) -> None:
    """A new conversation with its messages and a pending answer, in one statement."""
    now = timezone.now()
    title = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")[:80]
    ids = [uuid.uuid4() for _ in messages]
    rows = [
        # Distinct, increasing timestamps keep the order of messages written in the same instant; each message
        # follows the one before it (one branch: the caller sent the whole history).
        _message_row(
            *(ids[i], conversation_id, m["role"], m["content"], "complete", "", now + timedelta(microseconds=i)),
            tool_calls=m.get("tool_calls"),
            tool_call_id=m.get("tool_call_id", ""),
            parent_id=ids[i - 1] if i else None,
        )
        for i, m in enumerate(messages)
    ]
    at = now + timedelta(microseconds=len(rows))
    rows.append(_pending_answer_row(answer_id, conversation_id, model, at, reserved_tokens, ids[-1] if ids else None))
    with connection.cursor() as cursor:
        _insert_messages(
            cursor,
            # An OpenAI-style request brings its whole prompt: no retrieval of our own (documents_mode 'none').
            before="WITH conversation AS ("
            " INSERT INTO chat_conversation"
            " (id, owner_id, title, model, source, archived, documents_mode, preset_revision_id, current_leaf_id,"
            " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, false, 'none', %s, %s, %s, %s))",
            before_params=[conversation_id, owner_id, title, model, source, preset_revision_id, answer_id, now, now],
            rows=rows,
        )


LEAF = "leaf"  # a new question follows the conversation's current leaf (a plain send)


@dataclass(frozen=True)
class Placement:
    """Where a turn goes in the conversation's tree: after the current leaf (a send), after a given message (an
    edited question becomes a sibling of the original: it follows the same message), or as another answer to an
    existing question (regenerate: no new question is written)."""

    after: uuid.UUID | str | None = LEAF  # LEAF, a message id, or None for the root
    reply_to: uuid.UUID | None = None  # then ``after`` is that question's own parent


AFTER_LEAF = Placement()


@dataclass
class OpenedRows:
    title: str
    turns: list[dict]  # what the model is told: the branch up to the question, the question last
    question_id: uuid.UUID
    question_parent_id: uuid.UUID | None  # for a new question (a send or an edit): the message it follows
    versions: dict = field(default_factory=dict)  # question and answer id → their versions' ids, oldest first


def turn_open(
    *,
    conversation_id: uuid.UUID,
    user_message_id: uuid.UUID,
    answer_id: uuid.UUID,
    content: str,
    model: str,
    busy_since: datetime,
    reserved_tokens: int = 0,
    place: Placement = AFTER_LEAF,
) -> OpenedRows | None:
    """Lock the conversation, refuse if an answer is open, add the user's message (unless the turn answers an
    existing question again) and a pending answer, which becomes the conversation's current leaf.

    Returns None when an answer is still being written. Must run in a transaction (the row lock is what makes
    one-answer-at-a-time hold across tabs and processes).
    """
    with connection.cursor() as cursor:
        opened = _lock_conversation(cursor, conversation_id, busy_since)
        if opened is None:
            return None
        title, leaf = opened
        anchor = place.reply_to or (leaf if place.after == LEAF else place.after)
        history = branches.path_turns(cursor, conversation_id=conversation_id, message_id=anchor) if anchor else []
        now = timezone.now()
        rows, question_id, question_parent = [], place.reply_to, place.after
        if question_id is None:
            question_id, question_parent = user_message_id, anchor
            rows.append(
                _message_row(question_id, conversation_id, "user", content, "complete", "", now, parent_id=anchor)
            )
            history.append({"role": "user", "content": content})
        at = now + timedelta(microseconds=1)
        rows.append(_pending_answer_row(answer_id, conversation_id, model, at, reserved_tokens, question_id))
        _insert_messages(
            cursor,
            before="WITH touched AS (UPDATE chat_conversation SET updated_at = %s, current_leaf_id = %s WHERE id = %s)",
            before_params=[now, answer_id, conversation_id],
            rows=rows,
        )
        versions = branches.versions(cursor, [question_id, answer_id])
    return OpenedRows(title, history, question_id, question_parent, versions)


def _lock_conversation(cursor, conversation_id: uuid.UUID, busy_since: datetime) -> tuple[str, uuid.UUID] | None:
    """(title, current leaf) with the conversation locked, closing answers whose writer died; None while a live
    process is writing an answer. A conversation whose messages predate branching has no leaf: its newest message
    is the end of its one branch."""
    # The open answers' writers; '' for one too young to judge (its writer may not have renewed its lease yet).
    cursor.execute(
        "SELECT c.title, COALESCE(c.current_leaf_id, (SELECT m.id FROM chat_message m WHERE m.conversation_id = c.id"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT 1)),"
        " ARRAY(SELECT CASE WHEN m.created_at > %s THEN '' ELSE m.writer END FROM chat_message m"
        " WHERE m.conversation_id = c.id AND m.role = 'assistant' AND m.status IN ('pending', 'streaming')"
        " AND m.updated_at > %s) FROM chat_conversation c WHERE c.id = %s FOR UPDATE OF c",
        [timezone.now() - timedelta(seconds=liveness.lease_seconds()), busy_since, conversation_id],
    )
    row = cursor.fetchone()
    if row is None:
        raise LookupError(conversation_id)
    title, leaf, writers = row
    if writers and (not all(writers) or liveness.dead(set(writers)) != set(writers)):
        return None  # an answer is being written, by a process that is alive
    if writers:
        dead_answers_close(conversation_id=conversation_id, writers=list(set(writers)))
    return title, leaf


def conversation_dead_answers_close(conversation_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """Close the conversation's open answers whose writer died (a stop sent to it reaches no one); returns their ids
    and saved text."""
    young = timezone.now() - timedelta(seconds=liveness.lease_seconds())
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT writer FROM chat_message WHERE conversation_id = %s AND role = 'assistant'"
            " AND status IN ('pending', 'streaming') AND writer <> '' AND created_at < %s",
            [conversation_id, young],
        )
        dead = liveness.dead({row[0] for row in cursor.fetchall()})
    return dead_answers_close(writers=sorted(dead), conversation_id=conversation_id) if dead else []


def dead_answers_close(*, writers: list[str], conversation_id: uuid.UUID | None = None) -> list[tuple[uuid.UUID, str]]:
    """Close the open answers these dead processes were writing: the text flushed so far is kept, the status is
    failed with the reason, the quota held for them is given back."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM chat_message WHERE role = 'assistant' AND status IN ('pending', 'streaming')"
            " AND writer = ANY(%s) AND (%s::uuid IS NULL OR conversation_id = %s::uuid) FOR UPDATE",
            [writers, conversation_id, conversation_id],
        )
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return []
        quotas.release_interrupted(ids)
        cursor.execute(
            "UPDATE chat_message SET status = 'failed', error = %s, updated_at = %s WHERE id = ANY(%s)"
            " RETURNING id, content",
            [INTERRUPTED, timezone.now(), ids],
        )
        return cursor.fetchall()


def answer_hold(*, message_id: uuid.UUID, tokens: int) -> None:
    """Note on the answer the tokens held for it, so a hold whose process dies can be given back."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE chat_message SET reserved_tokens = %s WHERE id = %s", [tokens, message_id])


def answer_flush(*, message_id: uuid.UUID, content: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chat_message SET content = %s, status = 'streaming', updated_at = %s"
            " WHERE id = %s AND status IN ('pending', 'streaming')",
            [content, timezone.now(), message_id],
        )


def answer_save(
    *,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    user_id: int,
    model: str,
    outcome: dict,
    sources: list[dict],
    hold: Hold | None = None,
) -> None:
    """The answer's final state, the conversation's timestamp, the quota settled (the hold swapped for the tokens
    used) and the usage ledger: one statement, atomically.

    The hold given back is the one still recorded on the message row (locked, then zeroed), not the one in memory:
    if the reaper gave it back already, it must not be given back twice."""
    now = timezone.now()
    usage = outcome["usage"]
    spent = usage["prompt_tokens"] + usage["completion_tokens"]
    hold_day = hold.day if hold else now.date()
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH held AS (SELECT reserved_tokens FROM chat_message WHERE id = %s FOR UPDATE),"
            " answer AS ("
            "  UPDATE chat_message SET content = %s, status = %s, error = %s, finish_reason = %s,"
            "   prompt_tokens = %s, completion_tokens = %s, usage_estimated = %s, time_to_first_token_ms = %s,"
            "   duration_ms = %s, sources = %s::jsonb, reserved_tokens = 0, cached = %s, tool_calls = %s::jsonb,"
            "   cache_entry_id = (SELECT id FROM chat_answercacheentry WHERE id = %s),"
            "   updated_at = %s WHERE id = %s),"
            " conversation AS (UPDATE chat_conversation SET updated_at = %s WHERE id = %s),"
            " quota AS (INSERT INTO chat_tokenquota (user_id, day, used, reserved) VALUES (%s, %s, %s, 0)"
            "  ON CONFLICT (user_id, day) DO UPDATE SET used = chat_tokenquota.used + EXCLUDED.used,"
            "   reserved = GREATEST("
            "    chat_tokenquota.reserved - (SELECT COALESCE(SUM(reserved_tokens), 0) FROM held), 0))"
            " INSERT INTO chat_dailyusage (user_id, day, model, prompt_tokens, completion_tokens, requests)"
            " VALUES (%s, %s, %s, %s, %s, 1)"
            " ON CONFLICT (user_id, day, model) DO UPDATE SET"
            "  prompt_tokens = chat_dailyusage.prompt_tokens + EXCLUDED.prompt_tokens,"
            "  completion_tokens = chat_dailyusage.completion_tokens + EXCLUDED.completion_tokens,"
            "  requests = chat_dailyusage.requests + 1",
            [
                message_id,
                outcome["content"],
                outcome["status"],
                outcome["error"],
                outcome["finish_reason"],
                usage["prompt_tokens"],
                usage["completion_tokens"],
                usage["estimated"],
                outcome["time_to_first_token_ms"],
                outcome["duration_ms"],
                json.dumps(sources),
                outcome.get("cached", ""),
                json.dumps(outcome.get("tool_calls") or []),
                outcome.get("cache_entry_id"),
                now,
                message_id,
                now,
                conversation_id,
                user_id,
                hold_day,
                spent,
                user_id,
                now.date(),
                model,
                usage["prompt_tokens"],
                usage["completion_tokens"],
            ],
        )
