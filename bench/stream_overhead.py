"""What the service adds to streaming: time to first token and inter-token latency, through the websocket and
through /v1/chat/completions, beside the same loopback upstream called directly, at 1, 50 and 200 streams.

Target (issue #4): added time-to-first-token p50 <= 2 ms and p95 <= 8 ms at 50 concurrent streams.

Method: N concurrent streams means N clients, each sending a request, reading the answer to its end and sending the
next (``--rounds`` times), started at random moments within one answer's length so that N answers are in flight at
any time. The upstream is a loopback server emitting tokens at a fixed rate (tests/fake_llm.py); "direct" is the
same client calling it without the service in between. A second table ("burst") starts all N requests at the
same instant, the worst case of a thundering herd, for reference.

    .venv/bin/python bench/stream_overhead.py [--levels 1,50,200] [--tokens 20] [--rate 50] [--rounds 4]
"""

import argparse
import asyncio
import json
import os
import random
import sys
import time

from _harness import BASE_DIR, Child, bench_accounts, bench_database, cpu_seconds, free_port, percentile

MODEL = "fake-echo"


async def http_stream(client, url: str, headers: dict, body: dict) -> tuple[float, list[float]]:
    """POST a streamed chat completion; returns (seconds to first token, gaps between tokens)."""
    started = time.perf_counter()
    first, last, gaps = None, None, []
    async with client.stream("POST", url, headers=headers, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[6:])
            if not chunk.get("choices") or not chunk["choices"][0]["delta"].get("content"):
                continue
            now = time.perf_counter()
            if first is None:
                first = now - started
            else:
                gaps.append(now - last)
            last = now
    return first, gaps


async def socket_stream(socket, tag: str) -> tuple[float, list[float]]:
    started = time.perf_counter()
    await socket.send(json.dumps({"type": "send", "content": tag}))
    first, last, gaps = None, None, []
    while True:
        frame = json.loads(await socket.recv())
        if frame["type"] == "delta":
            now = time.perf_counter()
            if first is None:
                first = now - started
            else:
                gaps.append(now - last)
            last = now
        elif frame["type"] == "done":
            return first, gaps


async def closed_loop(level: int, args, one_request, burst: bool) -> list[tuple[float, list[float]]]:
    answer_seconds = args.tokens / args.rate
    results = []

    async def client(index: int) -> None:
        if not burst:
            await asyncio.sleep(random.uniform(0, answer_seconds))
        for _ in range(1 if burst else args.rounds):
            results.append(await one_request(index))

    await asyncio.gather(*(client(index) for index in range(level)))
    return results


WEB_PID = 0
CPU_PER_ANSWER: dict[str, float] = {}


async def measured(name: str, coroutine) -> list:
    """Run one path's clients, recording the web process's CPU per answer."""
    before = cpu_seconds(WEB_PID) if WEB_PID else 0.0
    results = await coroutine
    if WEB_PID:
        CPU_PER_ANSWER[name] = (cpu_seconds(WEB_PID) - before) * 1000 / max(1, len(results))
    return results


async def run_level(level: int, args, upstream: str, app: str, key: str, conversations: list[str], burst=False):
    import httpx
    import websockets

    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "bench"}],
        "stream": True,
        "max_tokens": args.tokens,
    }
    limits = httpx.Limits(max_connections=level + 10, max_keepalive_connections=level + 10)
    results = {}
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for name, url, headers in (
            ("direct upstream", f"{upstream}/chat/completions", {}),
            ("/v1/chat/completions", f"{app}/v1/chat/completions", {"Authorization": f"Bearer {key}"}),
        ):

            async def one(index, url=url, headers=headers):
                return await http_stream(client, url, headers, body)

            results[name] = await measured(name, closed_loop(level, args, one, burst))
    ws_url = app.replace("http://", "ws://")
    headers = {"Authorization": f"Bearer {key}", "Origin": app}
    sockets = [
        await websockets.connect(f"{ws_url}/ws/chat/{conversation}/", additional_headers=headers, max_queue=None)
        for conversation in conversations[:level]
    ]
    for socket in sockets:
        await socket.recv()  # history

    async def one_socket(index):
        return await socket_stream(sockets[index], f"s{index}")

    results["websocket"] = await measured("websocket", closed_loop(level, args, one_socket, burst))
    for socket in sockets:
        await socket.close()
    return results


def summarize(results: dict) -> dict:
    summary = {}
    for name, runs in results.items():
        ttft = [first * 1000 for first, _ in runs]
        gaps = [gap * 1000 for _, run_gaps in runs for gap in run_gaps]
        summary[name] = {
            "ttft_p50": percentile(ttft, 0.5),
            "ttft_p95": percentile(ttft, 0.95),
            "gap_p50": percentile(gaps, 0.5),
            "gap_p95": percentile(gaps, 0.95),
        }
    return summary


def print_level(level: int, summary: dict, label: str = "") -> None:
    base = summary["direct upstream"]
    print(f"\n{level} concurrent stream(s){label}")
    print(
        f"  {'path':<22}{'TTFT p50':>10}{'p95':>9}{'added p50':>11}{'added p95':>11}{'gap p50':>10}{'gap p95':>9}  (ms)"
    )
    for name, row in summary.items():
        added = (
            ""
            if name == "direct upstream"
            else (f"{row['ttft_p50'] - base['ttft_p50']:>+11.2f}{row['ttft_p95'] - base['ttft_p95']:>+11.2f}")
        )
        cpu = f"{CPU_PER_ANSWER[name]:>16.2f}" if name in CPU_PER_ANSWER and name != "direct upstream" else ""
        print(
            f"  {name:<22}{row['ttft_p50']:>10.2f}{row['ttft_p95']:>9.2f}{added or ' ' * 22:>22}"
            f"{row['gap_p50']:>10.2f}{row['gap_p95']:>9.2f}{cpu}"
        )


def setup_accounts(count: int) -> tuple[str, list[str]]:
    import django

    django.setup()
    return bench_accounts(count, MODEL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,50,200")
    parser.add_argument("--tokens", type=int, default=20, help="tokens per answer")
    parser.add_argument("--rate", type=float, default=50, help="upstream tokens per second per stream")
    parser.add_argument("--rounds", type=int, default=4, help="answers per client in the closed loop")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    database_url = bench_database("genaisite_bench")
    os.environ["DATABASE_URL"] = database_url
    upstream_port, app_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}/v1"
    models = [{"name": MODEL, "base_url": upstream, "context_window": 4096, "max_output_tokens": args.tokens}]
    env = os.environ | {
        "LLM_MODELS": json.dumps(models),
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": "20",
        "DJANGO_SETTINGS_MODULE": "genaisite.settings.development",
        "DEBUG": "false",
    }
    children = [
        Child(
            [sys.executable, "-m", "tests.fake_llm", "--port", str(upstream_port), "--rate", str(args.rate)],
            env,
            ready_url=f"{upstream}/models",
        ),
        Child(
            [
                sys.executable,
                "-m",
                "daphne",
                "-v",
                "0",
                "-b",
                "127.0.0.1",
                "-p",
                str(app_port),
                "genaisite.asgi:application",
            ],
            env,
            ready_url=f"http://127.0.0.1:{app_port}/healthz",
            log=os.environ.get("BENCH_SERVER_LOG", "/dev/null"),
        ),
    ]
    global WEB_PID
    WEB_PID = children[1].process.pid
    try:
        key, conversations = setup_accounts(max(*levels, 5))
        app = f"http://127.0.0.1:{app_port}"
        print(f"upstream: {args.tokens} tokens per answer at {args.rate:g} tokens/s; app: Daphne + embedded Postgres")
        asyncio.run(run_level(5, args, upstream, app, key, conversations))  # warm-up: connections, caches
        for level in levels:
            print_level(level, summarize(asyncio.run(run_level(level, args, upstream, app, key, conversations))))
        for level in levels[1:]:
            burst = asyncio.run(run_level(level, args, upstream, app, key, conversations, burst=True))
            print_level(level, summarize(burst), " - burst: all requests at the same instant (reference)")
        print("\ntarget: added TTFT p50 <= 2 ms and p95 <= 8 ms at 50 streams")
    finally:
        for child in reversed(children):
            child.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
