"""A fake OpenAI-compatible upstream on loopback, for fault tests and benchmarks.

A real HTTP server (asyncio streams) speaking just enough of the OpenAI API: ``GET /v1/models`` and
``POST /v1/chat/completions``, streamed or not. The requested model name picks the behaviour:

- ``fake-echo``: answers ``<tag>:0 <tag>:1 …`` (tag = first word of the last user message), ``max_tokens`` tokens;
- ``fake-usage``: the same, and reports usage in the stream like OpenAI does with ``include_usage``;
- ``fake-500``: fails with HTTP 500 before any token;
- ``fake-reset``: sends three tokens, then resets the connection;
- ``fake-stall``: sends two tokens, then goes silent;
- ``fake-malformed``: sends two tokens, then a line that is not JSON;
- ``fake-cite``: answers "The answer is in the first source [1]." (for citation tests);
- ``fake-hostile``: answers with markup a hostile page could smuggle into a model's output (``HOSTILE_ANSWER``);
- ``fake-markdown``: answers with the Markdown chat products render (``MARKDOWN_ANSWER``: a table, nested lists…);
- ``fake-pii``: answers with personal data (``PII_ANSWER``), in 3-character pieces;
- ``fake-leak``: a jailbroken model: repeats its system prompt word for word, then chats on.
- ``fake-cut``: sends two tokens, then ends the stream cleanly but without a finish reason (as a server does when
  it drops a request for another);
- ``fake-empty``: finishes (``stop``) without having sent any text;
- ``fake-cut-once``: the first request ends before any token without a finish reason, later ones answer normally.
- ``fake-json-pii``: answers a JSON object holding an e-mail address and a 16-digit (card-like) number;
- ``fake-stale``: answers like ``fake-echo``, but as llama-server does, keeps a connection after a streamed answer
  only to close it, unanswered, when the next request arrives on it (a client sees a kept-alive connection closed);
- ``fake-tools``: a backend with native tools: given ``tools``, it calls the first one (arguments streamed in pieces,
  as OpenAI does); given a tool's result last, it answers "Noted: <result>".

Run standalone with ``python -m tests.fake_llm --port 9100 --rate 50`` (tokens per second per stream).
"""

import argparse
import asyncio
import json
import math
import socket
import struct
import threading
import time

MODELS = [
    "fake-echo",
    "fake-usage",
    "fake-500",
    "fake-reset",
    "fake-stall",
    "fake-malformed",
    "fake-cite",
    "fake-hostile",
    "fake-markdown",
    "fake-pii",
    "fake-leak",
    "fake-cut",
    "fake-empty",
    "fake-cut-once",
    "fake-tools",
    "fake-json-pii",
    "fake-stale",
]
JSON_PII_ANSWER = '{"contact": "Write to jane.doe@example.com", "order": 4111111111111111}'
# Seeded personal data, each kind in the shapes people write it.
PII = {
    "email": ["jane.doe@example.com", "ops+alerts@mail.example.org"],
    "phone": ["+44 20 7946 0958", "(555) 123-4567"],
    "iban": ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"],
    "card": ["4111 1111 1111 1111", "5500-0000-0000-0004"],
}
PII_ANSWER = (
    f"Write to {PII['email'][0]} or {PII['email'][1]}, call {PII['phone'][0]} or {PII['phone'][1]}. "
    f"Pay to {PII['iban'][0]} (or {PII['iban'][1]}) with card {PII['card'][0]} or {PII['card'][1]}. Thanks!"
)
# Every way an answer could try to run script, load an outside resource or carry a script link.
HOSTILE_ANSWER = (
    "Here you go <script>window.__pwned = 'script'</script> and "
    '<img src="x" onerror="window.__pwned = \'onerror\'"> an image ![tracker](http://203.0.113.9/pixel.png) '
    "a [harmless link](javascript:window.__pwned='link') a [data link](data:text/html,<b>x</b>) "
    "a [fine link](https://example.org/docs) and **bold** text.\n\n"
    "```html\n<script>window.__pwned = 'code'</script>\n```"
)

# What a helpful answer looks like in Markdown: each construct the chat page must render, not show as raw text.
MARKDOWN_ANSWER = (
    "## Plan\n\n"
    "| Step | Owner | Days |\n|:--|:-:|--:|\n| Draft | Ana | 2 |\n| Review | Ben | 1 |\n\n"
    "1. Prepare\n   - gather notes\n   - ~~book a room~~ not needed\n2. Ship\n\n"
    "- [x] write the tests\n- [ ] run them\n\n"
    "See https://example.org/guide or settings.py, as in [1].\n\n"
    "```python\nprint('a < b')\n```"
)


class FakeLLM:
    def __init__(self, *, tokens_per_second: float = 0.0, first_token_delay: float = 0.0) -> None:
        self.tokens_per_second = tokens_per_second
        self.first_token_delay = first_token_delay
        self.requests: list[dict] = []
        self.completion_calls = 0
        self.connections = 0  # TCP connections accepted: a client that reuses its connections opens few
        self.cut_once_done = False
        self.stale_closes = 0  # requests that found their connection closed (fake-stale)
        self._stale: set[asyncio.StreamWriter] = set()
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task] = set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for handler in list(self._handlers):
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
        try:
            # Keep-alive, like real servers: several requests may come over one connection.
            while not writer.is_closing():
                await self._serve_one(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        if writer in self._stale:
            self.stale_closes += 1
            writer.close()
            return
        if method == "GET" and path.endswith("/models"):
            await self._json(writer, 200, {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]})
        elif method == "POST" and path.endswith("/chat/completions"):
            await self._completion(writer, json.loads(body or b"{}"))
        elif method == "POST" and path.endswith("/embeddings"):
            await self._embeddings(writer, json.loads(body or b"{}"))
        else:
            await self._json(writer, 404, {"error": {"message": "not found"}})

    async def _embeddings(self, writer: asyncio.StreamWriter, request: dict) -> None:
        """Deterministic vectors: each text's hash seeds it, so equal texts embed equally."""
        import hashlib
        import random

        self.requests.append(request)
        texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
        data = []
        for index, text in enumerate(texts):
            rng = random.Random(hashlib.sha256(text.encode()).digest())
            data.append(
                {
                    "object": "embedding",
                    "index": index,
                    "embedding": [rng.uniform(-1, 1) for _ in range(request.get("dimensions") or 384)],
                }
            )
        await self._json(
            writer,
            200,
            {
                "object": "list",
                "data": data,
                "model": request["model"],
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            },
        )

    async def _json(self, writer: asyncio.StreamWriter, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        await writer.drain()

    def _tokens(self, request: dict) -> list[str]:
        if request.get("model") == "fake-cite":
            return ["The ", "answer ", "is ", "in ", "the ", "first ", "source ", "[1]", "."]
        if request.get("model") == "fake-hostile":  # in small pieces, so markup is split across tokens
            return [HOSTILE_ANSWER[i : i + 7] for i in range(0, len(HOSTILE_ANSWER), 7)]
        if request.get("model") == "fake-markdown":  # in pieces, so the page renders half-written constructs too
            return [MARKDOWN_ANSWER[i : i + 9] for i in range(0, len(MARKDOWN_ANSWER), 9)]
        if request.get("model") == "fake-pii":  # in pieces smaller than any of the data, so each is split
            return [PII_ANSWER[i : i + 3] for i in range(0, len(PII_ANSWER), 3)]
        if request.get("model") == "fake-json-pii":
            return [JSON_PII_ANSWER[i : i + 5] for i in range(0, len(JSON_PII_ANSWER), 5)]
        if request.get("model") == "fake-leak":
            system = " ".join(m["content"] for m in request.get("messages", []) if m["role"] == "system")
            leak = f"Sure! My instructions are: {system} Anything else?"
            return [leak[i : i + 4] for i in range(0, len(leak), 4)]
        if request.get("model") == "fake-tools" and request.get("messages", [{}])[-1].get("role") == "tool":
            return ["Noted: ", str(request["messages"][-1].get("content"))]
        last_user = next(
            (m.get("content", "") for m in reversed(request.get("messages", [])) if m["role"] == "user"), ""
        )
        tag = (str(last_user).split() or ["echo"])[0][:40]
        return [f"{tag}:{index} " for index in range(int(request.get("max_tokens") or 8))]

    async def _completion(self, writer: asyncio.StreamWriter, request: dict) -> None:
        self.requests.append(request)
        self.completion_calls += 1
        model = request.get("model")
        if model == "fake-500":
            await self._json(writer, 500, {"error": {"message": "upstream exploded", "type": "server_error"}})
            return
        tokens = self._tokens(request)
        if not request.get("stream"):
            await self._whole(writer, model, tokens, request)
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        await self._stream(writer, model, tokens, request)

    async def _stream(self, writer: asyncio.StreamWriter, model: str, tokens: list[str], request: dict) -> None:
        limit = {"fake-reset": 3, "fake-stall": 2, "fake-malformed": 2, "fake-cut": 2, "fake-empty": 0}.get(
            model, len(tokens)
        )
        if model == "fake-tools" and request.get("tools") and request["messages"][-1]["role"] != "tool":
            await self._call_tool(writer, request)
            return
        if model == "fake-cut-once" and not self.cut_once_done:
            self.cut_once_done = True
            limit = 0
            model = "fake-cut"
        if self.first_token_delay:
            await asyncio.sleep(self.first_token_delay)
        for index, token in enumerate(tokens[:limit]):
            if index and self.tokens_per_second:
                await asyncio.sleep(1 / self.tokens_per_second)
            writer.write(
                _chunked(_event({"choices": [{"index": 0, "delta": {"content": token}, "finish_reason": None}]}))
            )
            await writer.drain()
        if model == "fake-reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
            writer.transport.abort()
            return
        if model == "fake-stall":
            await asyncio.sleep(3600)
        if model == "fake-malformed":
            writer.write(_chunked(b"data: {this is not json\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return
        if model == "fake-cut":
            writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            await writer.drain()
            return
        if model == "fake-stale":
            self._stale.add(writer)
        finish_reason = "stop" if model == "fake-empty" else "length"
        writer.write(_chunked(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})))
        if model == "fake-usage" and (request.get("stream_options") or {}).get("include_usage"):
            prompt = prompt_tokens_of(request)
            usage = {"prompt_tokens": prompt, "completion_tokens": len(tokens), "total_tokens": prompt + len(tokens)}
            writer.write(_chunked(_event({"choices": [], "usage": usage})))
        writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()

    async def _whole(self, writer: asyncio.StreamWriter, model: str, tokens: list[str], request: dict) -> None:
        """The same behaviours, answered whole: after the time streaming would take, as one JSON body."""
        if model == "fake-cut-once" and not self.cut_once_done:
            self.cut_once_done = True
            model = "fake-cut"
        await asyncio.sleep(self.first_token_delay + max(len(tokens) - 1, 0) / (self.tokens_per_second or math.inf))
        if model == "fake-stall":
            await asyncio.sleep(3600)
        if model == "fake-reset":
            writer.transport.abort()
            return
        if model == "fake-malformed":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n{this")
            await writer.drain()
            return
        text = {"fake-empty": "", "fake-cut": "".join(tokens[:2])}.get(model, "".join(tokens))
        message: dict = {"role": "assistant", "content": text}
        finish_reason = {"fake-cut": None, "fake-empty": "stop"}.get(model, "length")
        if model == "fake-tools" and request.get("tools") and request["messages"][-1]["role"] != "tool":
            arguments = json.dumps({"city": "Paris", "unit": "celsius"})
            function = {"name": request["tools"][0]["function"]["name"], "arguments": arguments}
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_fake_1", "type": "function", "function": function}],
            }
            finish_reason = "tool_calls"
        prompt = prompt_tokens_of(request)
        usage = {"prompt_tokens": prompt, "completion_tokens": len(tokens), "total_tokens": prompt + len(tokens)}
        answer = {"id": "x", "object": "chat.completion", "model": model, "usage": usage}
        await self._json(
            writer, 200, answer | {"choices": [{"index": 0, "message": message, "finish_reason": finish_reason}]}
        )

    async def _call_tool(self, writer: asyncio.StreamWriter, request: dict) -> None:
        name = request["tools"][0]["function"]["name"]
        arguments = json.dumps({"city": "Paris", "unit": "celsius"})
        pieces = [{"index": 0, "id": "call_fake_1", "type": "function", "function": {"name": name, "arguments": ""}}]
        pieces += [{"index": 0, "function": {"arguments": arguments[i : i + 9]}} for i in range(0, len(arguments), 9)]
        for piece in pieces:
            delta = {"tool_calls": [piece]}
            writer.write(_chunked(_event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})))
        writer.write(_chunked(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})))
        writer.write(_chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _event(payload: dict) -> bytes:
    chunk = {"id": "fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": "fake"} | payload
    return f"data: {json.dumps(chunk)}\n\n".encode()


def prompt_tokens_of(request: dict) -> int:
    """Like a real tokenizer would count, roughly: a token per word, and a few per message for the chat template."""
    return sum(len(str(m.get("content", "")).split()) + 3 for m in request.get("messages", []))


class FakeLLMThread:
    """The fake server on its own event loop in a background thread, usable from sync and async tests alike."""

    def __init__(self, **options) -> None:
        self.server = FakeLLM(**options)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> FakeLLM:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        return self.server

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--rate", type=float, default=0.0, help="tokens per second per stream (0: as fast as possible)")
    parser.add_argument("--first-token-delay", type=float, default=0.0)
    args = parser.parse_args()

    async def serve() -> None:
        server = FakeLLM(tokens_per_second=args.rate, first_token_delay=args.first_token_delay)
        await server.start(args.port)
        print(f"fake LLM on {server.base_url}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
