"""Per-user events pushed to the browser (e.g. document ingestion progress), from any process.

Every websocket consumer of a signed-in user joins ``user_group(user.pk)``; besides events to forward, the group
carries ``account.disconnect``, which closes the user's sockets when the account is suspended.
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

EVENT_TYPE = "user.event"
DISCONNECT_TYPE = "account.disconnect"
SUSPENDED_CLOSE_CODE = 4403


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def notify_user(user_id: int, event: dict) -> None:
    """Send ``event`` to every open socket of the user. Call it inside the transaction that made the change:
    with the embedded channel layer the event leaves when that transaction commits."""
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": EVENT_TYPE, "event": event})


def disconnect_user(user_id: int) -> None:
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": DISCONNECT_TYPE})
