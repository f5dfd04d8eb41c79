"""Coalescing of streamed text: one delta event per DELTA_WINDOW_SECONDS at most, instead of one per token.

Every event costs the web process a channel-layer send, a JSON encoding and a socket write per watcher; a fast model
sends a token every few milliseconds. A piece that arrives a window or more after the last event goes out at once,
inline, at no extra cost (the usual case with several streams, and the first token: time to first token is
unchanged). Pieces that come faster wait, together, for the end of the window. Events leave in order under one lock;
``drain`` sends what is pending before the answer's closing events.
"""

import asyncio
from collections.abc import Awaitable, Callable

DELTA_WINDOW_SECONDS = 0.025
# Past this much pending text an event goes out without waiting for the window (a burst from a fast server).
DELTA_MAX_CHARS = 512


class DeltaBatcher:
    def __init__(self, message_id: str, publish: Callable[[dict], Awaitable[None]]) -> None:
        self.message_id = message_id
        self.publish = publish
        self.pending: list[str] = []
        self.pending_offset = 0
        self.pending_chars = 0
        self.last_sent = float("-inf")
        self.sending = asyncio.Lock()
        self.timer: asyncio.TimerHandle | None = None
        self.late_send: asyncio.Task | None = None

    async def add(self, offset: int, text: str) -> None:
        """Queue ``text`` (which starts at ``offset`` in the answer); send now if the window has passed."""
        if not self.pending:
            self.pending_offset = offset
        self.pending.append(text)
        self.pending_chars += len(text)
        loop = asyncio.get_running_loop()
        due = self.last_sent + DELTA_WINDOW_SECONDS
        if loop.time() >= due or self.pending_chars >= DELTA_MAX_CHARS:
            await self._send()
        elif self.timer is None:
            self.timer = loop.call_at(due, self._send_late)

    def _send_late(self) -> None:
        self.timer = None
        self.late_send = asyncio.create_task(self._send(), name=f"deltas-{self.message_id}")

    async def _send(self) -> None:
        async with self.sending:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if not self.pending:
                return
            text, offset = "".join(self.pending), self.pending_offset
            self.pending, self.pending_chars = [], 0
            self.last_sent = asyncio.get_running_loop().time()
            await self.publish({"type": "delta", "message_id": self.message_id, "offset": offset, "text": text})

    async def drain(self) -> None:
        """Send what is pending now: the answer's closing events come after every delta."""
        await self._send()
        if self.late_send is not None:
            await asyncio.wait([self.late_send])
            if not self.late_send.cancelled() and self.late_send.exception() is not None:
                raise self.late_send.exception()

    def stop(self) -> None:
        """Give up on pending text (the answer's task is ending abnormally): nothing outlives the answer."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.late_send is not None and not self.late_send.done():
            self.late_send.cancel()
