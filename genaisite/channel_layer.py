"""A channel layer for the embedded default: no Redis, several processes, one Postgres.

Consumers live in the web process, so groups and deliveries stay in memory there (``InMemoryChannelLayer``). What
the in-memory layer cannot do is carry an event from the worker process to the web process; for that:

- a process that has no listener (the Huey worker, a management command) publishes by inserting a ``ChannelEvent``
  row and calling ``pg_notify`` in the caller's transaction, so the event goes out exactly when the state change it
  describes commits;
- each web process keeps **one** ``LISTEN`` connection, started with its first group member, that fans events out
  to its local consumers, reconnects with backoff and, after a reconnect, catches up from the table.

A web process (``genaisite.asgi`` calls ``mark_web_process``) delivers its own events directly, so this layer
serves a single web process; run several behind a load balancer with ``REDIS_URL`` (channels-redis) instead.

Every streamed token passes through ``group_send``, so the in-memory parts are tuned for that path: the stock layer
sweeps every channel and group for expired messages on each send and receive, and spawns a task per recipient;
here the sweep runs at most once a second and delivery is a direct queue put.
"""

import asyncio
import json
import logging
import time
from collections import deque
from datetime import UTC, datetime, timedelta

import psycopg
from asgiref.sync import sync_to_async
from channels.layers import InMemoryChannelLayer
from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "genaisite_events"
# Postgres refuses NOTIFY payloads of 8000 bytes or more; larger events travel as a row id.
MAX_INLINE_PAYLOAD = 7000
LISTEN_READY_TIMEOUT = 5.0
# Worker threads commit in any order, so ids are not a cursor: after a reconnect we re-read a time window (with a
# margin for commits in flight) and skip the ids already delivered.
CATCH_UP_MARGIN = timedelta(seconds=10)
REMEMBERED_IDS = 10_000
SWEEP_INTERVAL = 1.0

_web_process = False


def mark_web_process() -> None:
    """Called by the ASGI entry point: this process serves websockets, so its events are delivered here."""
    global _web_process
    _web_process = True


def database_conninfo() -> str:
    db = settings.DATABASES["default"]
    options = {key: value for key, value in db.get("OPTIONS", {}).items() if key != "pool"}
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"], port=db["PORT"], dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], **options
    )


def publish_through_postgres(group: str, message: dict) -> None:
    """Store the event and notify listeners; both take effect when the caller's transaction commits."""
    from genaisite.models import ChannelEvent

    event = ChannelEvent.objects.create(group_name=group, payload=message)
    notice = json.dumps({"id": event.pk, "group": group, "message": message})
    if len(notice.encode()) > MAX_INLINE_PAYLOAD:
        notice = json.dumps({"id": event.pk})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, notice])


class PostgresChannelLayer(InMemoryChannelLayer):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._last_sweep = 0.0
        self._listener: asyncio.Task | None = None
        self._listening = asyncio.Event()
        self._disconnected_at: datetime | None = None
        self._delivered_order: deque[int] = deque()
        self._delivered: set[int] = set()

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        await self._ensure_listener()

    async def group_send(self, group: str, message: dict) -> None:
        if _web_process or self._listener_alive():
            self._deliver_locally(group, message)
        else:
            # thread_sensitive: when called through async_to_sync from a worker thread, the insert and the NOTIFY
            # run on that thread's connection, inside its open transaction.
            await sync_to_async(publish_through_postgres, thread_sensitive=True)(group, message)

    def _deliver_locally(self, group: str, message: dict) -> None:
        self._clean_expired()
        members = self.groups.get(group)
        if not members:
            return
        expires = time.time() + self.expiry
        for channel in list(members):
            queue = self.channels.get(channel)
            if queue is None:
                queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
            try:
                queue.put_nowait((expires, dict(message)))
            except asyncio.QueueFull:
                logger.warning("channel %s is full; dropped a %s event", channel, message.get("type"))

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            super()._clean_expired()

    def _listener_alive(self) -> bool:
        if self._listener is None or self._listener.done():
            return False
        return self._listener.get_loop() is asyncio.get_running_loop()

    async def _ensure_listener(self) -> None:
        if not self._listener_alive():
            self._listening = asyncio.Event()
            self._listener = asyncio.create_task(self._listen_forever(), name="channel-layer-listener")
        try:
            await asyncio.wait_for(self._listening.wait(), LISTEN_READY_TIMEOUT)
        except TimeoutError:
            logger.warning("channel layer: LISTEN not ready after %.0f s; events may arrive late", LISTEN_READY_TIMEOUT)

    async def _listen_forever(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(database_conninfo(), autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    await self._catch_up(conn)
                    self._disconnected_at = None
                    self._listening.set()
                    backoff = 0.5
                    async for notice in conn.notifies():
                        await self._deliver_notice(notice.payload)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                self._listening.clear()
                self._disconnected_at = self._disconnected_at or datetime.now(UTC)
                logger.warning("channel layer: listener lost its connection (%s); retrying in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _catch_up(self, conn: psycopg.AsyncConnection) -> None:
        """After a reconnect, deliver what was published while we were away; on first start there is nothing."""
        if self._disconnected_at is None:
            return
        cursor = await conn.execute(
            "SELECT id, group_name, payload FROM genaisite_channelevent WHERE created_at >= %s ORDER BY id",
            [self._disconnected_at - CATCH_UP_MARGIN],
        )
        for event_id, group, message in await cursor.fetchall():
            await self._deliver(event_id, group, message)

    async def _deliver_notice(self, raw: str) -> None:
        notice = json.loads(raw)
        if "message" in notice:
            await self._deliver(notice["id"], notice["group"], notice["message"])
            return
        # Too large to travel inline: read the row on a short-lived connection (the listening one is busy).
        async with await psycopg.AsyncConnection.connect(database_conninfo(), autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT group_name, payload FROM genaisite_channelevent WHERE id = %s", [notice["id"]]
            )
            row = await cursor.fetchone()
        if row is not None:
            await self._deliver(notice["id"], row[0], row[1])

    async def _deliver(self, event_id: int, group: str, message: dict) -> None:
        if event_id in self._delivered:
            return
        self._delivered.add(event_id)
        self._delivered_order.append(event_id)
        if len(self._delivered_order) > REMEMBERED_IDS:
            self._delivered.discard(self._delivered_order.popleft())
        self._deliver_locally(group, message)
