"""Reads for chat."""

import uuid
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from accounts.permissions import access_owned
from accounts.policies import policy_for
from chat import branches, llm, quotas
from chat.models import Conversation, DailyUsage, Message, MessageRating
from documents.models import Document
from documents.selectors import document_list


def usable_models(user: User) -> list[str]:
    """The chat models the user's role may use, in configuration order (the default first)."""
    policy = policy_for(user)
    return [model.name for model in llm.configured_models() if policy.allows_model(model.name)]


def access_conversation(user: User, conversation_id: uuid.UUID | str) -> Conversation:
    conversations = Conversation.objects.select_related("preset_revision__preset__current")
    return access_owned(conversations, user=user, pk=conversation_id, owner_field="owner")


def attached_documents(*, user: User, conversation: Conversation | None) -> QuerySet[Document]:
    """The documents a conversation answers from (mode "selected") that ``user`` may still read, in the order they
    were uploaded: the composer shows them as the conversation's attached files. A document unshared since it was
    chosen is left out, as retrieval leaves it out. Other modes attach none."""
    if conversation is None or conversation.documents_mode != Conversation.DocumentsMode.SELECTED:
        return Document.objects.none()
    chosen = conversation.documents.values("pk")
    return document_list(user=user).filter(pk__in=chosen).order_by("created_at")


def conversation_list(*, user: User, q: str = "", archived: bool | None = None) -> QuerySet[Conversation]:
    # A batch's lines are each a conversation, kept for the record; they are read on the Batches page, and a
    # 500-line batch would otherwise push every chat out of the sidebar.
    conversations = (
        Conversation.objects.filter(owner=user)
        .exclude(source=Conversation.Source.BATCH)
        .select_related("preset_revision__preset")
    )
    if archived is not None:
        conversations = conversations.filter(archived=archived)
    q = q.strip()
    if q:
        in_text = Message.objects.filter(conversation=OuterRef("pk"), content__icontains=q)
        conversations = conversations.filter(title__icontains=q) | conversations.filter(Exists(in_text))
    return conversations.order_by("-updated_at")


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """Every message, all branches (an export keeps them all: ``parent_id`` rebuilds the tree)."""
    return conversation.messages.order_by("created_at")


@dataclass
class Branch:
    messages: list[Message]  # root first
    versions: dict  # message id → its versions' ids, oldest first


def branch_list(*, conversation: Conversation) -> Branch:
    """The messages on the branch being shown (root to ``current_leaf``), with the versions of each. A conversation
    without a leaf predates branching, or its messages were written around the services: one branch of them all."""
    leaf = Conversation.objects.filter(pk=conversation.pk).values_list("current_leaf_id", flat=True).first()
    if leaf is None:
        return Branch(list(message_list(conversation=conversation)), {})
    ids, versions = branches.branch_versions(conversation_id=conversation.pk, leaf_id=leaf)
    by_id = Message.objects.in_bulk(ids)
    return Branch([by_id[pk] for pk in ids if pk in by_id], versions)


def ratings_by_message(*, user: User, conversation: Conversation) -> dict:
    """``user``'s ratings in the conversation: message id → "up" or "down"."""
    rows = MessageRating.objects.filter(user=user, message__conversation=conversation)
    rows = rows.values_list("message_id", "value")
    return {message_id: "up" if value == MessageRating.UP else "down" for message_id, value in rows}


def usage_summary(*, user: User) -> dict:
    """Tokens today and this month (UTC), by model, and what is left of today's budget."""
    today = timezone.now().date()
    month_start = today.replace(day=1)

    def by_model(rows: QuerySet[DailyUsage]) -> dict:
        totals = rows.values("model").annotate(
            prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), requests=Sum("requests")
        )
        models = {
            row["model"]: {
                "prompt_tokens": row["prompt"],
                "completion_tokens": row["completion"],
                "total_tokens": row["prompt"] + row["completion"],
                "requests": row["requests"],
            }
            for row in totals
        }
        return {"total_tokens": sum(m["total_tokens"] for m in models.values()), "by_model": models}

    ledger = DailyUsage.objects.filter(user=user)
    quota = quotas.today(user.pk, policy_for(user).daily_token_budget)
    return {
        "today": {"date": today.isoformat(), **by_model(ledger.filter(day=today))},
        "month": {"since": month_start.isoformat(), **by_model(ledger.filter(day__gte=month_start))},
        # The daily token budget: what is spent, what answers being written hold, and what is left.
        "quota": quota,
        "resets_at": quota["resets_at"],
    }


def conversation_markdown(*, conversation: Conversation) -> str:
    lines = [f"# {conversation.title or 'Untitled conversation'}", "", f"Model: {conversation.model}", ""]
    for message in branch_list(conversation=conversation).messages:  # the branch being shown, as it reads
        heading = {"user": "You", "assistant": "Assistant", "system": "System"}[message.role]
        suffix = "" if message.status == Message.Status.COMPLETE else f" ({message.status})"
        text = "_(hidden by a moderator)_" if message.hidden_at else message.content or "_(no text)_"
        lines += [f"## {heading}{suffix}", "", text, ""]
        for number, source in enumerate([] if message.hidden_at else message.sources or [], start=1):
            lines.append(f"[{number}] {source.get('title') or source.get('url') or 'source'}")
        if message.sources:
            lines.append("")
    return "\n".join(lines)
