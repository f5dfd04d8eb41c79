"""The Batch API on the real model: a batch's throughput through the stack (/v1/files and /v1/batches, run by a Huey
worker) against the same requests sent straight to llama-server, and interactive time to first token while the batch
runs against idle.

Targets (issue #17): the batch >= 90% of direct completion tokens/s at the batch runner's concurrency (the model is
the bottleneck, not the stack); an interactive answer's TTFT p50 during the batch <= 2x idle.

Method: --lines chat-completion requests, each a distinct short question (so the answer cache, which serves repeated
requests at temperature 0, can never hit: the bench checks it did not), --tokens at most, temperature 0.
- direct: the same request bodies POSTed straight to llama-server's /v1/chat/completions, BATCH_CONCURRENCY_PER_USER
  at a time (the number of one person's lines the batch runner runs at once), each client taking the next request
  the moment its last one ends. Then again with every slot busy (--slots at once), for context.
- batch: ``files.create`` -> ``batches.create`` -> ``batches.retrieve`` every 0.5 s until the batch is final, with the
  official ``openai`` SDK, against a web process and a ``manage.py run_huey`` worker; wall time from the upload to
  the poll that sees the batch completed; tokens from the usage in the output file.
- interactive: streamed /v1/chat/completions from a second person (a one-sentence question, distinct each time),
  time to the first content token; --ttft-samples of them idle, then as many during the direct run and during the
  batch (one every --ttft-gap seconds from the moment each is running: both paths carry the same interactive load).
llama-server is restarted before each path, so its prompt cache (``--cache-ram``) never hands one path the prompts
another already processed; each path's occupancy of the model (requests processing, sampled 4 times a second from
its /metrics) says how much of the wall time the model was kept busy. Where a gap goes: each path's line latency
and CPU per line of each process (from /proc), and how long a model slot stood empty between two lines on each
path, from llama-server's own log. Everything is
warmed up first (connections, the worker's first batch).

    .venv/bin/python bench/batch.py [--lines 500] [--tokens 32] [--ttft-samples 10] [--ttft-gap 2] [--slots 8]
        [--no-full-slots] [--logs var/bench-batch]
"""

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from urllib.parse import urlsplit

from _harness import (
    BASE_DIR,
    Child,
    bench_accounts,
    bench_database,
    cpu_seconds,
    free_port,
    percentile,
    service_pid,
    tree_cpu_seconds,
)
from llm_throughput import MODEL, start

BATCH_RATIO_TARGET = 0.90
TTFT_RATIO_TARGET = 2.0
POLL_SECONDS = 0.5
PROBE_DELAY = 1.0  # after a path starts running, before its first interactive sample: past its ramp-up
FINAL = ("completed", "failed", "expired", "cancelled")
# Distinct short questions: every subject with every aspect for the batch, one-sentence ones for interactive use.
_SUBJECTS = (
    "the violin; a bicycle; green tea; the moon; a lighthouse; honeybees; the printing press; a volcano; "
    "chess; the Amazon river; a sourdough loaf; the piano; a coral reef; the steam engine; a desert; "
    "penguins; the compass; a rainforest; origami; the telescope; a glacier; wolves; the bicycle bell; "
    "a windmill; jazz music; the camera; a city park; owls; the alphabet; a sailboat"
)
SUBJECTS = _SUBJECTS.split("; ")
_ASPECTS = (
    "the history of; how people use; the main parts of; why people like; a common problem with; "
    "how to take care of; one surprising fact about; how children learn about; the sound of; "
    "the future of; how to draw; where to find; how to choose; an old story about; the colours of; "
    "a famous example of; how weather affects; the smell of; a safety tip about; "
    "how to explain to a friend"
)
ASPECTS = _ASPECTS.split("; ")
_THINGS = (
    "a kettle; a comet; a harbour; a sonnet; a glacier lake; a thermometer; a quilt; a canyon; "
    "a pendulum; a meadow; a lantern; an orchard; a saxophone; a tidal wave; a library card; a sundial; "
    "a hedgehog; a marathon; a teapot; an island; a rainbow trout; a postcard; a crossword; "
    "a wheelbarrow; a fjord; a metronome; a snowflake; a greenhouse; a parachute; a lullaby"
)
THINGS = _THINGS.split("; ")


@dataclass
class Window:
    """While a path runs: interactive samples wait for ``running`` and count only before ``ended``."""

    running: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float | None = None

    def end(self) -> None:
        self.ended_at = time.perf_counter()
        self.ended.set()


@dataclass
class Sample:
    ttft: float | None  # seconds to the first content token; None when there was none
    first_at: float  # perf_counter at the first token (or the end)
    cache: str  # X-Cache header: MISS, HIT or empty
    error: str = ""


@dataclass
class Run:
    name: str
    wall: float = 0.0
    lines: int = 0  # answered (status 200)
    failed: int = 0
    tokens: int = 0  # completion tokens of the answered lines
    finish: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    busy: list[float] = field(default_factory=list)  # llama-server requests processing, sampled
    latencies: list[float] = field(default_factory=list)  # seconds per answered line
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process during the run
    cached_prompt: int = 0  # prompt tokens llama-server reused from its cache during the run
    ttft: list[Sample] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall if self.wall else float("nan")

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.wall if self.wall else float("nan")


# --- requests ------------------------------------------------------------------------------------------------------


def batch_prompts(number: int) -> list[str]:
    """``number`` distinct short questions (a request number is added once the combinations run out)."""
    combos = [f"In two sentences, describe {aspect} {subject}." for subject in SUBJECTS for aspect in ASPECTS]
    prompts = [
        combos[i % len(combos)] if i < len(combos) else f"{combos[i % len(combos)][:-1]} (request {i})."
        for i in range(number)
    ]
    assert len(set(prompts)) == number, "every prompt distinct, so the answer cache cannot hit"
    return prompts


def interactive_questions(phase: int, phases: int = 3) -> Iterator[str]:
    """Distinct one-sentence questions; phase ``p`` of ``phases`` takes every ``phases``-th, so none repeats."""
    for i in count(phase, phases):
        thing = THINGS[i % len(THINGS)]
        yield f"In one sentence, what is {thing}?" + (f" (question {i})" if i >= len(THINGS) else "")


def chat_body(prompt: str, tokens: int) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": tokens,
        "temperature": 0,
    }


def batch_file(bodies: list[dict], prefix: str = "line") -> bytes:
    lines = [
        {"custom_id": f"{prefix}-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}
        for i, body in enumerate(bodies)
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


# --- llama-server ---------------------------------------------------------------------------------------------------


class ModelServer:
    """llama-server on one port for the whole bench (the web process and the worker are configured with it),
    restarted before each path so no path finds another's prompts in its cache."""

    def __init__(self, args, logs: Path) -> None:
        self.args, self.logs = args, logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.child: Child | None = None

    def start(self, phase: str) -> None:
        from documents.embeddings import health_url
        from genaisite.embedded.llm import llm_server_command, llm_server_env

        command = llm_server_command(
            port=self.port, model_alias=MODEL, context=self.args.context, slots=self.args.slots
        )
        self.child = start(command, llm_server_env(), health_url(self.url), self.logs / f"llama-server-{phase}.log")

    def restart(self, phase: str) -> None:
        self.stop()
        self.start(phase)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None


async def metrics(client, server: ModelServer) -> dict[str, float]:
    response = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    values = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def other_llama_servers(own: int | None) -> set[int]:
    """Other llama-server processes on this machine: two llama.cpp processes busy at once slow each other tenfold."""
    found = set()
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError):
            if comm.read_text().strip() == "llama-server" and int(comm.parent.name) != own:
                found.add(int(comm.parent.name))
    return found


async def watch_model(server: ModelServer, window: Window, run: Run) -> None:
    """Requests processing on llama-server, 4 times a second until the path ends, the prompt tokens it reused, and
    any other llama-server seen running meanwhile (once a second)."""
    import httpx

    own = server.child.process.pid if server.child else None
    others: set[int] = set()
    async with httpx.AsyncClient(timeout=10) as client:
        before = await metrics(client, server)
        while not window.ended.is_set():
            run.busy.append((await metrics(client, server))["llamacpp:requests_processing"])
            if len(run.busy) % 4 == 1:
                others |= other_llama_servers(own)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(window.ended.wait(), 0.25)
        after = await metrics(client, server)
    key = "llamacpp:prompt_tokens_cached_total"
    run.cached_prompt = int(after.get(key, 0) - before.get(key, 0))
    run.extra["other_llama"] = sorted(others)


# --- the paths ------------------------------------------------------------------------------------------------------


async def direct(llm_url: str, bodies: list[dict], concurrency: int, run: Run, window: Window) -> None:
    """The bodies straight to llama-server, ``concurrency`` at a time, each client taking the next one at once."""
    import httpx

    pending = iter(bodies)
    limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
    async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10), limits=limits) as client:

        async def worker() -> None:
            for body in pending:  # shared: whichever client is free takes the next request
                started = time.perf_counter()
                try:
                    response = await client.post(f"{llm_url}/chat/completions", json=body)
                except httpx.HTTPError as exc:
                    run.failed += 1
                    run.errors[type(exc).__name__] += 1
                    continue
                if response.status_code != 200:
                    run.failed += 1
                    run.errors[f"HTTP {response.status_code}"] += 1
                    continue
                answer = response.json()
                run.latencies.append(time.perf_counter() - started)
                run.lines += 1
                run.tokens += answer["usage"]["completion_tokens"]
                run.finish[answer["choices"][0]["finish_reason"]] += 1

        started = time.perf_counter()
        window.running.set()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.wall = time.perf_counter() - started
    window.end()


async def through_batch(app: str, key: str, content: bytes, run: Run, window: Window):
    """Upload, create, poll until final, read the output: the batch as an OpenAI client runs one."""
    import openai

    client = openai.AsyncOpenAI(base_url=f"{app}/v1", api_key=key, max_retries=0, timeout=300)
    try:
        started = time.perf_counter()
        uploaded = await client.files.create(file=("bench.jsonl", content), purpose="batch")
        batch = await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        run.extra["created"] = time.perf_counter() - started
        while batch.status not in FINAL:
            await asyncio.sleep(POLL_SECONDS)
            batch = await client.batches.retrieve(batch.id)
            if batch.status == "in_progress":
                window.running.set()
        run.wall = time.perf_counter() - started
        window.running.set()  # a batch over before a poll saw it running: let the samplers go
        window.end()
        for line in await file_lines(client, batch.output_file_id):
            response = line["response"]
            if response["status_code"] == 200:
                run.extra.setdefault("answers", {})[line["custom_id"]] = response["body"]["id"]
                run.lines += 1
                run.tokens += response["body"]["usage"]["completion_tokens"]
                run.finish[response["body"]["choices"][0]["finish_reason"]] += 1
        for line in await file_lines(client, batch.error_file_id):
            run.failed += 1
            error = (line.get("response") or {}).get("body", {}).get("error") or line.get("error") or {}
            run.errors[error.get("code") or "unknown"] += 1
        return batch
    finally:
        window.running.set()
        if not window.ended.is_set():
            window.end()
        await client.close()


async def file_lines(client, file_id: str | None) -> list[dict]:
    if not file_id:
        return []
    return [json.loads(line) for line in (await client.files.content(file_id)).text.splitlines() if line.strip()]


async def interactive(client, app: str, key: str, question: str, tokens: int) -> Sample:
    """One streamed answer through /v1: time to its first content token."""
    body = chat_body(question, tokens) | {"stream": True}
    started, ttft, cache = time.perf_counter(), None, ""
    try:
        headers = {"Authorization": f"Bearer {key}"}
        async with client.stream("POST", f"{app}/v1/chat/completions", json=body, headers=headers) as response:
            cache = response.headers.get("X-Cache", "")
            if response.status_code != 200:
                await response.aread()
                return Sample(None, time.perf_counter(), cache, f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if ttft is None and line.startswith("data: {"):
                    chunk = json.loads(line[6:])
                    if any((choice.get("delta") or {}).get("content") for choice in chunk.get("choices") or []):
                        ttft = time.perf_counter() - started
                        first_at = time.perf_counter()
    except Exception as exc:  # an interactive failure is reported, not fatal to the bench
        return Sample(None, time.perf_counter(), cache, type(exc).__name__)
    if ttft is None:
        return Sample(None, time.perf_counter(), cache, "no content")
    return Sample(ttft, first_at, cache)


async def probe(app: str, key: str, questions, args, window: Window | None) -> list[Sample]:
    """--ttft-samples interactive answers, one every --ttft-gap seconds; during a path, only those whose first token
    came while it still ran count."""
    import httpx

    samples: list[Sample] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(300, connect=10)) as client:
        if window is not None:
            await window.running.wait()
            await asyncio.sleep(PROBE_DELAY)
        while len(samples) < args.ttft_samples and not (window and window.ended.is_set()):
            sample = await interactive(client, app, key, next(questions), args.tokens)
            if window is None or window.ended_at is None or sample.first_at < window.ended_at:
                samples.append(sample)
            if window is None:
                await asyncio.sleep(args.ttft_gap)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(window.ended.wait(), args.ttft_gap)
    return samples


def _cpu(name: str, pid: int) -> float:
    return tree_cpu_seconds(pid) if name == "postgres" else cpu_seconds(pid)


async def measured(path, server: ModelServer, pids: dict[str, int], probing: tuple | None, run: Run, *args):
    """``path`` with the model watched, the CPU of ``pids`` counted and, when ``probing`` is (app, key, questions,
    args), interactive samples."""
    before = {name: _cpu(name, pid) for name, pid in pids.items()}
    window = Window()
    tasks = [watch_model(server, window, run)]
    if probing:
        tasks.append(probe(*probing, window))
    results = await asyncio.gather(path(*args, run, window), *tasks)
    run.cpu = {name: _cpu(name, pid) - before[name] for name, pid in pids.items()}
    if probing:
        run.ttft = results[-1]
    return results[0]


# --- processes ------------------------------------------------------------------------------------------------------


def start_stack(args, logs: Path, llm_url: str, llm_port: int) -> tuple[list[Child], str]:
    """A web process and a Huey worker, both configured with the bench's llama-server only."""
    from genaisite.webserver import web_server_command

    app_port = free_port()
    models = [{"name": MODEL, "base_url": llm_url, "context_window": args.context, "max_output_tokens": args.tokens}]
    env = os.environ | {
        "LLM_MODELS": json.dumps(models),
        "EMBEDDED_LLM_PORT": str(llm_port),
        # Nothing here needs embeddings (the semantic cache is off): a port nothing listens on, so that a call
        # would fail loudly instead of reaching some other service on the default port.
        "EMBEDDED_EMBEDDINGS_PORT": str(free_port()),
        "DJANGO_SETTINGS_MODULE": "genaisite.settings.development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX": "20",
        "PYTHONUNBUFFERED": "1",
    }
    app = f"http://127.0.0.1:{app_port}"
    children = [start(web_server_command(host="127.0.0.1", port=app_port), env, f"{app}/healthz", logs / "web.log")]
    from huey.contrib.djhuey import HUEY

    HUEY.flush()
    worker_log = logs / "worker.log"
    worker_log.write_bytes(b"")
    worker_env = env | {"LOG_LEVEL": "INFO"}  # one line per task: when each slice of the batch ran
    command = [sys.executable, str(BASE_DIR / "manage.py"), "run_huey", "--flush-locks"]
    children.append(Child(command, worker_env, log=str(worker_log)))
    return children, app


def interactive_account() -> str:
    """A second person (same role), so the batch owner's cap and cache partition are not theirs."""
    from accounts.models import Role, User
    from accounts.services import api_key_create

    user = User.objects.create_user(username="bench-chat", password="bench-password-123", role=Role.MEMBER)
    _, key = api_key_create(user=user, name="bench-chat", scopes=["chat"])
    return key


async def warm_up(server: ModelServer, app: str, chat_key: str, batch_key: str | None, args, phase: int) -> None:
    """Connections, first batches of the model and, once, the worker's first batch (imports, pools). Prompts of
    their own (``phase`` keeps them apart), so nothing of it lands in the answer cache for later."""
    import httpx

    bodies = [chat_body(f"Warm-up {phase}.{i}: name a colour.", args.tokens) for i in range(2)]
    await direct(server.url, bodies, 2, Run("warm-up"), Window())
    async with httpx.AsyncClient(timeout=300) as client:
        await interactive(client, app, chat_key, f"Warm-up {phase}: name a fruit.", args.tokens)
    if batch_key:
        content = batch_file([chat_body(f"Warm-up {i}: name an animal.", args.tokens) for i in range(2)], "warm")
        batch = await through_batch(app, batch_key, content, Run("warm-up batch"), Window())
        if batch.status != "completed" or batch.request_counts.failed:
            raise RuntimeError(f"the warm-up batch ended {batch.status}: {batch.request_counts}; see the logs")


# --- report ---------------------------------------------------------------------------------------------------------


def batch_phases(batch_id: str, run: Run) -> str:
    """Where the batch's wall time went, from its rows (the API's timestamps are whole seconds)."""
    from django.db.models import Max

    from batches.models import Batch

    batch = Batch.objects.get(pk=batch_id)
    if batch.in_progress_at is None or batch.completed_at is None:
        return f"it never ran to the end ({batch.status}: {batch.errors})"
    last = batch.lines.aggregate(last=Max("finished_at"))["last"] or batch.completed_at
    validating = (batch.in_progress_at - batch.created_at).total_seconds()
    running = (last - batch.in_progress_at).total_seconds()
    finalizing = (batch.completed_at - last).total_seconds()
    rest = run.wall - run.extra["created"] - validating - running - finalizing
    return (
        f"upload + create {run.extra['created']:.2f} s, queued + validating {validating:.2f} s, lines "
        f"{running:.2f} s, finalizing {finalizing:.2f} s, until the poll saw it {rest:.2f} s"
    )


def runner_use(batch_id: str, run: Run, concurrency: int, logs: Path) -> str:
    """Each line's latency through the stack (from its answer row, written as the model starts, to its result), and
    how long a model slot stood empty between two lines on each path, from llama-server's own log (a request's
    release to the next launch while fewer than ``concurrency`` ran): the stack's refill time, beside the direct
    clients'."""
    from batches.models import BatchLine
    from chat.models import Message

    answers = run.extra.get("answers", {})
    ids = {custom_id: uuid.UUID(hex=answer.removeprefix("chatcmpl-")) for custom_id, answer in answers.items()}
    started = dict(Message.objects.filter(pk__in=ids.values()).values_list("pk", "created_at"))
    lines = BatchLine.objects.filter(batch_id=batch_id, custom_id__in=ids).order_by("number")
    run.latencies = [(line.finished_at - started[ids[line.custom_id]]).total_seconds() for line in lines]
    gaps = {path: empty_slot_gaps(logs / f"llama-server-{path}.log", concurrency) for path in ("direct", "batch")}
    if not all(gaps.values()):
        return "no slot gaps in llama-server's logs"
    (direct, batch) = ((statistics.median(g) * 1000, percentile(g, 0.9) * 1000) for g in gaps.values())
    return (
        f"a model slot stood empty between two lines for {batch[0]:.0f} ms (p50; p90 {batch[1]:.0f}) through the "
        f"stack, {direct[0]:.0f} ms (p90 {direct[1]:.0f}) direct (llama-server's log: a release to the next launch)"
    )


_SLOT_EVENT = re.compile(r"^(\d+)\.(\d+)\.(\d+)\.(\d+) I slot +(release|launch_slot_)")


def empty_slot_gaps(log: Path, concurrency: int) -> list[float]:
    """Seconds from each release that left fewer than ``concurrency`` requests running to the launch that filled
    the slot again (the log's times are minutes.seconds.milliseconds.microseconds since the server started)."""
    running, emptied, gaps = 0, None, []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if not (found := _SLOT_EVENT.match(line)):
            continue
        minutes, seconds, millis, micros = map(int, found.groups()[:4])
        at = minutes * 60 + seconds + millis / 1e3 + micros / 1e6
        if found.group(5) == "release":
            running -= 1
            emptied = at if running == concurrency - 1 else emptied
        else:
            running += 1
            if running == concurrency and emptied is not None:
                gaps.append(at - emptied)
                emptied = None
    return [gap for gap in gaps if gap < 5]  # not the pause between the warm-up and the measured run


def cache_hits(batch_id: str) -> int:
    """Answers of batch lines served from the answer cache since the batch was created (0 expected)."""
    from batches.models import Batch
    from chat.models import Conversation, Message

    created = Batch.objects.get(pk=batch_id).created_at
    answers = Message.objects.filter(conversation__source=Conversation.Source.BATCH, role="assistant")
    return answers.filter(created_at__gte=created).exclude(cached="").count()


def ttft_ms(samples: list[Sample]) -> tuple[float, float]:
    values = [s.ttft * 1000 for s in samples if s.ttft is not None]
    return percentile(values, 0.5), percentile(values, 0.95)


def print_run(run: Run, base: Run | None) -> None:
    ratio = f"{run.tokens_per_s / base.tokens_per_s:>10.1%}" if base else f"{'':>10}"
    busy = statistics.mean(run.busy) if run.busy else float("nan")
    idle = sum(1 for b in run.busy if b == 0) / len(run.busy) if run.busy else float("nan")
    print(
        f"  {run.name:<30}{run.lines:>6}{run.failed:>7}{run.tokens:>8}{run.wall:>9.2f}{run.tokens_per_s:>10.1f}"
        f"{run.lines_per_s:>9.2f}{ratio}{busy:>7.2f}{idle:>7.0%}{run.cached_prompt:>8}"
    )
    if run.errors:
        print(f"      failures: {dict(run.errors)}")


def report(args, concurrency: int, runs: list[Run], idle: list[Sample], batch, batch_run: Run, hits: int) -> None:
    base = runs[0]
    print(
        f"\n  {'path':<30}{'lines':>6}{'failed':>7}{'tokens':>8}{'wall s':>9}{'tokens/s':>10}{'lines/s':>9}"
        f"{'vs direct':>10}{'busy':>7}{'idle':>7}{'cached':>8}"
    )
    for run in runs:
        print_run(run, base if run is batch_run else None)
    print(
        "  (busy: requests processing on llama-server, mean of 4 samples a second; idle: share of samples with none;"
        "\n   cached: prompt tokens llama-server reused from its cache; tokens: completion tokens)"
    )
    for run in runs:
        finish = ", ".join(f"{reason} {n}" for reason, n in run.finish.most_common())
        latency = [s * 1000 for s in run.latencies]
        cpu = ", ".join(f"{name} {seconds * 1000 / max(1, run.lines):.0f}" for name, seconds in run.cpu.items())
        print(
            f"  {run.name}: line latency p50 {percentile(latency, 0.5):.0f} ms, p95 {percentile(latency, 0.95):.0f} "
            f"ms; CPU ms per line: {cpu}; finish reasons: {finish}"
        )
    if batch_run.extra.get("phases"):
        print(f"  batch: {batch_run.extra['phases']}")
        print(f"  batch: {batch_run.extra['use']}")
    counts = batch.request_counts
    print(
        f"  batch {batch.status}: request_counts total {counts.total}, completed {counts.completed}, failed "
        f"{counts.failed}; answer cache hits on its lines: {hits}"
    )

    print(f"\n  interactive TTFT (streamed /v1, another person, {args.tokens} tokens at most):")
    print(f"  {'while':<34}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'vs idle p50':>13}{'p95':>8}  X-Cache")
    rows = [("idle", idle)] + [(f"during {run.name}", run.ttft) for run in runs if run.ttft]
    idle_p50, idle_p95 = ttft_ms(idle)
    for name, samples in rows:
        p50, p95 = ttft_ms(samples)
        ratios = f"{p50 / idle_p50:>12.2f}x{p95 / idle_p95:>7.2f}x" if name != "idle" else f"{'':>21}"
        caches = ",".join(sorted({s.cache or "-" for s in samples}))
        errors = [s.error for s in samples if s.error]
        print(
            f"  {name:<34}{len(samples):>4}{p50:>9.0f}{p95:>9.0f}{ratios}  {caches}"
            + (f"  errors: {errors}" if errors else "")
        )

    ratio = batch_run.tokens_per_s / base.tokens_per_s
    during = ttft_ms(batch_run.ttft)[0] / idle_p50 if batch_run.ttft else float("nan")
    print(
        f"\ntarget: batch >= {BATCH_RATIO_TARGET:.0%} of direct tokens/s at {concurrency} at once: {ratio:.1%} "
        f"{'ok' if ratio >= BATCH_RATIO_TARGET else 'MISSED'}"
    )
    print(
        f"target: interactive TTFT p50 during the batch <= {TTFT_RATIO_TARGET:g}x idle: {during:.2f}x "
        f"{'ok' if during <= TTFT_RATIO_TARGET else 'MISSED'}"
    )
    whole = counts.completed == counts.total and counts.failed == 0 and hits == 0
    print(f"check: every line completed, none failed, no answer-cache hit: {'ok' if whole else 'NO'}")
    for name, samples in rows:
        if len(samples) < args.ttft_samples:
            print(
                f"warning: only {len(samples)} of {args.ttft_samples} TTFT samples {name}: the path ended first "
                "(more lines, or a smaller --ttft-gap)"
            )
    for run in runs:
        if run.extra.get("other_llama"):
            print(
                f"warning: another llama-server (pid {', '.join(map(str, run.extra['other_llama']))}) ran during "
                f"{run.name}: two llama.cpp processes slow each other tenfold, its numbers are not comparable"
            )
    print("\nfor bench/README.md:\n")
    print("\n".join(markdown(args, concurrency, runs, batch_run, idle, rows, batch, hits)))


def markdown(args, concurrency: int, runs: list[Run], batch_run: Run, idle, rows, batch, hits: int) -> list[str]:
    base = runs[0]
    lines = [
        f"{args.lines} lines, {args.tokens} tokens at most, temperature 0; SmolLM2-135M-Instruct on llama-server, "
        f"{args.slots} slots x {args.context} context; BATCH_CONCURRENCY_PER_USER {concurrency}; "
        f"{os.cpu_count()} cores:",
        "",
        "| path | lines | completion tokens | wall s | tokens/s | lines/s | vs direct | model busy (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        ratio = f"**{run.tokens_per_s / base.tokens_per_s:.1%}**" if run is batch_run else ""
        busy = statistics.mean(run.busy) if run.busy else float("nan")
        lines.append(
            f"| {run.name} | {run.lines} | {run.tokens} | {run.wall:.1f} | {run.tokens_per_s:.1f} | "
            f"{run.lines_per_s:.2f} | {ratio} | {busy:.2f} |"
        )
    idle_p50 = ttft_ms(idle)[0]
    lines += ["", "| interactive TTFT | samples | p50 ms | p95 ms | p50 vs idle |", "|---|---|---|---|---|"]
    for name, samples in rows:
        p50, p95 = ttft_ms(samples)
        ratio = "" if name == "idle" else f"{p50 / idle_p50:.2f}x"
        lines.append(f"| {name} | {len(samples)} | {p50:.0f} | {p95:.0f} | {ratio} |")
    counts = batch.request_counts
    lines += [
        "",
        f"Batch {batch.status}: request_counts total {counts.total}, completed {counts.completed}, failed "
        f"{counts.failed}; answer cache hits {hits}. {batch_run.extra.get('phases', '')}; "
        f"{batch_run.extra.get('use', '')}.",
    ]
    if spoilt := [run.name for run in runs if run.extra.get("other_llama")]:
        lines.append(f"Not comparable: another llama-server ran during {', '.join(spoilt)}.")
    return lines


# --- main -----------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500, help="requests in the batch (and sent directly)")
    parser.add_argument("--tokens", type=int, default=32, help="max_tokens of every request")
    parser.add_argument("--ttft-samples", type=int, default=10, help="interactive answers idle, and during each path")
    parser.add_argument("--ttft-gap", type=float, default=2.0, help="seconds between interactive answers")
    parser.add_argument("--slots", type=int, help="llama-server --parallel (default: EMBEDDED_LLM_SLOTS)")
    parser.add_argument("--context", type=int, default=4096, help="context window of each slot")
    parser.add_argument("--no-full-slots", action="store_true", help="skip the direct run with every slot busy")
    parser.add_argument("--logs", default=str(BASE_DIR / "var" / "bench-batch"), help="logs and the batch files")
    args = parser.parse_args()
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)

    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"warning: load average {load:.2f} before starting: something else is running, numbers are suspect")
    if others := other_llama_servers(None):
        print(f"warning: other llama-server processes running ({', '.join(map(str, sorted(others)))})")
    os.environ["DATA_DIR"] = str(logs / "data")  # the batch's files (media), for this process and its children
    os.environ["DATABASE_URL"] = bench_database("genaisite_bench_batch")
    import django

    django.setup()
    from django.conf import settings

    from chat import answer_cache

    args.slots = args.slots or settings.EMBEDDED_LLM_SLOTS
    concurrency = settings.BATCH_CONCURRENCY_PER_USER
    bodies = [chat_body(prompt, args.tokens) for prompt in batch_prompts(args.lines)]
    content = batch_file(bodies)
    print(
        f"{args.lines} lines ({len(content) / 1024:.0f} KiB), {args.tokens} tokens at most, temperature 0; "
        f"llama-server {args.slots} slots x {args.context}; BATCH_CONCURRENCY_PER_USER {concurrency}; "
        f"{args.ttft_samples} interactive samples per phase, one every {args.ttft_gap:g} s"
    )
    batch_key, _ = bench_accounts(0, MODEL)
    chat_key = interactive_account()
    server = ModelServer(args, logs)
    server.start("direct")
    children: list[Child] = []
    try:
        children, app = start_stack(args, logs, server.url, server.port)
        asyncio.run(asyncio.wait_for(warm_up(server, app, chat_key, batch_key, args, 0), 300))

        def probing(phase: int) -> tuple:
            return app, chat_key, interactive_questions(phase), args

        def pids() -> dict[str, int]:
            shared = {"postgres": postgres, "valkey": valkey}
            return {
                "llama-server": server.child.process.pid,
                "web": children[0].process.pid,
                "worker": children[1].process.pid,
                "bench": os.getpid(),
            } | {name: pid for name, pid in shared.items() if pid}

        # Shared with everything else on the machine, so counted only to show what the stack's own work costs.
        postgres = service_pid(f"postgres -D {BASE_DIR / 'var' / 'postgres'}")
        valkey = service_pid(f"valkey-server 127.0.0.1:{urlsplit(os.environ['REDIS_URL']).port}")

        print(f"direct, {concurrency} at once ...", flush=True)
        runs = [Run(f"direct, {concurrency} at once")]
        asyncio.run(measured(direct, server, pids(), probing(1), runs[0], server.url, bodies, concurrency))

        server.restart("batch")
        asyncio.run(warm_up(server, app, chat_key, None, args, 1))
        print("idle interactive TTFT ...", flush=True)
        idle = asyncio.run(probe(app, chat_key, interactive_questions(0), args, None))
        print("batch through the stack ...", flush=True)
        batch_run = Run("batch (through the stack)")
        runs.append(batch_run)
        measuring = measured(through_batch, server, pids(), probing(2), batch_run, app, batch_key, content)
        batch = asyncio.run(asyncio.wait_for(measuring, 300 + 20 * args.lines))  # a safety net, not a target
        batch_run.extra["phases"] = batch_phases(batch.id, batch_run)
        batch_run.extra["use"] = runner_use(batch.id, batch_run, concurrency, logs)
        hits = cache_hits(batch.id)

        if not args.no_full_slots:
            server.restart("full")
            asyncio.run(warm_up(server, app, chat_key, None, args, 2))
            print(f"direct, {args.slots} at once ...", flush=True)
            runs.append(Run(f"direct, {args.slots} at once"))
            asyncio.run(measured(direct, server, pids(), None, runs[-1], server.url, bodies, args.slots))
        counters = answer_cache.counters()
    finally:
        for child in reversed(children):
            child.stop()
        server.stop()

    report(args, concurrency, runs, idle, batch, batch_run, hits)
    print(f"\nanswer cache, whole run (warm-ups and interactive included): {counters}")


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    main()
