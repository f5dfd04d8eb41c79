"""Per-user events pushed to the browser (e.g. document ingestion progress), from any process.

Every websocket consumer of a signed-in user joins ``user_group(user.pk)``; besides events to forward, the group
carries ``account.disconnect``, which closes the user's sockets when the account is suspended.

Both leave when the caller's transaction commits (at once outside one): an event describes a change, so it must
neither arrive before a reader can see that change nor announce one that was rolled back. They are best effort: if
the broker is unreachable the failure is logged and the committed change stands (pages reload state from the
database).
"""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

EVENT_TYPE = "user.event"
DISCONNECT_TYPE = "account.disconnect"
SUSPENDED_CLOSE_CODE = 4403


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def _send_at_commit(user_id: int, message: dict) -> None:
    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(user_group(user_id), message)

    transaction.on_commit(send, robust=True)


def notify_user(user_id: int, event: dict) -> None:
    """Send ``event`` to every open socket of the user, once the current transaction commits."""
    _send_at_commit(user_id, {"type": EVENT_TYPE, "event": event})


def disconnect_user(user_id: int) -> None:
    """Close every open socket of the user, once the current transaction commits."""
    _send_at_commit(user_id, {"type": DISCONNECT_TYPE})
