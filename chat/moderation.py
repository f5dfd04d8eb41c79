"""Moderation: users rate answers (a thumbs down with a reason reports it); moderators work the queue of flags.

Each moderator action (dismiss a flag, hide a message, suspend its author) is written to the audit log.
"""

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import AuditAction, User
from accounts.permissions import access_owned, can_moderate, can_suspend_users
from chat import answer_cache
from chat.generation import protocol
from chat.models import Message, MessageRating, ModerationFlag
from chat.safety import screening
from core.errors import ServiceError

RATINGS = {"up": MessageRating.UP, "down": MessageRating.DOWN}


def access_answer(user: User, message_id: uuid.UUID | str) -> Message:
    """An answer in one of ``user``'s conversations (anyone else's is reported missing)."""
    answers = Message.objects.filter(role=Message.Role.ASSISTANT).select_related("conversation__owner")
    return access_owned(answers, user=user, pk=message_id, owner_field="conversation__owner")


@transaction.atomic
def rating_set(*, user: User, message: Message, rating: str | None, reason: str = "") -> MessageRating | None:
    """Rate an answer "up" or "down" (None takes the rating back). A thumbs down with a reason is a report."""
    if rating is None:
        MessageRating.objects.filter(message=message, user=user).delete()
        return None
    if rating not in RATINGS:
        raise ServiceError("invalid_rating", 'A rating is "up", "down" or null.')
    reason = reason.strip()[:500]
    saved, _ = MessageRating.objects.update_or_create(
        message=message, user=user, defaults={"value": RATINGS[rating], "reason": reason}
    )
    if saved.value == MessageRating.DOWN:
        answer_cache.evict_for_message(message)  # a disliked answer is never served again from the cache
    if saved.value == MessageRating.DOWN and reason:
        ModerationFlag.objects.update_or_create(
            message=message,
            reporter=user,
            source=ModerationFlag.Source.REPORT,
            status=ModerationFlag.Status.OPEN,
            defaults={
                "reason": f"Reported: {reason}"[:300],
                "excerpt": screening.excerpt(message.content),
                "author": message.conversation.owner,
            },
        )
    return saved


def _resolve(flag: ModerationFlag, actor: User, status: str, resolution: str) -> None:
    flag.status, flag.resolved_by, flag.resolved_at = status, actor, timezone.now()
    flag.resolution = resolution[:300]
    flag.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise ServiceError("forbidden", f"Your role cannot {what}.", status=403)


@transaction.atomic
def flag_dismiss(*, flag: ModerationFlag, actor: User, ip: str | None = None) -> None:
    _require(can_moderate(actor), "moderate")
    _resolve(flag, actor, ModerationFlag.Status.DISMISSED, "Dismissed: nothing to act on.")
    accounts_services.audit_record(
        actor=actor,
        action=AuditAction.FLAG_DISMISSED,
        target_user=flag.author,
        details={"flag": flag.pk, "reason": flag.reason},
        ip=ip,
    )


@transaction.atomic
def message_hide(*, flag: ModerationFlag, actor: User, ip: str | None = None) -> None:
    """Hide the flagged message from its conversation (and from later prompts); the text stays for the record."""
    _require(can_moderate(actor), "moderate")
    message = flag.message
    if message is None:
        raise ServiceError("gone", "The flagged message no longer exists (its conversation was deleted).")
    if message.hidden_at is None:
        message.hidden_at, message.hidden_reason = timezone.now(), flag.reason
        message.save(update_fields=["hidden_at", "hidden_reason", "updated_at"])
    answer_cache.evict_for_message(message)
    _resolve(flag, actor, ModerationFlag.Status.ACTIONED, "Message hidden.")
    accounts_services.audit_record(
        actor=actor,
        action=AuditAction.MESSAGE_HIDDEN,
        target_user=flag.author,
        target_label=f"message {message.pk}",
        details={"flag": flag.pk, "message": str(message.pk), "reason": flag.reason},
        ip=ip,
    )
    event = {"type": "hidden", "message_id": str(message.pk)}
    transaction.on_commit(lambda: _tell_conversation(message.conversation_id, event), robust=True)


def _tell_conversation(conversation_id: uuid.UUID, event: dict) -> None:
    group = protocol.conversation_group(conversation_id)
    async_to_sync(get_channel_layer().group_send)(group, {"type": protocol.CHAT_EVENT, "event": event})


@transaction.atomic
def author_suspend(*, flag: ModerationFlag, actor: User, ip: str | None = None) -> None:
    _require(can_suspend_users(actor), "suspend users")
    if flag.author is None:
        raise ServiceError("gone", "The author's account no longer exists.")
    accounts_services.user_suspend(actor=actor, user=flag.author, reason=f"Moderation: {flag.reason}", ip=ip)
    _resolve(flag, actor, ModerationFlag.Status.ACTIONED, "Author suspended.")
