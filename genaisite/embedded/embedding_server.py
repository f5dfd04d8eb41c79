"""The embedding service: one process owns all-MiniLM-L6-v2 and serves OpenAI's ``POST /v1/embeddings`` on loopback.

Web and worker processes reach it through ``EMBEDDINGS_BASE_URL`` exactly as they would reach a hosted embeddings
API, so none of them imports torch. Requests that arrive while others are being read or encoded go through the model
together (dynamic batching): a lone query is encoded at once, a crowd shares batches.

Run: ``python -m genaisite.embedded.embedding_server --port 8082`` (``--fp32`` to turn bf16 off). Plain Python (no
Django), so the one process that holds the model holds nothing else.
"""

import argparse
import base64
import itertools
import json
import logging
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from documents.embedding_model import MODEL_NAME, model_directory

logger = logging.getLogger("genaisite.embeddings")

DIMENSIONS = 384
MAX_INPUTS = 2048  # OpenAI's own limit per request
MAX_INPUT_CHARS = 100_000  # the model reads 256 word pieces; anything longer is only cost
MAX_BODY_BYTES = 16 * 1024 * 1024
MODEL_BATCH = 32  # texts per forward pass: throughput levels off here on 2 cores
GATHER_SECONDS = 0.002  # how long a batch waits for requests already being read
SMALL_REQUEST = 16  # texts: at most this many jump the queue


class BadRequest(Exception):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class _Job:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    vectors: np.ndarray | None = None
    error: Exception | None = None


class Batcher:
    """Runs every encode on one thread (``run``, on the main thread: torch runs single queries twice as fast there
    as on another thread, 6 ms against 12 here); jobs queued meanwhile (or arriving within GATHER_SECONDS while a
    request is still being read) join the next batch."""

    def __init__(self, encode, *, max_texts: int = 256) -> None:
        self.encode = encode
        self.max_texts = max_texts
        # Small requests (a question being searched) go before large ones (a document being ingested).
        self.jobs: queue.PriorityQueue[tuple[int, int, _Job]] = queue.PriorityQueue()
        self.sequence = itertools.count()
        self.arriving = 0  # requests being read that will queue a job soon
        self._arriving_lock = threading.Lock()
        self.batches = 0

    def arrival(self, delta: int) -> None:
        with self._arriving_lock:
            self.arriving += delta

    def embed(self, texts: list[str]) -> np.ndarray:
        job = _Job(texts)
        self.jobs.put((0 if len(texts) <= SMALL_REQUEST else 1, next(self.sequence), job))
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.vectors

    def _gather(self) -> list[_Job]:
        jobs = [self.jobs.get()[2]]
        count = len(jobs[0].texts)
        deadline = time.monotonic() + GATHER_SECONDS
        while count < self.max_texts:
            try:
                entry = self.jobs.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if self.arriving <= 0 or remaining <= 0:
                    break
                try:
                    entry = self.jobs.get(timeout=remaining)
                except queue.Empty:
                    break
            if count + len(entry[2].texts) > self.max_texts:
                self.jobs.put(entry)  # too big to ride along: it leads the next batch, in its turn
                break
            jobs.append(entry[2])
            count += len(entry[2].texts)
        return jobs

    def run(self) -> None:
        while True:
            jobs = self._gather()
            texts = [text for job in jobs for text in job.texts]
            try:
                vectors = self.encode(texts)
            except Exception as exc:  # every waiting request hears of it; the service keeps serving
                logger.exception("encoding %d texts failed", len(texts))
                for job in jobs:
                    job.error = exc
                    job.done.set()
                continue
            self.batches += 1
            start = 0
            for job in jobs:
                job.vectors = vectors[start : start + len(job.texts)]
                start += len(job.texts)
                job.done.set()


def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = cpuinfo.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class Model:
    def __init__(self, *, bf16: bool) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        # bf16 roughly doubles throughput on CPUs with native bf16 at no measurable loss in cosine similarity.
        self.bf16 = bf16 and _cpu_has_bf16()
        model_kwargs = {"dtype": torch.bfloat16} if self.bf16 else {}
        self.model = SentenceTransformer(str(model_directory()), device="cpu", model_kwargs=model_kwargs)
        self.max_tokens = self.model.max_seq_length
        # Usage is counted on the HTTP threads while the model encodes on the main thread: a tokenizer of their
        # own, configured once (the model's is reconfigured on every call and must not be shared across threads).
        from tokenizers import Tokenizer

        self.counter = Tokenizer.from_file(str(model_directory() / "tokenizer.json"))
        self.counter.enable_truncation(self.max_tokens)
        self.counter.no_padding()

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=MODEL_BATCH, convert_to_numpy=True, show_progress_bar=False)
        vectors = np.asarray(vectors, dtype=np.float32)
        # Normalised here in fp32: normalising inside a bf16 model leaves norms off by up to 0.5%.
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def count_tokens(self, texts: list[str]) -> int:
        return sum(len(item.ids) for item in self.counter.encode_batch(texts))


def parse_request(body: bytes) -> tuple[list[str], str]:
    """The texts and the encoding of an OpenAI embeddings request; BadRequest names the field at fault."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest("The body must be a JSON object.") from None
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    texts = payload.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise BadRequest("'input' must be a non-empty string or a list of strings.", param="input")
    if len(texts) > MAX_INPUTS:
        raise BadRequest(f"'input' may hold at most {MAX_INPUTS} texts.", param="input")
    if any(not text or len(text) > MAX_INPUT_CHARS for text in texts):
        raise BadRequest(f"Each input must hold 1 to {MAX_INPUT_CHARS} characters.", param="input")
    encoding = payload.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    dimensions = payload.get("dimensions")
    if dimensions is not None and dimensions != DIMENSIONS:
        raise BadRequest(f"This model gives {DIMENSIONS} dimensions only.", param="dimensions")
    return texts, encoding


def response_body(vectors: np.ndarray, *, encoding: str, prompt_tokens: int) -> dict:
    if encoding == "base64":
        encoded = [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in vectors]
    else:
        encoded = vectors.tolist()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(encoded)],
        "model": MODEL_NAME,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection for many requests
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    timeout = 30  # a client that stalls mid-request releases its thread
    server: "EmbeddingServer"

    def log_message(self, format: str, *args) -> None:
        pass  # one line per request would drown the log; errors are logged where they happen

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"status": "ok", "model": MODEL_NAME, "bf16": self.server.model.bf16})
        elif self.path in ("/v1/models", "/models"):
            self._reply(200, {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "local"}]})
        else:
            self._refuse(404, "Unknown path.", code="not_found")

    def do_POST(self) -> None:
        if self.path not in ("/v1/embeddings", "/embeddings"):
            self._refuse(404, "Unknown path.", code="not_found")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length <= 0 or length > MAX_BODY_BYTES:
            self._refuse(400, f"The body must be 1 byte to {MAX_BODY_BYTES} bytes of JSON.", code="invalid_request")
            return
        batcher = self.server.batcher
        batcher.arrival(+1)
        arrived = True
        try:
            texts, encoding = parse_request(self.rfile.read(length))
            # Counted before queueing: while the model still works on the batch ahead, not after this one.
            tokens = self.server.model.count_tokens(texts)
            batcher.arrival(-1)
            arrived = False
            vectors = batcher.embed(texts)
        except BadRequest as exc:
            self._error(400, str(exc), param=exc.param, code="invalid_request")
            return
        except Exception:
            logger.exception("embedding request failed")
            self._error(500, "The embedding model failed on this input.", code="embedding_failed", kind="api_error")
            return
        finally:
            if arrived:
                batcher.arrival(-1)
        self._reply(200, response_body(vectors, encoding=encoding, prompt_tokens=tokens))

    def _refuse(self, status: int, message: str, *, code: str) -> None:
        """An error before the body was read: the connection cannot be reused (the body is still in it)."""
        self.close_connection = True
        self._error(status, message, code=code)

    def _error(self, status: int, message: str, *, code: str, param: str | None = None, kind: str = "") -> None:
        kind = kind or "invalid_request_error"
        self._reply(status, {"error": {"message": message, "type": kind, "param": param, "code": code}})

    def _reply(self, status: int, body: dict) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class EmbeddingServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], model: Model) -> None:
        self.model = model
        self.batcher = Batcher(model.encode)
        super().__init__(address, Handler)


def embedding_server_command(*, port: int, bf16: bool) -> list[str]:
    """How the supervisor (``serve``) and the tests start this service."""
    command = [sys.executable, "-m", "genaisite.embedded.embedding_server", "--host", "127.0.0.1", "--port", str(port)]
    return command if bf16 else [*command, "--fp32"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="all-MiniLM-L6-v2 behind OpenAI's embeddings API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--fp32", action="store_true", help="do not use bf16 even where the CPU supports it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    model = Model(bf16=not args.fp32)
    model.encode(["warm up"])  # the first forward pass pays for lazy set-up; no request should
    server = EmbeddingServer((args.host, args.port), model)
    logger.info(
        "%s loaded in %.1f s (%s); serving http://%s:%d/v1/embeddings",
        MODEL_NAME,
        time.monotonic() - started,
        "bf16" if model.bf16 else "fp32",
        args.host,
        args.port,
    )
    # Requests are read on the server's threads; the model runs here, on the main thread.
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    try:
        server.batcher.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
