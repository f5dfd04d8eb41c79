"""Test fixtures on the real stack: embedded Postgres + pgvector, the embedded Valkey, a real llama-server, the real
embedding service, real Huey workers."""

import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from documents.embeddings import health_url
from genaisite.embedded import postgres as embedded_postgres
from genaisite.embedded.embedding_server import embedding_server_command
from genaisite.embedded.llm import llm_server_command, llm_server_env
from genaisite.embedded.processes import ManagedProcess, wait_for_http
from genaisite.embedded.valkey import EmbeddedValkey

BASE_DIR = Path(settings.BASE_DIR)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (sockets stay bound until all are chosen, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def database_url(db: dict) -> str:
    credentials = f"{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Runs before pytest-django creates the test database: make sure the embedded server is up."""
    if not settings.EMBEDDED_POSTGRES:
        yield
        return
    server = embedded_postgres.from_settings()
    started_here = server.ensure_started()
    yield
    if started_here:
        server.stop()


def use_redis(url: str) -> None:
    """Point this process's channel layer, cache and queue at ``url``: its settings were read before the server of
    this run existed (child processes read theirs after, from the environment)."""
    from django.test import override_settings
    from huey.contrib.djhuey import HUEY

    layers = {"default": settings.CHANNEL_LAYERS["default"] | {"CONFIG": {"hosts": [url]}}}
    caches = {"default": settings.CACHES["default"] | {"LOCATION": url}}
    # Enabled for the whole session: setting_changed makes Channels and Django drop what they built from the old URL.
    override_settings(REDIS_URL=url, CHANNEL_LAYERS=layers, CACHES=caches, HUEY=settings.HUEY | {"url": url}).enable()
    HUEY.storage_kwargs["url"] = url
    HUEY.storage = HUEY.create_storage()


@pytest.fixture(scope="session", autouse=True)
def embedded_valkey() -> EmbeddedValkey | None:
    """One embedded Valkey for the run, on a free port: the broker, cache and queue of this process and of every
    child it starts. Its data lives in a directory of its own outside pytest's temporary root, which every new pytest
    session makes private again (the server's system user would lose its way to its files)."""
    if not settings.EMBEDDED_VALKEY:
        yield None  # REDIS_URL is set: the tests use that server
        return
    root = Path(tempfile.mkdtemp(prefix="genaisite-test-valkey-"))
    server = EmbeddedValkey(
        data_dir=root / "valkey",
        port=free_port(),
        password_file=settings.EMBEDDED_VALKEY_PASSWORD_FILE,
        log_file=root / "valkey.log",
    )
    server.start()
    os.environ["EMBEDDED_VALKEY_PORT"] = str(server.port)  # children read their settings from the environment
    use_redis(server.url)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


# The same answer to the same prompt on every run: a test on the real model passes or fails for a reason.
LLM_TEST_SEED = 20261201
LLM_TEST_SLOTS = 8
LLM_TEST_CONTEXT = 2048


@pytest.fixture(scope="session")
def llm_server_url(tmp_path_factory) -> str:
    """A real llama-server with the packaged SmolLM2 model and parallel slots, on a free loopback port."""
    port = free_port()
    command = llm_server_command(
        port=port, model_alias=settings.LLM_MODEL, context=LLM_TEST_CONTEXT, slots=LLM_TEST_SLOTS, seed=LLM_TEST_SEED
    )
    log_file = tmp_path_factory.mktemp("llm") / "llm.log"
    process = ManagedProcess("llm", command, env=llm_server_env(), cwd=BASE_DIR, log_file=log_file)
    process.start()
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for_http(health_url(url), process=process, timeout=60)
        yield url
    finally:
        process.stop()


@pytest.fixture(scope="session", autouse=True)
def embedding_service(tmp_path_factory) -> str:
    """The real embedding service (the one process that holds the model), on a free port, for this process and
    every child it starts; nothing in the test process loads torch to embed."""
    port = free_port()
    log_file = tmp_path_factory.mktemp("embeddings") / "embeddings.log"
    command = embedding_server_command(port=port, bf16=settings.EMBEDDING_BF16)
    process = ManagedProcess("embeddings", command, env=dict(os.environ), cwd=BASE_DIR, log_file=log_file)
    process.start()
    url = f"http://127.0.0.1:{port}/v1"
    os.environ["EMBEDDED_EMBEDDINGS_PORT"] = str(port)  # children read their settings from the environment
    settings.EMBEDDED_EMBEDDINGS_PORT, settings.EMBEDDINGS_BASE_URL = port, url
    try:
        wait_for_http(health_url(url), process=process, timeout=120)
        yield url
    finally:
        process.stop()


def use_models(settings, base_url: str, names: list[str], **limits) -> None:
    """Point the configured model list at ``base_url``; the first name becomes the default model."""
    entry = {"base_url": base_url, "api_key": "test-key", "context_window": 2048, "max_output_tokens": 64} | limits
    settings.LLM_MODELS = [{"name": name, **entry} for name in names]


@pytest.fixture
def local_llm(settings, llm_server_url) -> str:
    use_models(settings, llm_server_url, [settings.LLM_MODEL], health_url=health_url(llm_server_url), tools="emulated")
    return llm_server_url


@pytest.fixture
def fake_llm(settings):
    """A scripted OpenAI-compatible upstream on loopback (see tests/fake_llm.py), configured as the models."""
    from tests.fake_llm import MODELS, FakeLLMThread

    with FakeLLMThread() as server:
        use_models(settings, server.base_url, MODELS, max_output_tokens=8)
        yield server


@pytest.fixture
def subprocess_env(django_db_setup, embedded_valkey) -> dict[str, str]:
    """Environment for child processes that must share this test run's database and Valkey (its port is in
    os.environ already)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "genaisite.settings.test",
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "PYTHONUNBUFFERED": "1",
    }


def manage_py(*args: str) -> list[str]:
    return [sys.executable, str(BASE_DIR / "manage.py"), *args]


@pytest.fixture
def huey_worker(transactional_db, subprocess_env, tmp_path):
    """A real `manage.py run_huey` process consuming this run's queue."""
    import json

    from huey.contrib.djhuey import HUEY

    HUEY.flush()
    env = subprocess_env | {"LLM_MODELS": json.dumps(settings.LLM_MODELS)}  # as configured by this test
    worker = ManagedProcess(
        "worker", manage_py("run_huey", "--flush-locks"), env=env, cwd=BASE_DIR, log_file=tmp_path / "w.log"
    )
    worker.start()
    yield worker
    _stop_as_serve_does(worker)


def wait_until(predicate, *, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; returns its last value."""
    import time

    deadline = time.monotonic() + timeout
    while not (result := predicate()) and time.monotonic() < deadline:
        time.sleep(interval)
    return bool(result)


@pytest.fixture(scope="session", autouse=True)
def _close_pool_before_teardown(django_db_setup, django_db_blocker):
    """Pooled connections would keep the test database busy and make pytest-django fail to drop it."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        connection = connections["default"]
        with connection.cursor() as cursor:
            # What the run leaves connected (pooled connections of finished threads).
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        connection.close()
        connection.close_pool()


@pytest.fixture
def daphne_server(subprocess_env, tmp_path):
    """Start the real ASGI app under Daphne (on the test database) with the given models; returns its base URL."""
    import json

    servers = []

    def start(models: list[dict], **environment: str) -> str:
        from genaisite.webserver import web_server_command

        port = free_port()
        env = subprocess_env | {"LLM_MODELS": json.dumps(models)} | environment
        # The production entry point (genaisite/webserver.py: Daphne with our access log and draining shutdown).
        command = web_server_command(host="127.0.0.1", port=port)
        server = ManagedProcess("web", command, env=env, cwd=BASE_DIR, log_file=tmp_path / f"daphne-{port}.log")
        server.start()
        servers.append(server)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=server, timeout=60)
        start.processes[f"http://127.0.0.1:{port}"] = server
        return f"http://127.0.0.1:{port}"

    start.processes = {}  # base URL → its process, for tests that signal or kill one
    yield start
    for server in servers:
        _stop_as_serve_does(server)


def _stop_as_serve_does(process: ManagedProcess) -> None:
    """Stopped, and its live metric gauges (answers running) no longer counted: `serve` marks its exited children
    the same way, and the whole run shares one metrics directory."""
    from core import metrics

    pid = process.pid
    process.stop()
    if pid is not None:
        metrics.process_dead(pid)


@pytest.fixture(autouse=True)
def _fresh_role_policies():
    """Tests change role policies directly in the database; never let a cached copy from another test answer."""
    from accounts.policies import forget_role_policies

    forget_role_policies()
    yield
    forget_role_policies()


@pytest.fixture(autouse=True)
def _fresh_valkey(embedded_valkey):
    """Rate-limit counters, queued tasks and heartbeats live in Valkey; one test's must not reach the next test.
    The cache shares the queue's database, so clearing it empties the lot."""
    from django.core.cache import cache

    from chat.safety.screening import forget_blocked_topics

    cache.clear()
    forget_blocked_topics()


@pytest.fixture(scope="session", autouse=True)
def _metrics_directory_removed_at_the_end():
    """The test settings give each run a metrics directory of its own (genaisite/settings/test.py): not left behind."""
    yield
    if Path(settings.METRICS_DIR).name.startswith("genaisite-test-metrics-"):
        shutil.rmtree(settings.METRICS_DIR, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def _fresh_media_root():
    import shutil

    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
    Path(settings.MEDIA_ROOT).mkdir(parents=True, exist_ok=True)
    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@pytest.fixture
def console_log():
    """What the configured console handler (its format and PII filter) writes, captured."""
    import io
    import logging

    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def user_events_socket(api_key: str):
    """A Channels test client of ``/ws/events/`` signed in with ``api_key`` (call ``connect()`` on it)."""
    from channels.testing import WebsocketCommunicator

    from genaisite.asgi import application

    headers = [(b"origin", b"http://127.0.0.1"), (b"authorization", f"Bearer {api_key}".encode())]
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)
