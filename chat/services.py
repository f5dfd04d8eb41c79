"""Writes for chat: conversations, turns, answers, usage. Async entry points run their ORM work in worker threads."""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

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
from presets import selectors as presets
from presets.models import PresetRevision
from presets.usage import PresetUse


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
    preset: str | None = None,
) -> Conversation:
    """``preset`` (a slug or id): the conversation keeps that preset's current revision for all its turns; its base
    model unless the preset is unlocked and ``model`` names another."""
    use = presets.preset_use(owner, preset, param="preset") if preset else None
    if use is not None and (use.locked or not model):
        model = use.base_model or None
    config = llm.model_config(model)
    admission.check_can_chat(owner, config)
    conversation = Conversation.objects.create(
        owner=owner,
        title=title.strip()[:200],
        model=config.name,
        source=source,
        preset_revision=PresetRevision.objects.select_related("preset").get(pk=use.revision_id) if use else None,
    )
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
        if conversation.preset_revision_id is not None and conversation.preset_revision.locked:
            raise ServiceError("preset_locked", "This conversation's preset is locked to its model.", status=403)
        config = llm.model_config(model)
        admission.check_can_chat(conversation.owner, config)
        conversation.model = config.name
        fields.append("model")
    conversation.save(update_fields=fields)
    return conversation


@transaction.atomic
def conversation_preset_choose(*, conversation: Conversation, preset: str) -> Conversation:
    """Start an empty conversation on ``preset`` (a send that names one); naming the preset it already has is fine,
    any other change is refused: a conversation keeps the preset revision it started with."""
    use = presets.preset_use(conversation.owner, preset, param="preset")
    revision = PresetRevision.objects.select_related("preset").get(pk=use.revision_id)
    locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if locked.preset_revision_id is not None:
        if locked.preset_revision.preset_id == use.preset_id:
            return conversation
        raise ServiceError("preset_fixed", "This conversation keeps its preset; start a new one.", status=409)
    if locked.messages.exists():
        raise ServiceError("preset_fixed", "This conversation began without a preset; start a new one.", status=409)
    config = llm.model_config(use.base_model or None)
    admission.check_can_chat(conversation.owner, config)
    conversation.preset_revision, conversation.model = revision, config.name
    conversation.save(update_fields=["preset_revision", "model", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    async_to_sync(engine.request_stop)(conversation.pk)
    conversation.delete()


@dataclass
class Turn:
    user_message: Message
    assistant_message: Message
    prompt: list[dict]
    versions: dict = field(default_factory=dict)  # message id → its versions' ids (chat.branches.versions)


@dataclass
class OpenedTurn:
    rows: message_rows.OpenedRows
    scope: grounding.DocumentScope | None
    web_allowed: bool


def _links(text: str, preset: PresetUse | None) -> list[str]:
    """The links to read for this message: none under a preset that turns link reading off."""
    return webpages.urls_in(text) if preset is None or preset.web_links else []


def _turn_opener(
    *,
    user: User,
    conversation: Conversation,
    ids: tuple[uuid.UUID, uuid.UUID],
    content: str,
    model: str,
    system: dict,
    preset: PresetUse | None,
    place: message_rows.Placement,
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
                place=place,
            )
        except LookupError:
            raise ServiceError("not_found", "This conversation no longer exists.", status=404) from None
        if opened is None:
            raise ServiceError("busy", "An answer is still being written; wait for it or stop it.", status=409)
        scope = grounding.document_scope(conversation, user, preset.knowledge if preset else None)
        return admission.Opened(
            prompt=[system, *opened.turns],
            grounded=scope is not None or bool(_links(content, preset)),
            on_hold=lambda hold: message_rows.answer_hold(message_id=answer_id, tokens=hold.tokens),
            details=OpenedTurn(opened, scope, can_fetch_web(user)),
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
    place: message_rows.Placement = message_rows.AFTER_LEAF,
) -> Reply:
    """Admit and record the user's message, then start the answer. Returns at once; the answer streams in its own
    task. ``output_format``: the answer must be JSON (of a schema), checked before it is shown. ``place``: where
    the turn goes in the conversation's tree (chat.branching: regenerate, edit); after the current leaf by default."""
    text = validate_content(content)
    if engine.running_in(conversation.pk) is not None:  # the common case, answered without the database
        raise ServiceError("busy", "An answer is still being written; wait for it or stop it.", status=409)
    user = caller.user
    preset = await _conversation_preset(user, conversation)
    sampling = preset.parameters({}) if preset else {}
    if preset is not None:  # a locked preset keeps its model, limit and format; an unlocked one gives defaults
        model = None if preset.locked else model
        max_tokens, output_format = preset.answer_limit(max_tokens), preset.output_for(output_format)
    config = llm.model_config(model or conversation.model)
    output = constrained.contract_for(config, output_format, None, tool_history=False)
    ids = (uuid.uuid4(), uuid.uuid4())
    canary = guardrails.new_canary()
    system = {"role": "system", "content": prompts.system_prompt(canary, preset.system_prompt if preset else None)}
    size = admission.Size(len(text), settings.CHAT_MAX_MESSAGE_CHARS, "message_too_long", "The message")
    admitted = await admission.admit(
        caller,
        admission.ModelRequest(model=config.name, user_texts=[text], size=size, max_tokens=max_tokens, preset=preset),
        open_=_turn_opener(
            user=user,
            conversation=conversation,
            ids=ids,
            content=text,
            model=config.name,
            system=system,
            preset=preset,
            place=place,
        ),
    )
    opened: OpenedTurn = admitted.opened.details
    rows = opened.rows
    title, turns, urls = rows.title, rows.turns, _links(text, preset)
    turn = _turn(conversation, rows, text, ids[1], config.name, admitted.prompt)
    running = engine.start(
        protocol.GenerationRequest(
            admission=admitted,
            conversation_id=conversation.pk,
            message_id=ids[1],
            prompt=turn.prompt,
            guard=output_guard(canary),
            extra=sampling,
            needs_title=not title and conversation.source == Conversation.Source.CHAT,
            ground=grounding.grounder(user, config, turns, opened.scope, urls, opened.web_allowed)
            if opened.scope is not None or urls
            else None,
            cache=answer_cache.plan_for(
                user_id=user.pk,
                policy=admitted.policy,
                model=config,
                sampling=sampling,
                asked=cache,
                cache_control=cache_control,
                canary=canary,
                scope=opened.scope,
            ),
            output=output,
            source=conversation.source,
        )
    )
    events = running.subscribe() if subscribe else None  # before any await, so no event can slip past
    await running.publish(started_event(turn))
    return Reply(turn, running, events)


def _turn(conversation: Conversation, rows: message_rows.OpenedRows, text: str, answer_id, model: str, prompt) -> Turn:
    now = timezone.now()
    question = Message(
        id=rows.question_id,
        conversation_id=conversation.pk,
        parent_id=rows.question_parent_id,
        role="user",
        content=text,
        created_at=now,
    )
    answer = Message(
        id=answer_id,
        conversation_id=conversation.pk,
        parent_id=rows.question_id,
        role="assistant",
        status="pending",
        model=model,
        created_at=now,
    )
    return Turn(question, answer, prompt, versions=rows.versions)


async def _conversation_preset(user: User, conversation: Conversation) -> PresetUse | None:
    """The preset revision the conversation started with, as this user may use it now."""
    if conversation.preset_revision_id is None:
        return None
    return await in_db_thread(presets.revision_use)(user, conversation.preset_revision_id)


def started_event(turn: Turn) -> dict:
    versions = turn.versions
    return {
        "type": "started",
        "user_message": message_data(turn.user_message, versions.get(turn.user_message.pk)),
        "message": message_data(turn.assistant_message, versions.get(turn.assistant_message.pk)),
    }


async def exchange_start(
    admitted: admission.Admission,
    *,
    extra: dict,
    source: str,
    cache: answer_cache.CachePlan | None = None,
    output: constrained.OutputContract | None = None,
    ground: Callable | None = None,
) -> Reply:
    """An OpenAI-style request: the caller sends the whole prompt; it is recorded as a new conversation.

    The rows are written while the model is already working on the answer. The caller's own prompt is sent
    unchanged: no system prompt (or canary) of ours — but a preset's, when the request names one (the caller put it
    in ``admitted.prompt``). ``extra``: sampling fields, each checked by the caller's parser. ``ground``: retrieval
    in a preset's knowledge (``grounder``).
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
            preset_revision_id=admitted.preset.revision_id if admitted.preset else None,
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
            ground=ground,
            live=source != Conversation.Source.BATCH,
            source=source,
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
