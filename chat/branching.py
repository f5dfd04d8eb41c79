"""Writes that branch a conversation: answer a question again, edit a question and resend, show another version.

Each goes through ``services.reply_start`` and so through the one admission gate (rate limit, screening, quota
hold) like any message; only where the turn lands in the tree differs (``message_rows.Placement``). Nothing is ever
overwritten: the earlier versions stay, and ``branch_select`` shows any of them again.
"""

import uuid

from django.db import transaction
from django.utils import timezone

from chat import admission, branches, message_rows, services
from chat.generation import finisher
from chat.models import Conversation, Message
from core.db import in_db_thread
from core.errors import ServiceError


def access_message(conversation: Conversation, message_id: object, *, role: str | None = None) -> Message:
    """One of the conversation's messages (of ``role``), or a 404 naming the field."""
    try:
        pk = uuid.UUID(str(message_id))
    except ValueError:
        raise ServiceError("invalid_message_id", "'message_id' must be a message's id.", param="message_id") from None
    message = Message.objects.filter(conversation=conversation, pk=pk).first()
    if message is None or (role is not None and message.role != role):
        what = {"user": "question", "assistant": "answer"}.get(role or "", "message")
        raise ServiceError("not_found", f"No such {what} in this conversation.", status=404, param="message_id")
    return message


def _last_answer(conversation: Conversation) -> Message:
    leaf = Conversation.objects.filter(pk=conversation.pk).values_list("current_leaf_id", flat=True).first()
    answer = Message.objects.filter(pk=leaf, role=Message.Role.ASSISTANT).first() if leaf else None
    if answer is None:
        raise ServiceError("nothing_to_regenerate", "There is no answer to regenerate yet.", status=409)
    return answer


def _question_of(conversation: Conversation, message_id: object | None) -> Message:
    """The question to answer again: the one ``message_id`` (an answer) replied to; the last answer's by default."""
    if message_id is None:
        answer = _last_answer(conversation)
    else:
        answer = access_message(conversation, message_id, role=Message.Role.ASSISTANT)
    question = answer.parent
    if question is None or question.role != Message.Role.USER:
        raise ServiceError("nothing_to_regenerate", "This answer has no question to answer again.", status=409)
    if question.hidden_at is not None:
        raise ServiceError("message_hidden", "The question was hidden by a moderator; it cannot be sent again.", 409)
    return question


async def reply_regenerate(
    *,
    caller: admission.Caller,
    conversation: Conversation,
    message_id: object | None = None,
    model: str | None = None,
    subscribe: bool = False,
) -> services.Reply:
    """Another answer to the question ``message_id`` (an answer) replied to, beside the earlier ones. Always asks
    the model afresh: the answer cache would give back the very answer being replaced."""
    question = await in_db_thread(_question_of)(conversation, message_id)
    return await services.reply_start(
        caller=caller,
        conversation=conversation,
        content=question.content,
        model=model,
        subscribe=subscribe,
        cache=False,
        place=message_rows.Placement(after=question.parent_id, reply_to=question.pk),
    )


async def reply_edit(
    *,
    caller: admission.Caller,
    conversation: Conversation,
    message_id: object,
    content: object,
    model: str | None = None,
    subscribe: bool = False,
    cache: bool | None = None,
) -> services.Reply:
    """The question ``message_id`` asked again in other words: a new branch from the same point, the old one kept."""
    question = await in_db_thread(access_message)(conversation, message_id, role=Message.Role.USER)
    return await services.reply_start(
        caller=caller,
        conversation=conversation,
        content=content,
        model=model,
        subscribe=subscribe,
        cache=cache,
        place=message_rows.Placement(after=question.parent_id),
    )


@transaction.atomic
def branch_select(*, conversation: Conversation, message_id: object) -> uuid.UUID:
    """Show the branch through ``message_id`` (following the newest messages after it); returns its leaf. Refused
    while an answer is being written: it would land on a branch no longer shown."""
    message = access_message(conversation, message_id)
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    writing = Message.objects.filter(
        conversation=locked,
        status__in=message_rows.OPEN_STATUSES,
        updated_at__gt=timezone.now() - finisher.STALE_AFTER,  # younger than that: its writer may be alive
    )
    if writing.exists():
        raise ServiceError("busy", "An answer is still being written; wait for it or stop it.", status=409)
    leaf = branches.leaf_under(conversation_id=locked.pk, message_id=message.pk)
    Conversation.objects.filter(pk=locked.pk).update(current_leaf_id=leaf)
    return leaf
