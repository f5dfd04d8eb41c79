"""Embedded LLM throughput on the real model: aggregate completion tokens/s, time to first token and cut answers at
1, 4 and 8 concurrent streams, straight to llama-server, through the stack (/v1/chat/completions and the chat
websocket), and beside the old ``python -m llama_cpp.server`` (one request at a time) for reference.

Targets: through the stack >= 95% of direct tokens/s at every level, and 0 cut answers on every llama-server path;
afterwards (one document search and one more answer later) the web process holds <= 250 MB resident, without torch.

Method: each level starts all N requests at the same instant (asyncio.gather) and measures the wall time until the
last one ends; tokens/s is all completion tokens streamed in the level divided by that time (as reported in the
stream's usage, else one per content chunk). The three llama-server paths run one after the other in each round,
each round led by the next path, so drift on a shared machine hits all alike; ``--rounds`` repeats every level.
Every path sends the same prompt to the model: the app's system prompt (with a fresh canary) and one of 8 short
questions asking for several paragraphs, so that every answer runs to ``--tokens``; temperature 0.8 (llama-server's
default, which the websocket, unable to choose one, gets). Each websocket answer goes to a fresh conversation, so no
answer carries another's history. An answer is CUT when its stream ends without a finish_reason, with no text, on an
error, on a connection closed mid-body, or (websocket) with a done status other than "complete". The baseline server
(``--baseline-python``, a python with llama-cpp-python[server]) runs alone after llama-server stops: two llama
processes at once on 2 cores slow each other down tenfold.

    .venv/bin/python bench/llm_throughput.py [--levels 1,4,8] [--tokens 64] [--rounds 2] [--slots 8] [--context 4096]
        [--baseline-python /tmp/llama-baseline/bin/python]
    .venv/bin/python bench/llm_throughput.py --only-direct --slots 4   # llama-server alone: quick slot sweeps
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _harness import BASE_DIR, Child, bench_accounts, bench_database, cpu_seconds, free_port, percentile

MODEL = "smollm2-135m-instruct"
# Asked for several paragraphs, the model runs to max_tokens: plain questions ("Why is the sky blue?") end early in
# about one answer in five, and the ratio between paths then measures answer lengths instead of the stack.
TOPICS = [
    "how a rainbow forms",
    "the water cycle",
    "why the sky is blue",
    "how vaccines work",
    "what causes the seasons on Earth",
    "how a bicycle stays upright",
    "how bread dough rises",
    "how a refrigerator keeps food cold",
]
QUESTIONS = [f"Explain {topic}, step by step, in several paragraphs." for topic in TOPICS]
DIRECT, V1, SOCKET, OLD = "direct", "/v1 (through the stack)", "websocket (through the stack)", "llama_cpp.server (old)"
STACK_PATHS = (V1, SOCKET)
SHORT = {DIRECT: "direct", V1: "/v1", SOCKET: "websocket", OLD: "old server"}
RSS_TARGET_MB = 250
RATIO_TARGET = 0.95
BASELINE_HOWTO = (
    "python3 -m venv /tmp/llama-baseline && /tmp/llama-baseline/bin/pip install 'llama-cpp-python[server]==0.3.36'"
    " (a ~10 min build on 2 cores), then add --baseline-python /tmp/llama-baseline/bin/python"
)


@dataclass
class Answer:
    ttft: float | None = None  # seconds from the request to the first piece of text
    tokens: int = 0
    chunks: int = 0  # content-bearing chunks or frames
    text: str = ""
    finish_reason: str | None = None
    cut: str = ""  # why the answer is counted as cut; empty when it is whole

    def close(self, reported_tokens: int | None) -> "Answer":
        self.tokens = reported_tokens if reported_tokens is not None else self.chunks
        reasons = [self.cut] if self.cut else []
        if not self.text.strip():
            reasons.append("no text")
        if not self.finish_reason:
            reasons.append("no finish_reason")
        self.cut = ", ".join(reasons)
        return self


@dataclass
class Round:
    wall: float
    answers: list[Answer]


# --- one answer on each path ---------------------------------------------------------------------------------------


def request_body(args, index: int) -> dict:
    from chat import prompts
    from chat.safety import guardrails

    return {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": prompts.system_prompt(guardrails.new_canary())},
            {"role": "user", "content": QUESTIONS[index % len(QUESTIONS)]},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": args.tokens,
        "temperature": args.temperature,
    }


async def http_answer(client, url: str, headers: dict, body: dict) -> Answer:
    """A streamed chat completion, read the way an OpenAI client reads it (SSE ``data:`` lines)."""
    import httpx

    answer, reported = Answer(), None
    started = time.perf_counter()
    try:
        async with client.stream("POST", url, headers=headers, json=body) as response:
            if response.status_code != 200:
                await response.aread()
                answer.cut = f"HTTP {response.status_code}: {response.text[:80]}"
                return answer.close(None)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except json.JSONDecodeError:
                    answer.cut = f"unreadable chunk: {data[:60]}"
                    continue
                if chunk.get("error"):
                    error = chunk["error"]
                    detail = (error.get("code") or error.get("message")) if isinstance(error, dict) else error
                    answer.cut = f"error: {detail}"
                    continue
                if chunk.get("usage"):
                    reported = int(chunk["usage"]["completion_tokens"])
                for choice in chunk.get("choices") or []:
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        if answer.ttft is None:
                            answer.ttft = time.perf_counter() - started
                        answer.chunks += 1
                        answer.text += text
                    answer.finish_reason = choice.get("finish_reason") or answer.finish_reason
    except httpx.HTTPError as exc:  # RemoteProtocolError: the server closed the connection mid-body
        answer.cut = f"connection: {type(exc).__name__}"
    return answer.close(reported)


async def socket_answer(socket, content: str) -> Answer:
    """One answer on the chat websocket: ``send``, then ``delta`` frames until ``done``."""
    import websockets

    answer = Answer()
    started = time.perf_counter()
    try:
        await socket.send(json.dumps({"type": "send", "content": content}))
        while True:
            frame = json.loads(await socket.recv())
            if frame["type"] == "delta":
                if answer.ttft is None:
                    answer.ttft = time.perf_counter() - started
                answer.chunks += 1
                answer.text += frame["text"]
            elif frame["type"] == "error":
                answer.cut = answer.cut or f"error frame: {frame.get('code')}"
                if not frame.get("message_id"):  # refused before an answer started: no done frame follows
                    return answer.close(None)
            elif frame["type"] == "done":
                answer.finish_reason = frame.get("finish_reason")
                if frame.get("status") != "complete":
                    answer.cut = answer.cut or f"done status {frame.get('status')}: {frame.get('error')}"
                usage = frame.get("usage") or {}
                answer.text = frame.get("content") or answer.text
                return answer.close(usage.get("completion_tokens"))
    except websockets.ConnectionClosed as exc:
        answer.cut = f"socket closed: {exc.rcvd.code if exc.rcvd else 'no close frame'}"
        return answer.close(None)


# --- one level: N requests at the same instant ----------------------------------------------------------------------


class Stack:
    """What the through-the-stack paths need: the app's URL, an API key and unused conversations."""

    def __init__(self, app: str, key: str, conversations: list[str]) -> None:
        self.app, self.key, self.conversations = app, key, conversations

    def conversation(self) -> str:
        return self.conversations.pop()


async def timed(coroutines) -> Round:
    started = time.perf_counter()
    answers = await asyncio.gather(*coroutines)
    return Round(time.perf_counter() - started, list(answers))


async def http_level(level: int, args, url: str, headers: dict) -> Round:
    import httpx

    limits = httpx.Limits(max_connections=level + 4, max_keepalive_connections=level + 4)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10), limits=limits) as client:
        bodies = [request_body(args, index) for index in range(level)]
        await client.get(url.rsplit("/chat/completions", 1)[0] + "/models", headers=headers)  # one warm connection
        return await timed(http_answer(client, url, headers, body) for body in bodies)


async def socket_level(level: int, stack: Stack) -> Round:
    import websockets

    ws_url = stack.app.replace("http://", "ws://")
    headers = {"Authorization": f"Bearer {stack.key}", "Origin": stack.app}
    sockets = []
    try:
        for _ in range(level):  # connected (and history read) before the clock starts, like an open chat tab
            socket = await websockets.connect(
                f"{ws_url}/ws/chat/{stack.conversation()}/", additional_headers=headers, max_queue=None
            )
            sockets.append(socket)
            await socket.recv()  # history
        return await timed(
            socket_answer(socket, QUESTIONS[index % len(QUESTIONS)]) for index, socket in enumerate(sockets)
        )
    finally:
        for socket in sockets:
            await socket.close()


async def run_level(path: str, level: int, args, base_url: str, stack: Stack | None) -> Round:
    if path in (DIRECT, OLD):
        return await http_level(level, args, f"{base_url}/chat/completions", {})
    if path == V1:
        return await http_level(
            level, args, f"{stack.app}/v1/chat/completions", {"Authorization": f"Bearer {stack.key}"}
        )
    return await socket_level(level, stack)


# --- summary -------------------------------------------------------------------------------------------------------


def summarize(rounds: list[Round]) -> dict:
    answers = [answer for one in rounds for answer in one.answers]
    wall = sum(one.wall for one in rounds)
    ttft = [answer.ttft * 1000 for answer in answers if answer.ttft is not None]
    return {
        "tokens_per_s": sum(answer.tokens for answer in answers) / wall if wall else float("nan"),
        "ttft_p50": percentile(ttft, 0.5),
        "ttft_p95": percentile(ttft, 0.95),
        "answers": len(answers),
        "tokens": sum(answer.tokens for answer in answers) / max(1, len(answers)),
        "cut": sum(1 for answer in answers if answer.cut),
        "reasons": Counter(answer.cut for answer in answers if answer.cut),
        "finish": Counter(answer.finish_reason for answer in answers if not answer.cut),
    }


def print_level(level: int, rows: dict[str, dict]) -> None:
    direct = rows.get(DIRECT)
    print(f"\n{level} concurrent stream(s)")
    print(
        f"  {'path':<31}{'tokens/s':>9}{'vs direct':>11}{'TTFT p50':>10}{'p95':>8}  (ms){'answers':>9}"
        f"{'tokens':>8}{'cut':>5}"
    )
    for path, row in rows.items():
        ratio = f"{row['tokens_per_s'] / direct['tokens_per_s']:>10.1%}" if direct and path in STACK_PATHS else ""
        print(
            f"  {path:<31}{row['tokens_per_s']:>9.1f}{ratio:>11}{row['ttft_p50']:>10.0f}{row['ttft_p95']:>8.0f}"
            f"{'':5}{row['answers']:>9}{row['tokens']:>8.1f}{row['cut']:>5}"
        )
        for reason, count in row["reasons"].most_common():
            print(f"      cut x{count}: {reason}")


def print_targets(levels: list[int], table: dict[str, dict[int, dict]], memory: dict | None) -> None:
    if V1 in table:
        print(f"\ntarget: through the stack >= {RATIO_TARGET:.0%} of direct tokens/s at every level; 0 cut answers")
        for level in levels:
            direct = table[DIRECT][level]["tokens_per_s"]
            parts = []
            for path in STACK_PATHS:
                ratio = table[path][level]["tokens_per_s"] / direct
                parts.append(f"{SHORT[path]} {ratio:.1%} {'ok' if ratio >= RATIO_TARGET else 'MISSED'}")
            cut = sum(table[path][level]["cut"] for path in (DIRECT, *STACK_PATHS))
            print(f"  {level} stream(s): {', '.join(parts)}; cut answers {cut} {'ok' if cut == 0 else 'MISSED'}")
    if memory:
        rss = memory["rss_mb"]
        verdict = "ok" if rss <= RSS_TARGET_MB else "MISSED"
        print(
            f"target: web process (Daphne) resident memory <= {RSS_TARGET_MB} MB after a search and an answer: "
            f"{rss:.0f} MB {verdict}; torch loaded: {'YES' if memory['torch'] else 'no'} "
            f"(search answered {memory['search_status']})"
        )


def markdown(args, levels: list[int], table: dict[str, dict[int, dict]], memory: dict | None) -> list[str]:
    paths = [path for path in (DIRECT, V1, SOCKET, OLD) if path in table]
    header = ["streams"] + [f"{SHORT[path]} tok/s" for path in paths]
    header += [f"{SHORT[path]} TTFT p50 / p95 ms" for path in paths]
    header.append("cut answers")
    lines = [
        f"SmolLM2-135M-Instruct on llama-server, {args.slots} slots x {args.context} context, {args.tokens} tokens "
        f"per answer, {args.rounds} round(s) per level, {os.cpu_count()} cores:",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for level in levels:
        direct = table[DIRECT][level]["tokens_per_s"] if DIRECT in table else None
        cells = [str(level)]
        for path in paths:
            row = table[path][level]
            ratio = f" ({row['tokens_per_s'] / direct:.0%})" if direct and path in STACK_PATHS else ""
            cells.append(f"{row['tokens_per_s']:.1f}{ratio}")
        cells += [f"{table[path][level]['ttft_p50']:.0f} / {table[path][level]['ttft_p95']:.0f}" for path in paths]
        cells.append(", ".join(f"{SHORT[path]} {table[path][level]['cut']}" for path in paths))
        lines.append("| " + " | ".join(cells) + " |")
    if memory:
        lines += [
            "",
            f"Web process after a search and an answer: {memory['rss_mb']:.0f} MB resident (target <= "
            f"{RSS_TARGET_MB} MB), torch {'loaded' if memory['torch'] else 'not loaded'}.",
        ]
    return lines


# --- processes ------------------------------------------------------------------------------------------------------


def wait_ready(child: Child, url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.process.args[:3]} exited with {child.process.returncode}; see {log}")
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - our own loopback URL
            return
        except OSError:
            time.sleep(0.2)
    child.stop()
    raise RuntimeError(f"{child.process.args[:3]} did not answer {url} within {timeout:.0f} s; see {log}")


def start(command: list[str], env: dict, ready_url: str, log: Path, timeout: float = 120) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    child = Child(command, env, log=str(log))
    wait_ready(child, ready_url, timeout, log)
    return child


def start_llama_server(args, logs: Path) -> tuple[Child, str]:
    from documents.embeddings import health_url
    from genaisite.embedded.llm import llm_server_command, llm_server_env

    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = llm_server_command(port=port, model_alias=MODEL, context=args.context, slots=args.slots)
    return start(command, llm_server_env(), health_url(base_url), logs / "llama-server.log"), base_url


def baseline_python(path: str | None) -> tuple[str | None, str]:
    """The python to run the old server with, or None and why not."""
    if not path:
        return None, "--baseline-python not given"
    try:
        found = subprocess.run([path, "-c", "import llama_cpp.server"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{path} does not run ({exc})"
    if found.returncode != 0:
        return None, f"{path} cannot import llama_cpp.server"
    return path, ""


def start_old_server(python: str, logs: Path) -> tuple[Child, str]:
    from genaisite.embedded.llm import llm_server_env, smollm2_model_file

    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    command = [
        python,
        "-m",
        "llama_cpp.server",
        "--model",
        str(smollm2_model_file()),
        "--model_alias",
        MODEL,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "2",
    ]
    # Its settings also come from the environment (MODEL, PORT, ...): give it only the basics, as llama-server.
    return start(command, llm_server_env(), f"{base_url}/models", logs / "llama-cpp-server.log"), base_url


def setup_accounts(count: int) -> tuple[str, list[str]]:
    return bench_accounts(count, MODEL)


def start_stack(args, logs: Path, llm_url: str) -> tuple[list[Child], Stack]:
    from documents.embeddings import health_url
    from genaisite.embedded.embedding_server import embedding_server_command

    embeddings_port, app_port = free_port(), free_port()
    env = os.environ | {"EMBEDDED_EMBEDDINGS_PORT": str(embeddings_port)}
    children = [
        start(
            embedding_server_command(port=embeddings_port, bf16=True),
            env,
            health_url(f"http://127.0.0.1:{embeddings_port}/v1"),
            logs / "embeddings.log",
        )
    ]
    models = [{"name": MODEL, "base_url": llm_url, "context_window": 4096, "max_output_tokens": args.tokens}]
    web_env = env | {
        "LLM_MODELS": json.dumps(models),
        "DJANGO_SETTINGS_MODULE": "genaisite.settings.development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": "20",
    }
    daphne = [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(app_port)]
    app = f"http://127.0.0.1:{app_port}"
    try:
        children.append(start([*daphne, "genaisite.asgi:application"], web_env, f"{app}/healthz", logs / "web.log"))
    except Exception:
        children[0].stop()
        raise
    levels = [int(level) for level in args.levels.split(",")]
    key, conversations = setup_accounts(sum(levels) * args.rounds + 16)
    return children, Stack(app, key, conversations)


def web_memory(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return {"rss_mb": rss_kb / 1024, "torch": "libtorch" in Path(f"/proc/{pid}/maps").read_text()}


async def search_and_answer(args, stack: Stack) -> tuple[int, Answer]:
    import httpx

    headers = {"Authorization": f"Bearer {stack.key}"}
    async with httpx.AsyncClient(timeout=120) as client:
        response = await client.post(
            f"{stack.app}/api/v1/search/", headers=headers, json={"query": "how do rainbows form"}
        )
    answer = (await socket_level(1, stack)).answers[0]
    return response.status_code, answer


# --- main -----------------------------------------------------------------------------------------------------------


def measure(paths: list[str], levels: list[int], args, llm_url: str, stack: Stack | None, table: dict) -> None:
    """Every level, ``--rounds`` times, each path in turn within a round; prints each level as it completes."""
    asyncio.run(asyncio.wait_for(_warm_up(paths, args, llm_url, stack), 300))
    for level in levels:
        rounds: dict[str, list[Round]] = {path: [] for path in paths}
        for number in range(args.rounds):
            for path in paths[number % len(paths) :] + paths[: number % len(paths)]:  # a new path goes first
                rounds[path].append(asyncio.run(run_level(path, level, args, llm_url, stack)))
        rows = {path: summarize(rounds[path]) for path in paths}
        for path, row in rows.items():
            table.setdefault(path, {})[level] = row
        print_level(level, rows)


async def _warm_up(paths: list[str], args, llm_url: str, stack: Stack | None) -> None:
    for path in paths:  # first requests pay for lazy set-up (connections, caches, the model's first batch)
        await run_level(path, 2, args, llm_url, stack)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,8", help="concurrent streams, comma-separated")
    parser.add_argument("--tokens", type=int, default=64, help="max_tokens per answer")
    parser.add_argument("--rounds", type=int, default=2, help="times each level is repeated")
    parser.add_argument("--temperature", type=float, default=0.8, help="direct and /v1 (websocket: the server's)")
    parser.add_argument("--slots", type=int, default=8, help="llama-server --parallel")
    parser.add_argument("--context", type=int, default=4096, help="context window of each slot")
    parser.add_argument("--only-direct", action="store_true", help="measure llama-server alone (no app)")
    parser.add_argument("--baseline-python", help="a python with llama-cpp-python[server], for the old server")
    parser.add_argument("--logs", default=str(BASE_DIR / "var" / "bench-llm"), help="where server logs go")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    logs = Path(args.logs)

    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} before starting: something else is running, numbers are suspect")
    if not args.only_direct:
        os.environ["DATABASE_URL"] = bench_database("genaisite_bench_llm")
    import django

    django.setup()
    from genaisite.embedded.llm import smollm2_model_file

    print(
        f"{smollm2_model_file().name} on llama-server: {args.slots} slots x {args.context} context; "
        f"{args.tokens} tokens per answer at most, temperature {args.temperature:g}, {args.rounds} round(s) per level"
    )
    table: dict[str, dict[int, dict]] = {}
    memory = None
    llama, llm_url = start_llama_server(args, logs)
    try:
        if args.only_direct:
            measure([DIRECT], levels, args, llm_url, None, table)
        else:
            children, stack = start_stack(args, logs, llm_url)
            web_pid = children[-1].process.pid
            try:
                cpu_before = cpu_seconds(web_pid)
                measure([DIRECT, V1, SOCKET], levels, args, llm_url, stack, table)
                answers = sum(table[path][level]["answers"] for path in STACK_PATHS for level in levels)
                web_cpu = (cpu_seconds(web_pid) - cpu_before) * 1000 / (answers + 2 * len(STACK_PATHS))
                status, answer = asyncio.run(search_and_answer(args, stack))
                memory = web_memory(web_pid) | {"search_status": status}
                print(
                    f"\nweb process: {web_cpu:.1f} ms CPU per answer through the stack; "
                    f"search {status}, last answer {'cut: ' + answer.cut if answer.cut else 'whole'}"
                )
            finally:
                for child in reversed(children):
                    child.stop()
    finally:
        llama.stop()

    python, why_not = baseline_python(args.baseline_python)
    if python:
        print(f"\nbaseline: python -m llama_cpp.server (n_ctx 2048, 2 threads) with {python}")
        old, old_url = start_old_server(python, logs)
        try:
            old_table: dict[str, dict[int, dict]] = {}
            measure([OLD], levels, args, old_url, None, old_table)
            table[OLD] = old_table[OLD]
        finally:
            old.stop()
    elif not args.only_direct or args.baseline_python:
        print(f"\nbaseline llama_cpp.server (old) skipped: {why_not}; to get it: {BASELINE_HOWTO}")

    print_targets(levels, table, memory)
    print("\nfor bench/README.md:\n")
    print("\n".join(markdown(args, levels, table, memory)))


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
