from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.permissions import is_usable_account
from core.input_checks import InvalidInput, parse_json
from core.notifications import SUSPENDED_CLOSE_CODE, user_group

UNAUTHENTICATED = 4401


class UserSocketMixin:
    """Joins the signed-in user's group, so account-wide events (suspension) reach every socket of theirs."""

    async def dispatch(self, message: dict) -> None:
        # Channels closes stale database connections (a hop to a thread) before handling every message; on a
        # streaming socket that is once per token. Our handlers never hold ORM connections themselves (database
        # work goes through helpers that hand their connection back), so the hop is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def join_user_group(self) -> bool:
        user = self.scope.get("user")
        if not is_usable_account(user):
            await self.close(code=UNAUTHENTICATED)
            return False
        self.user_group = user_group(user.pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)
        return True

    async def leave_user_group(self) -> None:
        if hasattr(self, "user_group"):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def account_disconnect(self, message: dict) -> None:
        await self.close(code=SUSPENDED_CLOSE_CODE)


class UserEventsConsumer(UserSocketMixin, AsyncJsonWebsocketConsumer):
    """`/ws/events/`: the signed-in user's events, as JSON frames."""

    async def connect(self) -> None:
        if await self.join_user_group():
            await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.leave_user_group()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Read-only: a frame is ignored, but one the chat socket would refuse gets the same error frame, rather than
        # the JSON decoder's exception closing the socket.
        try:
            parse_json(text_data or "", what="The frame")
        except InvalidInput as exc:
            await self.send_json({"type": "error", "code": exc.code, "message": exc.message})

    async def user_event(self, message: dict) -> None:
        await self.send_json(message["event"])
