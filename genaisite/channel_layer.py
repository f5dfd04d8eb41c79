"""The channel layer: channels-redis' pub/sub layer, with its publishes sent in batches.

channels-redis sends each ``group_send`` as its own PUBLISH under a per-connection lock, so every event waits for the
previous one's round trip to Valkey: with a few hundred answers streaming, deltas queue behind each other and each
costs a system call of its own. Here a publish joins the batch being collected; one writer task sends a batch as a
single pipeline (one write, one read) and starts the next as soon as the previous one is answered. Order is kept
(one connection, batches in sequence, FIFO inside a batch), every caller still awaits its own publish and sees its
error, and nothing else of the layer changes (subscriptions, receiving, groups).
"""

import asyncio
import logging

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close

logger = logging.getLogger(__name__)

# Publishes per pipeline at most: bounds one write and the latency of the batch behind it.
MAX_BATCH = 256


class _BatchingShard(RedisSingleShardConnection):
    def __init__(self, host, channel_layer) -> None:
        super().__init__(host, channel_layer)
        self._outbox: list[tuple[str, bytes, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def publish(self, channel, message) -> None:
        done = asyncio.get_running_loop().create_future()
        self._outbox.append((channel, message, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_batches())
        await done

    async def _write_batches(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox[:MAX_BATCH], self._outbox[MAX_BATCH:]
            try:
                self._ensure_redis()
                pipeline = self._redis.pipeline(transaction=False)
                for channel, message, _ in batch:
                    pipeline.publish(channel, message)
                await pipeline.execute()
            except BaseException as exc:  # the broker is unreachable: every caller of this batch learns it
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
                if not isinstance(exc, Exception):
                    raise
                continue
            for *_, done in batch:
                if not done.done():
                    done.set_result(None)


class _BatchingLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_BatchingShard(shard.host, self) for shard in self._shards]


class BatchingPubSubChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = self._layers[loop] = _BatchingLoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
            return layer
