"""`/ws/chat/<conversation_id>/`: a conversation's live view. Protocol: docs/websocket.md.

The consumer only relays: sending starts a generation (chat.generation) that runs on its own, so "stop" is handled
at once and a closed tab does not end the answer. Every tab of the conversation, in any web process, sees the same
stream through the conversation's channel-layer group.
"""

import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts import ratelimits
from accounts.consumers import UserSocketMixin
from accounts.models import ApiKey, ApiKeyScope
from accounts.permissions import NotFound, can_chat, missing_scope
from accounts.policies import policy_for
from chat import admission, answer_cache, branching, selectors, services
from chat.generation import engine, protocol
from chat.models import Message
from chat.serializers import conversation_data, message_data
from core.db import in_db_thread
from core.errors import ServiceError
from core.input_checks import InvalidInput, parse_json

logger = logging.getLogger(__name__)

NOT_FOUND = 4404
FORBIDDEN = 4403
HISTORY_LIMIT = 500


def _model_of(frame: dict) -> str | None:
    model = frame.get("model")
    if model is not None and not isinstance(model, str):
        raise ServiceError("invalid_model", "'model' must be a model's name.", param="model")
    return model or None


class ChatConsumer(UserSocketMixin, AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        if not await self.join_user_group():
            return
        user = self.scope["user"]
        api_key: ApiKey | None = self.scope.get("api_key")
        if not can_chat(user) or missing_scope(api_key, ApiKeyScope.CHAT) is not None:
            await self.close(code=FORBIDDEN)
            return
        try:
            self.conversation, per_minute = await self._open(user)
        except NotFound:
            await self.close(code=NOT_FOUND)
            return
        # Frames of any kind: a burst is fine, a flood gets error frames (and sends count on the user's limits).
        self.frames = ratelimits.TokenBucket(settings.RATE_LIMIT_SOCKET_BURST, per_minute / 60)
        self.group = protocol.conversation_group(self.conversation.pk)
        # Join before reading history, so nothing published in between is missed (offsets resolve overlaps).
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await self._history())

    @in_db_thread
    def _open(self, user):
        conversation = selectors.access_conversation(user, self.scope["url_route"]["kwargs"]["conversation_id"])
        return conversation, policy_for(user).requests_per_minute

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.leave_user_group()

    @in_db_thread
    def _history_rows(self) -> list[dict]:
        branch = selectors.branch_list(conversation=self.conversation)
        ratings = selectors.ratings_by_message(user=self.scope["user"], conversation=self.conversation)
        return [
            message_data(message, branch.versions.get(message.pk)) | {"rating": ratings.get(message.pk)}
            for message in branch.messages[-HISTORY_LIMIT:]
        ]

    async def _history(self) -> dict:
        messages = await self._history_rows()
        running = engine.running_in(self.conversation.pk)
        if running is not None:
            # The database copy lags by up to a flush interval; this process has the exact text.
            for message in messages:
                if message["id"] == str(running.request.message_id):
                    message["content"] = running.text
                    message["status"] = Message.Status.STREAMING
        return {"type": "history", "conversation": conversation_data(self.conversation), "messages": messages}

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if wait := self.frames.take():
            retry_after = max(1, round(wait))
            await self.send_error("rate_limited", f"Too many messages; wait {retry_after} s.", retry_after)
            return
        try:
            # The HTTP APIs' checks (core/input_checks.py): well-formed, not too deep, no NUL or lone surrogate.
            content = parse_json(text_data or "", what="The frame")
        except InvalidInput as exc:
            await self.send_error(exc.code, exc.message, field=exc.param)
            return
        if not isinstance(content, dict):
            await self.send_error("invalid_frame", "Frames must be JSON objects.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        handler = self.FRAMES.get(content.get("type"))
        try:
            if handler is None:
                raise ServiceError("unknown_type", f"Unknown frame type; send one of {sorted(self.FRAMES)}.")
            await handler(self, content)
        except ServiceError as exc:
            await self.send_error(exc.code, exc.message, exc.retry_after, field=exc.param)

    def _caller(self) -> admission.Caller:
        return admission.Caller(user=self.scope["user"], api_key=self.scope.get("api_key"))

    async def _send(self, frame: dict) -> None:
        if frame.get("preset"):
            await self._choose_preset(frame["preset"])
        await services.reply_start(
            caller=self._caller(),
            conversation=self.conversation,
            content=frame.get("content"),
            model=_model_of(frame),
            cache=answer_cache.parse_choice(frame.get("cache")),
        )

    async def _regenerate(self, frame: dict) -> None:
        await branching.reply_regenerate(
            caller=self._caller(),
            conversation=self.conversation,
            message_id=frame.get("message_id"),
            model=_model_of(frame),
        )

    async def _edit(self, frame: dict) -> None:
        await branching.reply_edit(
            caller=self._caller(),
            conversation=self.conversation,
            message_id=frame.get("message_id"),
            content=frame.get("content"),
            model=_model_of(frame),
            cache=answer_cache.parse_choice(frame.get("cache")),
        )

    async def _select(self, frame: dict) -> None:
        await in_db_thread(branching.branch_select)(conversation=self.conversation, message_id=frame.get("message_id"))
        # Every tab on the conversation shows the branch now continued, so none sends into one it does not show.
        await self.channel_layer.group_send(self.group, {"type": "chat.branch"})

    async def _stop(self, frame: dict) -> None:
        await services.reply_stop(conversation=self.conversation)

    FRAMES = {"send": _send, "regenerate": _regenerate, "edit": _edit, "select": _select, "stop": _stop}

    async def chat_branch(self, message: dict) -> None:
        await self.send_json(await self._history())

    async def _choose_preset(self, preset: object) -> None:
        """A first message may name the preset the conversation runs on (it keeps it afterwards)."""
        if not isinstance(preset, str) or len(preset) > 100:
            raise ServiceError("invalid_preset", "'preset' must be a preset's slug.", param="preset")
        self.conversation = await in_db_thread(services.conversation_preset_choose)(
            conversation=self.conversation, preset=preset
        )

    async def send_error(
        self, code: str, message: str, retry_after: int | None = None, *, field: str | None = None
    ) -> None:
        frame = {"type": "error", "code": code, "message": message}
        if retry_after is not None:
            frame["retry_after"] = retry_after
        if field is not None:  # the frame's field at fault, e.g. "content"
            frame["field"] = field
        await self.send_json(frame)

    async def chat_event(self, message: dict) -> None:
        await self.send_json(message["event"])

    async def user_event(self, message: dict) -> None:
        event = message["event"]
        if event.get("type") == "title" and event.get("conversation_id") == str(self.conversation.pk):
            self.conversation.title = event["title"]  # so later answers here know a title exists
        await self.send_json(event)
