"""The channel layer on the embedded Valkey: channels-redis's pub/sub layer (the one configured) beside its
list-based RedisChannelLayer, for the three ways the app uses it.

- worker → web: a separate process sends each event the way the Huey worker does (sync code, ``async_to_sync``, a
  fresh event loop per call), this process receives it; one-way latency.
- token streams: N conversations in one web process, each sending 40 delta events a second (DeltaBatcher's ceiling)
  to its own receiver; latency and lost events.
- burst: the same streams sending as fast as they can; events per second and lost events.

Target: worker → web p95 <= 10 ms; 20 streams at 40/s p95 <= 10 ms with nothing lost.

    .venv/bin/python bench/channel_layer.py [--seconds 5]
"""

import argparse
import asyncio
import statistics
import sys
import threading
import time

from _harness import bench_valkey, percentile

LAYERS = {
    "batching pub/sub (configured)": ("genaisite.channel_layer", "BatchingPubSubChannelLayer", {}),
    "pubsub (channels-redis as is)": ("channels_redis.pubsub", "RedisPubSubChannelLayer", {}),
    # Without an explicit socket_timeout, redis-py 8's default of 5 s fails this layer's 5 s blocking pop
    # (channels_redis#422); capacity as the settings had it.
    "core (list-based)": ("channels_redis.core", "RedisChannelLayer", {"capacity": 1000}),
}
PACE = 40  # events per second per stream


def make_layer(kind: str, url: str):
    module, name, options = LAYERS[kind]
    host = {"address": url, "socket_timeout": 10} if name == "RedisChannelLayer" else url
    return getattr(__import__(module, fromlist=[name]), name)(hosts=[host], **options)


async def receive(layer, channel: str, count: int, latencies: list[float]) -> None:
    for _ in range(count):
        message = await layer.receive(channel)
        latencies.append((time.time() - message["sent"]) * 1000)


async def worker_to_web(kind: str, url: str, events: int) -> list[float]:
    layer = make_layer(kind, url)
    channel = await layer.new_channel()
    await layer.group_add("user.1", channel)
    latencies: list[float] = []
    receiving = asyncio.create_task(receive(layer, channel, events, latencies))
    await asyncio.sleep(0.2)  # as in streams()
    sender = await asyncio.create_subprocess_exec(sys.executable, __file__, "--send", kind, url, str(events))
    await sender.wait()
    await asyncio.wait([receiving], timeout=10)
    return latencies


def send_like_the_worker(kind: str, url: str, events: int) -> None:
    from asgiref.sync import async_to_sync

    layer = make_layer(kind, url)

    def run() -> None:  # on a thread of its own, as Huey's worker threads are
        for n in range(events):
            event = {"type": "user.event", "event": {"type": "document.progress", "n": n}, "sent": time.time()}
            async_to_sync(layer.group_send)("user.1", event)
            time.sleep(0.01)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


async def streams(kind: str, url: str, count: int, events: int, pace: float | None) -> tuple[list[float], float]:
    layer = make_layer(kind, url)
    latencies: list[float] = []
    receivers = []
    for stream in range(count):
        channel = await layer.new_channel()
        await layer.group_add(f"chat.{stream}", channel)
        receivers.append(asyncio.create_task(receive(layer, channel, events, latencies)))
    # A web process with sockets open: the pub/sub layer's receive loop sleeps in 0.1 s steps until its first
    # subscription, which would otherwise show up as the first few events of every run arriving late.
    await asyncio.sleep(0.2)

    async def send(stream: int) -> None:
        for n in range(events):
            delta = {"type": "delta", "offset": n, "text": "some tokens "}
            await layer.group_send(f"chat.{stream}", {"type": "chat.event", "event": delta, "sent": time.time()})
            if pace:
                await asyncio.sleep(1 / pace)

    started = time.perf_counter()
    await asyncio.gather(*(send(stream) for stream in range(count)))
    _, pending = await asyncio.wait(receivers, timeout=5)
    for task in pending:
        task.cancel()
    return latencies, len(latencies) / (time.perf_counter() - started - (5 if pending else 0))


def summary(latencies: list[float], expected: int) -> str:
    lost = expected - len(latencies)
    if not latencies:
        return f"nothing arrived ({lost} lost)"
    return (
        f"p50 {statistics.median(latencies):6.2f} ms  p95 {percentile(latencies, 0.95):7.2f} ms  "
        f"p99 {percentile(latencies, 0.99):7.2f} ms  lost {lost}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="length of each paced run")
    parser.add_argument("--send", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.send:
        send_like_the_worker(args.send[0], args.send[1], int(args.send[2]))
        return
    url = bench_valkey()
    paced = int(PACE * args.seconds)
    for kind in LAYERS:
        print(f"== {kind}")
        latencies = asyncio.run(worker_to_web(kind, url, 200))
        print(f"worker -> web (200 events)            {summary(latencies, 200)}")
        for count in (1, 20):
            latencies, _ = asyncio.run(streams(kind, url, count, paced, PACE))
            print(f"{count:2d} stream(s) x {PACE}/s for {args.seconds:g} s     {summary(latencies, count * paced)}")
        latencies, rate = asyncio.run(streams(kind, url, 20, 200, None))
        print(f"burst: 20 streams x 200, unpaced      {rate:6.0f} events/s  {summary(latencies, 4000)}")


if __name__ == "__main__":
    main()
