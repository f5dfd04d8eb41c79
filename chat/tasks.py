"""Chat background work: titles after the first exchange, and closing answers whose process died."""

import uuid

from asgiref.sync import async_to_sync
from django.dispatch import receiver
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from chat import answer_cache, llm, prompts, services
from chat.generation import finisher
from chat.models import Conversation, Message
from core.notifications import notify_user


@db_task(retries=2, retry_delay=5)
def conversation_title_generate(conversation_id: str) -> str | None:
    conversation = Conversation.objects.filter(pk=conversation_id, title="").first()
    if conversation is None:
        return None
    first_question = conversation.messages.filter(role=Message.Role.USER).order_by("created_at").first()
    first_answer = (
        conversation.messages.filter(role=Message.Role.ASSISTANT, status=Message.Status.COMPLETE)
        .exclude(content="")
        .order_by("created_at")
        .first()
    )
    if first_question is None or first_answer is None:
        return None
    model = llm.model_config(conversation.model)
    request = prompts.title_request(first_question.content, first_answer.content)
    title = prompts.clean_title(async_to_sync(llm.complete)(model, request, max_tokens=prompts.TITLE_MAX_TOKENS))
    if not title or not services.title_set(conversation_id=uuid.UUID(conversation_id), title=title):
        return None
    # To every socket of the owner, so sidebars in other tabs update too.
    notify_user(conversation.owner_id, {"type": "title", "conversation_id": conversation_id, "title": title})
    return title


@receiver(finisher.answer_completed)
def _title_after_first_answer(sender, conversation_id: uuid.UUID, **kwargs) -> None:
    conversation_title_generate(str(conversation_id))


@db_periodic_task(crontab(minute="*"))
def interrupted_messages_reap() -> int:
    return finisher.interrupted_messages_reap()


@db_periodic_task(crontab(minute="17"))
def answer_cache_purge() -> int:
    """Expired answer-cache entries are never served; this drops their rows."""
    return answer_cache.purge_expired()
