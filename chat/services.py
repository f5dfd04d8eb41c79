"""Writes for chat: conversations, turns, answers, usage. Async entry points run their ORM work in worker threads."""

import asyncio
import functools
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.errors import ServiceError
from accounts.models import User
from accounts.permissions import can_chat, can_use_model
from chat import generation, llm, prompts
from chat.models import Conversation, Message

# An open answer untouched for this long belongs to no running generation any more (its process died).
STALE_AFTER = timedelta(seconds=settings.LLM_DEADLINE + 60)


def in_db_thread(fn):
    """Run ORM work on a pool thread (not the single shared sync thread), so concurrent streams don't queue.

    Async code in chat uses this, never Django's async ORM (``aget``, ``aupdate``…): those keep a connection on the
    caller's thread that nobody hands back to the pool. Here the connection is returned inside the call itself.
    """

    @functools.wraps(fn)
    def closing(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(closing, thread_sensitive=False)


def check_can_chat(user: User, model: llm.ModelConfig) -> None:
    if not can_chat(user):
        raise ServiceError("forbidden", "Your account cannot chat.", status=403)
    if not can_use_model(user, model.name):
        raise ServiceError("model_not_allowed", f"Your role may not use the model {model.name!r}.", status=403)


def validate_content(content: object) -> str:
    if not isinstance(content, str) or not content.strip():
        raise ServiceError("empty_message", "Write a message first.")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(content) > limit:
        raise ServiceError(
            "message_too_long", f"Messages are limited to {limit} characters; this one has {len(content)}.", status=413
        )
    return content


def conversation_create(
    *, owner: User, title: str = "", model: str | None = None, source: str = Conversation.Source.CHAT
) -> Conversation:
    config = llm.model_config(model)
    check_can_chat(owner, config)
    return Conversation.objects.create(owner=owner, title=title.strip()[:200], model=config.name, source=source)


def conversation_update(
    *, conversation: Conversation, title: str | None = None, archived: bool | None = None, model: str | None = None
) -> Conversation:
    fields = ["updated_at"]
    if title is not None:
        conversation.title = title.strip()[:200]
        fields.append("title")
    if archived is not None:
        conversation.archived = archived
        fields.append("archived")
    if model is not None:
        config = llm.model_config(model)
        check_can_chat(conversation.owner, config)
        conversation.model = config.name
        fields.append("model")
    conversation.save(update_fields=fields)
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    async_to_sync(generation.request_stop)(conversation.pk)
    conversation.delete()


@dataclass
class Turn:
    user_message: Message
    assistant_message: Message
    prompt: list[dict]


def _history_prompt(conversation: Conversation) -> list[dict]:
    prompt = [{"role": "system", "content": prompts.system_prompt()}]
    usable = conversation.messages.filter(
        Q(role=Message.Role.USER)
        | Q(role=Message.Role.ASSISTANT, status__in=[Message.Status.COMPLETE, Message.Status.STOPPED])
    ).exclude(content="")
    prompt += [{"role": message.role, "content": message.content} for message in usable.order_by("created_at")]
    return prompt


@transaction.atomic
def _open_turn(*, conversation_id: uuid.UUID, content: str, model: str) -> Turn:
    # The row lock makes "one answer at a time per conversation" hold across tabs and processes.
    conversation = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
    if conversation is None:
        raise ServiceError("not_found", "This conversation no longer exists.", status=404)
    recent = timezone.now() - STALE_AFTER
    open_answer = conversation.messages.filter(
        role=Message.Role.ASSISTANT,
        status__in=[Message.Status.PENDING, Message.Status.STREAMING],
        updated_at__gt=recent,
    )
    if open_answer.exists():
        raise ServiceError("busy", "An answer is still being written; wait for it or stop it.", status=409)
    user_message = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=content)
    prompt = _history_prompt(conversation)
    assistant = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.PENDING, model=model
    )
    conversation.save(update_fields=["updated_at"])
    return Turn(user_message, assistant, prompt)


@dataclass
class Reply:
    turn: Turn
    generation: generation.Generation
    events: asyncio.Queue | None  # with subscribe=True: every event of this answer, from "started" on


async def reply_start(
    *,
    user: User,
    conversation: Conversation,
    content: object,
    model: str | None = None,
    max_tokens: int | None = None,
    subscribe: bool = False,
) -> Reply:
    """Record the user's message and start the answer. Returns at once; the answer streams in its own task."""
    text = validate_content(content)
    config = llm.model_config(model or conversation.model)
    await in_db_thread(check_can_chat)(user, config)
    turn = await in_db_thread(_open_turn)(conversation_id=conversation.pk, content=text, model=config.name)
    running = generation.start(
        generation.GenerationRequest(
            conversation_id=conversation.pk,
            message_id=turn.assistant_message.pk,
            user_id=user.pk,
            model=config,
            prompt=turn.prompt,
            max_tokens=max_tokens or config.max_output_tokens,
        )
    )
    events = running.subscribe() if subscribe else None  # before any await, so no event can slip past
    await running.publish(started_event(turn))
    return Reply(turn, running, events)


def started_event(turn: Turn) -> dict:
    from chat.serializers import MessageSerializer

    return {
        "type": "started",
        "user_message": MessageSerializer(turn.user_message).data,
        "message": MessageSerializer(turn.assistant_message).data,
    }


@transaction.atomic
def _open_exchange(*, user: User, config: llm.ModelConfig, messages: list[dict], source: str) -> Turn:
    last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    conversation = Conversation.objects.create(owner=user, model=config.name, source=source, title=last_user[:80])
    rows = [Message(conversation=conversation, role=m["role"], content=m["content"]) for m in messages]
    Message.objects.bulk_create(rows)
    assistant = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, status=Message.Status.PENDING, model=config.name
    )
    return Turn(rows[-1], assistant, messages)


async def exchange_start(
    *, user: User, model: str, messages: list[dict], max_tokens: int | None, extra: dict, source: str
) -> Reply:
    """An OpenAI-style request: the caller sends the whole prompt; it is recorded as a new conversation."""
    config = llm.model_config(model)
    await in_db_thread(check_can_chat)(user, config)
    turn = await in_db_thread(_open_exchange)(user=user, config=config, messages=messages, source=source)
    running = generation.start(
        generation.GenerationRequest(
            conversation_id=turn.assistant_message.conversation_id,
            message_id=turn.assistant_message.pk,
            user_id=user.pk,
            model=config,
            prompt=messages,
            max_tokens=min(max_tokens or config.max_output_tokens, config.max_output_tokens),
            extra=extra,
        )
    )
    return Reply(turn, running, running.subscribe())


async def reply_stop(*, conversation: Conversation) -> None:
    await generation.request_stop(conversation.pk)


def _flush(message_id: uuid.UUID, content: str) -> None:
    Message.objects.filter(pk=message_id, status__in=[Message.Status.PENDING, Message.Status.STREAMING]).update(
        content=content, status=Message.Status.STREAMING, updated_at=timezone.now()
    )


async def message_flush(*, message_id: uuid.UUID, content: str) -> None:
    await in_db_thread(_flush)(message_id, content)


@transaction.atomic
def _finish(request: generation.GenerationRequest, outcome: generation.Outcome) -> None:
    usage = outcome.usage
    Message.objects.filter(pk=request.message_id).update(
        content=outcome.content,
        status=outcome.status,
        error=outcome.error,
        finish_reason=outcome.finish_reason,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        usage_estimated=usage.estimated if usage else False,
        time_to_first_token_ms=outcome.time_to_first_token_ms,
        duration_ms=outcome.duration_ms,
        sources=request.sources,
        updated_at=timezone.now(),
    )
    Conversation.objects.filter(pk=request.conversation_id).update(updated_at=timezone.now())
    if usage:
        usage_record(
            user_id=request.user_id,
            model=request.model.name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
        )
    if outcome.status == Message.Status.COMPLETE:
        transaction.on_commit(lambda: _maybe_title(request.conversation_id))


async def reply_finish(*, request: generation.GenerationRequest, outcome: generation.Outcome) -> None:
    await in_db_thread(_finish)(request, outcome)


def _maybe_title(conversation_id: uuid.UUID) -> None:
    from chat.tasks import conversation_title_generate

    untitled = Conversation.objects.filter(pk=conversation_id, title="", source=Conversation.Source.CHAT)
    if untitled.exists():
        conversation_title_generate(str(conversation_id))


USAGE_UPSERT = """
INSERT INTO chat_dailyusage (user_id, day, model, prompt_tokens, completion_tokens, requests)
VALUES (%s, %s, %s, %s, %s, 1)
ON CONFLICT (user_id, day, model) DO UPDATE SET
    prompt_tokens = chat_dailyusage.prompt_tokens + EXCLUDED.prompt_tokens,
    completion_tokens = chat_dailyusage.completion_tokens + EXCLUDED.completion_tokens,
    requests = chat_dailyusage.requests + 1
"""


def usage_record(*, user_id: int, model: str, prompt_tokens: int, completion_tokens: int, day: date | None = None):
    """Add one request's tokens to the ledger in a single atomic statement (safe under any concurrency)."""
    day = day or timezone.now().date()
    with connection.cursor() as cursor:
        cursor.execute(USAGE_UPSERT, [user_id, day, model, prompt_tokens, completion_tokens])


def title_set(*, conversation_id: uuid.UUID, title: str) -> bool:
    """Set a generated title unless the user named the conversation meanwhile."""
    return bool(Conversation.objects.filter(pk=conversation_id, title="").update(title=title))


def interrupted_messages_reap() -> int:
    """Close answers whose generation died with its process: keep the text, mark them failed with the reason."""
    stale = Message.objects.filter(
        status__in=[Message.Status.PENDING, Message.Status.STREAMING], updated_at__lt=timezone.now() - STALE_AFTER
    )
    return stale.update(
        status=Message.Status.FAILED,
        error="The answer was interrupted (the server restarted).",
        updated_at=timezone.now(),
    )
