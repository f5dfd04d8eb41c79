"""Stopping an answer from any web process: one listener per process on one control group.

A stop sent through any process reaches every process; the one running the conversation's answer stops it. A
subscription per answer would cost two broker round trips each for a rare event. An answer whose writer died is
closed by whoever notices (chat.message_rows.conversation_dead_answers_close); ``publish_closed`` tells its watchers.
"""

import asyncio
import logging
import uuid
import weakref
from collections.abc import Callable

from channels.layers import get_channel_layer

from chat.generation.protocol import CHAT_EVENT, CONTROL_GROUP, STOP_EVENT, conversation_group
from chat.models import Message

logger = logging.getLogger(__name__)

STOP_LISTENER_TIMEOUT = 2.0  # seconds an answer waits for the broker before it streams anyway
# One stop listener per event loop (a web process has one), subscribed before its first answer streams.
_listeners: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[asyncio.Future, asyncio.Task]]" = (
    weakref.WeakKeyDictionary()
)


async def broadcast_stop(conversation_id: uuid.UUID) -> None:
    await get_channel_layer().group_send(CONTROL_GROUP, {"type": STOP_EVENT, "conversation": conversation_id.hex})


async def listener_ready(find: Callable[[uuid.UUID], object | None]) -> None:
    """Make sure this loop listens for stops (``find`` gives the running generation of a conversation, if here)."""
    loop = asyncio.get_running_loop()
    ready, _ = _listeners.get(loop, (None, None))
    if ready is None or (ready.done() and ready.exception() is not None):
        ready = loop.create_future()
        _listeners[loop] = (ready, loop.create_task(_listen(ready, find), name="generation-stop-listener"))
    await asyncio.wait_for(asyncio.shield(ready), STOP_LISTENER_TIMEOUT)


async def _listen(ready: asyncio.Future, find: Callable[[uuid.UUID], object | None]) -> None:
    layer = get_channel_layer()
    try:
        channel = await layer.new_channel()
        await layer.group_add(CONTROL_GROUP, channel)
    except Exception as exc:  # the broker is down: this answer cannot be stopped from elsewhere; the next retries
        logger.warning("could not subscribe to stop requests: %s", exc)
        ready.set_exception(exc)
        return
    ready.set_result(None)
    while True:
        try:
            message = await layer.receive(channel)
        except asyncio.CancelledError:
            raise
        except Exception:  # the layer reconnects by itself; keep listening
            logger.exception("stop listener: receive failed")
            await asyncio.sleep(1)
            continue
        if message.get("type") == STOP_EVENT and (generation := _find_by_hex(find, message.get("conversation"))):
            generation.stop()


def _find_by_hex(find: Callable[[uuid.UUID], object | None], conversation: object):
    try:
        return find(uuid.UUID(hex=str(conversation)))
    except ValueError:
        return None


async def publish_closed(conversation_id: uuid.UUID, message_id: uuid.UUID, content: str, reason: str) -> None:
    """Tell the conversation's watchers that an answer no generation is writing any more has been closed failed."""
    event = {
        "type": "done",
        "message_id": str(message_id),
        "status": Message.Status.FAILED,
        "content": content,  # as saved: the text flushed before the writer died
        "finish_reason": "",
        "usage": None,
        "time_to_first_token_ms": None,
        "duration_ms": None,
        "error": reason,
        "cached": None,
    }
    await get_channel_layer().group_send(conversation_group(conversation_id), {"type": CHAT_EVENT, "event": event})
