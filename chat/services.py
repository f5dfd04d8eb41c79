"""Writes for chat: conversations, turns, answers, usage. Async entry points run their ORM work in worker threads."""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.permissions import can_fetch_web
from chat import admission, answer_cache, llm, message_rows, prompts
from chat.generation import constrained, engine, finisher, protocol
from chat.models import Conversation, Message
from chat.rag import grounding
from chat.safety import guardrails
from chat.serializers import message_data
from core import structured
from core.db import in_db_thread
from core.errors import ServiceError
from documents import webpages
from documents.selectors import access_document


def validate_content(content: object) -> str:
    """The message's type and content; its size is the admission's to judge (a size refusal is recorded)."""
    if not isinstance(content, str) or not content.strip():
        raise ServiceError("empty_message", "Write a message first.", param="content")
    if "\x00" in content:
        raise ServiceError(
            "invalid_content", "The message contains a NUL character; remove it and send again.", param="content"
        )
    return content


@transaction.atomic
def conversation_create(
    *,
    owner: User,
    title: str = "",
    model: str | None = None,
    source: str = Conversation.Source.CHAT,
    documents_mode: str = Conversation.DocumentsMode.ALL,
    document_ids: list | None = None,
) -> Conversation:
    config = llm.model_config(model)
    admission.check_can_chat(owner, config)
    conversation = Conversation.objects.create(owner=owner, title=title.strip()[:200], model=config.name, source=source)
    if documents_mode != Conversation.DocumentsMode.ALL or document_ids:
        _choose_documents(conversation, documents_mode, document_ids)
    return conversation


def _choose_documents(conversation: Conversation, mode: str, document_ids: list | None) -> None:
    if mode not in Conversation.DocumentsMode.values:
        raise ServiceError(
            "invalid_documents_mode", f"documents_mode must be one of {Conversation.DocumentsMode.values}."
        )
    chosen = [access_document(conversation.owner, document_id) for document_id in document_ids or []]
    if mode == Conversation.DocumentsMode.SELECTED and not chosen:
        raise ServiceError("no_documents_chosen", "Choose at least one document (document_ids) or use mode 'all'.")
    conversation.documents_mode = mode
    conversation.save(update_fields=["documents_mode", "updated_at"])
    conversation.documents.set(chosen if mode == Conversation.DocumentsMode.SELECTED else [])


@transaction.atomic
def conversation_update(
    *,
    conversation: Conversation,
    title: str | None = None,
    archived: bool | None = None,
    model: str | None = None,
    documents_mode: str | None = None,
    document_ids: list | None = None,
) -> Conversation:
    if documents_mode is not None or document_ids is not None:
        _choose_documents(conversation, documents_mode or conversation.documents_mode, document_ids)
    fields = ["updated_at"]
    if title is not None:
        conversation.title = title.strip()[:200]
        fields.append("title")
    if archived is not None:
        conversation.archived = archived
        fields.append("archived")
    if model is not None:
        config = llm.model_config(model)
        admission.check_can_chat(conversation.owner, config)
        conversation.model = config.name
        fields.append("model")
    conversation.save(update_fields=fields)
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    async_to_sync(engine.request_stop)(conversation.pk)
    conversation.delete()


@dataclass
class Turn:
    user_message: Message
    assistant_message: Message
    prompt: list[dict]


@dataclass
class OpenedTurn:
    title: str
    turns: list[dict]
    scope: grounding.DocumentScope | None
    web_allowed: bool


def _turn_opener(
    *, user: User, conversation: Conversation, ids: tuple[uuid.UUID, uuid.UUID], content: str, model: str, system: dict
) -> Callable[[], admission.Opened]:
    """Records the turn inside the admission's transaction, so a refused hold leaves no half-written turn."""
    user_message_id, answer_id = ids

    def open_turn() -> admission.Opened:
        try:
            opened = message_rows.turn_open(
                conversation_id=conversation.pk,
                user_message_id=user_message_id,
                answer_id=answer_id,
                content=content,
                model=model,
                busy_since=timezone.now() - finisher.STALE_AFTER,
            )
        except LookupError:
            raise ServiceError("not_found", "This conversation no longer exists.", status=404) from None
        if opened is None:
            raise ServiceError("busy", "An answer is still being written; wait for it or stop it.", status=409)
        title, turns = opened
        scope = grounding.document_scope(conversation, user)
        return admission.Opened(
            prompt=[system, *turns],
            grounded=scope is not None or bool(webpages.urls_in(content)),
            on_hold=lambda hold: message_rows.answer_hold(message_id=answer_id, tokens=hold.tokens),
            details=OpenedTurn(title, turns, scope, can_fetch_web(user)),
        )

    return open_turn


def output_guard(canary: str | None) -> guardrails.OutputGuard | None:
    if not settings.GUARDRAIL_REDACT_PII and canary is None:
        return None
    return guardrails.OutputGuard(canary=canary, redact_pii=settings.GUARDRAIL_REDACT_PII)


@dataclass
class Reply:
    turn: Turn
    generation: engine.Generation
    events: asyncio.Queue | None  # with subscribe=True: every event of this answer, from "started" on


async def reply_start(
    *,
    caller: admission.Caller,
    conversation: Conversation,
    content: object,
    model: str | None = None,
    max_tokens: int | None = None,
    subscribe: bool = False,
    cache: bool | None = None,
    cache_control: str = "",
    output_format: structured.OutputFormat | None = None,
) -> Reply:
    """Admit and record the user's message, then start the answer. Returns at once; the answer streams in its own
    task. ``output_format``: the answer must be JSON (of a schema), checked before it is shown."""
    text = validate_content(content)
    config = llm.model_config(model or conversation.model)
    output = constrained.contract_for(config, output_format, None, tool_history=False)
    if engine.running_in(conversation.pk) is not None:  # the common case, answered without the database
        raise ServiceError("busy", "An answer is still being written; wait for it or stop it.", status=409)
    ids = (uuid.uuid4(), uuid.uuid4())
    canary = guardrails.new_canary()
    system = {"role": "system", "content": prompts.system_prompt(canary)}
    size = admission.Size(len(text), settings.CHAT_MAX_MESSAGE_CHARS, "message_too_long", "The message")
    user = caller.user
    admitted = await admission.admit(
        caller,
        admission.ModelRequest(model=config.name, user_texts=[text], size=size, max_tokens=max_tokens),
        open_=_turn_opener(
            user=user, conversation=conversation, ids=ids, content=text, model=config.name, system=system
        ),
    )
    opened: OpenedTurn = admitted.opened.details
    title, turns, urls = opened.title, opened.turns, webpages.urls_in(text)
    now = timezone.now()
    turn = Turn(
        user_message=Message(id=ids[0], conversation_id=conversation.pk, role="user", content=text, created_at=now),
        assistant_message=Message(
            id=ids[1],
            conversation_id=conversation.pk,
            role="assistant",
            status="pending",
            model=config.name,
            created_at=now,
        ),
        prompt=admitted.prompt,
    )
    running = engine.start(
        protocol.GenerationRequest(
            admission=admitted,
            conversation_id=conversation.pk,
            message_id=ids[1],
            prompt=turn.prompt,
            guard=output_guard(canary),
            needs_title=not title and conversation.source == Conversation.Source.CHAT,
            ground=_grounder(user, config, turns, opened.scope, urls, opened.web_allowed)
            if opened.scope is not None or urls
            else None,
            cache=answer_cache.plan_for(
                user_id=user.pk,
                policy=admitted.policy,
                model=config,
                sampling={},
                asked=cache,
                cache_control=cache_control,
                canary=canary,
                scope=opened.scope,
            ),
            output=output,
        )
    )
    events = running.subscribe() if subscribe else None  # before any await, so no event can slip past
    await running.publish(started_event(turn))
    return Reply(turn, running, events)


def _grounder(
    user: User,
    config: llm.ModelConfig,
    turns: list[dict],
    scope: grounding.DocumentScope | None,
    urls: list[str],
    web_allowed: bool,
):
    history, question = turns[:-1], turns[-1]["content"]

    async def documents() -> list:
        if scope is None:
            return []
        query = await grounding.standalone_query(config, history, question)
        return await in_db_thread(grounding.search_documents)(user=user, query=query, scope=scope)

    async def pages() -> list:
        if not web_allowed:
            return grounding.web_refusals(urls, "Your role does not allow reading web pages.")
        return await webpages.read_pages(urls)

    async def ground() -> grounding.Grounding:
        found = grounding.Grounding(query=question)
        hits, results = await asyncio.gather(documents(), pages())  # links are read while documents are searched
        grounding.add_documents(found, hits, question)
        grounding.add_web_pages(found, results, question, config)
        return found

    return ground


def started_event(turn: Turn) -> dict:
    return {
        "type": "started",
        "user_message": message_data(turn.user_message),
        "message": message_data(turn.assistant_message),
    }


async def exchange_start(
    admitted: admission.Admission,
    *,
    extra: dict,
    source: str,
    cache: answer_cache.CachePlan | None = None,
    output: constrained.OutputContract | None = None,
) -> Reply:
    """An OpenAI-style request: the caller sends the whole prompt; it is recorded as a new conversation.

    The rows are written while the model is already working on the answer. The caller's own prompt is sent
    unchanged: no system prompt (or canary) of ours. ``extra``: sampling fields, each checked by the caller's parser.
    """
    user, config, hold, messages = admitted.user, admitted.model, admitted.hold, admitted.prompt
    conversation_id, answer_id = uuid.uuid4(), uuid.uuid4()
    persisted = asyncio.ensure_future(
        in_db_thread(message_rows.exchange_insert)(
            conversation_id=conversation_id,
            answer_id=answer_id,
            owner_id=user.pk,
            model=config.name,
            source=source,
            messages=messages,
            reserved_tokens=hold.tokens,
        )
    )
    running = engine.start(
        protocol.GenerationRequest(
            admission=admitted,
            conversation_id=conversation_id,
            message_id=answer_id,
            prompt=messages,
            guard=output_guard(None),
            extra=extra,
            persisted=persisted,
            cache=cache,
            output=output,
        )
    )
    turn = Turn(
        user_message=Message(conversation_id=conversation_id, role="user", content=messages[-1]["content"]),
        assistant_message=Message(id=answer_id, conversation_id=conversation_id, role="assistant", model=config.name),
        prompt=messages,
    )
    return Reply(turn, running, running.subscribe())


async def reply_stop(*, conversation: Conversation) -> None:
    await engine.request_stop(conversation.pk)
    if engine.running_in(conversation.pk) is None:
        # Its writer may be dead (killed): then no process hears the stop, and the answer is closed here instead.
        for message_id, content in await in_db_thread(message_rows.conversation_dead_answers_close)(conversation.pk):
            await engine.publish_closed(conversation.pk, message_id, content, message_rows.INTERRUPTED)


def title_set(*, conversation_id: uuid.UUID, title: str) -> bool:
    """Set a generated title unless the user named the conversation meanwhile."""
    return bool(Conversation.objects.filter(pk=conversation_id, title="").update(title=title))
