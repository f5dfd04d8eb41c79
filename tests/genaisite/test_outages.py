"""With the database gone, requests fail fast in their API's shape, naming the part, and service resumes by itself
when it comes back. The outage is real: the web process reaches Postgres through a loopback TCP relay that the test
cuts (existing connections dropped, new ones refused) and restores."""

import asyncio
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.conftest import free_port
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


class Relay:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` closes it all, ``restore()`` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _serve(self, client_reader, client_writer) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.writers |= {client_writer, upstream_writer}
        await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def restore(self) -> None:
        async def listen():
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

        self._run(listen())

    def cut(self) -> None:
        async def close():
            self.server.close()
            for writer in self.writers:
                writer.transport.abort()  # what a crashed database host looks like: the connection just goes
            self.writers.clear()

        self._run(close())


def through(database_url: str, port: int) -> str:
    parts = urlsplit(database_url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


def test_with_the_database_down_requests_answer_503_fast_and_recover_when_it_returns(
    daphne_server, subprocess_env, settings, fake_llm
):
    database = urlsplit(subprocess_env["DATABASE_URL"])
    relay = Relay((database.hostname, database.port))
    relay.restore()
    url = daphne_server(settings.LLM_MODELS, DATABASE_URL=through(subprocess_env["DATABASE_URL"], relay.port))
    headers = {"Authorization": f"Bearer {make_key(make_user())}"}
    assert httpx.get(f"{url}/api/v1/me/", headers=headers).status_code == 200

    relay.cut()
    for path, shape in (("/api/v1/me/", "code"), ("/v1/models", "type"), ("/api/v1/me/", "code")):
        started = time.monotonic()
        response = httpx.get(f"{url}{path}", headers=headers, timeout=30)
        took = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"
        assert shape in response.json()["error"], "in the API's own error shape"
        assert response.headers["Retry-After"]
        assert took < 2.5, f"{path} took {took:.1f} s to say so"
    assert httpx.get(f"{url}/healthz").status_code == 200, "the process itself is alive"

    relay.restore()
    deadline = time.monotonic() + 15
    while (status := httpx.get(f"{url}/api/v1/me/", headers=headers, timeout=30).status_code) != 200:
        assert time.monotonic() < deadline, f"still {status} after the database came back"
        time.sleep(0.5)


def test_with_the_broker_down_requests_answer_503_fast_and_recover_when_it_returns(daphne_server, settings, fake_llm):
    broker = urlsplit(settings.REDIS_URL)
    relay = Relay((broker.hostname, broker.port))
    relay.restore()
    through_relay = urlunsplit(broker._replace(netloc=f"{broker.netloc.rpartition('@')[0]}@127.0.0.1:{relay.port}"))
    url = daphne_server(settings.LLM_MODELS, REDIS_URL=through_relay)
    headers = {"Authorization": f"Bearer {make_key(make_user())}"}
    assert httpx.get(f"{url}/api/v1/me/", headers=headers).status_code == 200

    relay.cut()  # every request counts on the rate limits, whose counters live in the broker
    for path, shape in (("/api/v1/me/", "code"), ("/v1/models", "type")):
        started = time.monotonic()
        response = httpx.get(f"{url}{path}", headers=headers, timeout=30)
        took = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "broker_unavailable"
        assert shape in response.json()["error"]
        assert took < 2.5, f"{path} took {took:.1f} s to say so"

    relay.restore()
    deadline = time.monotonic() + 15
    while (status := httpx.get(f"{url}/api/v1/me/", headers=headers, timeout=30).status_code) != 200:
        assert time.monotonic() < deadline, f"still {status} after the broker came back"
        time.sleep(0.5)
