"""Brings the whole service up for `make run`: embedded services, database, worker and web server.

Start order: the LLM server and the embedding service (loading in the background), Postgres and Valkey, then
migrations and the first admin account, then the Huey worker and Daphne. Stop order is the reverse. Each child runs in
its own session so Ctrl-C reaches only us.
"""

import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from accounts.services import initial_admin_ensure
from core import metrics
from documents.embeddings import health_url
from genaisite.embedded import EmbeddedServiceError
from genaisite.embedded import postgres as embedded_postgres
from genaisite.embedded import valkey as embedded_valkey
from genaisite.embedded.embedding_server import embedding_server_command
from genaisite.embedded.llm import llm_server_command, llm_server_env
from genaisite.embedded.processes import ManagedProcess, timestamped, wait_for_http
from genaisite.embedded.supervision import Supervisor
from genaisite.log_redaction import redact_line
from genaisite.webserver import web_server_command
from ml.builtins import untrained_builtins

logger = logging.getLogger(__name__)

LLM_START_TIMEOUT = 60.0
EMBEDDINGS_START_TIMEOUT = 120.0  # importing torch is most of it
WEB_START_TIMEOUT = 120.0


def llm_log_line(line: str) -> str:
    # llama-server stamps its lines with its uptime only ("0.25.391.453 I slot …"): add the time of day.
    return timestamped(redact_line(line))


class Stack:
    def __init__(self, write) -> None:
        self.write = write
        self.base_dir: Path = settings.BASE_DIR
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"]}
        self.env["PYTHONUNBUFFERED"] = "1"
        self.postgres = embedded_postgres.from_settings() if settings.EMBEDDED_POSTGRES else None
        self.valkey = embedded_valkey.from_settings() if settings.EMBEDDED_VALKEY else None
        self.llm: ManagedProcess | None = None
        self.embeddings: ManagedProcess | None = None
        self.children: list[ManagedProcess] = []
        self.ml_training: ManagedProcess | None = None  # one-shot: not supervised, stopped with the rest
        self.stopping = threading.Event()
        self.supervisor: Supervisor | None = None
        self.listener: socket.socket | None = None

    # --- start ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        # Samples left by the processes of an earlier run: their pids may be reused, and their gauges are stale.
        metrics.directory_reset()
        if settings.EMBEDDED_LLM:
            self._start_llm()
        if settings.EMBEDDED_EMBEDDINGS:
            self._start_embeddings()
        if self.postgres is not None:
            self.postgres.ensure_started()
            self.write(f"postgres   127.0.0.1:{self.postgres.port}  data in {self.postgres.cluster_dir}")
        else:
            self.write("postgres   from DATABASE_URL")
        if self.valkey is not None:
            self.valkey.start()
            self.write(f"valkey     127.0.0.1:{self.valkey.port}  data in {self.valkey.data_dir}")
        else:
            self.write("valkey     none: channel layer, cache and queue on REDIS_URL")
        call_command("migrate", interactive=False, verbosity=0)
        self._ensure_admin()
        if self.llm is not None:
            wait_for_http(settings.LLM_HEALTH_URL, process=self.llm, timeout=LLM_START_TIMEOUT)
            slots = f"{settings.EMBEDDED_LLM_SLOTS} slots of {settings.EMBEDDED_LLM_CONTEXT} tokens"
            self.write(f"llm        {settings.LLM_MODEL} at {settings.LLM_BASE_URL} (llama-server, {slots})")
        else:
            self.write(f"llm        {settings.LLM_MODEL} at {settings.LLM_BASE_URL}")
        if self.embeddings is not None:
            health = health_url(settings.EMBEDDINGS_BASE_URL)
            wait_for_http(health, process=self.embeddings, timeout=EMBEDDINGS_START_TIMEOUT)
            self.write(f"embeddings {settings.EMBEDDINGS_MODEL} at {settings.EMBEDDINGS_BASE_URL} (embedding service)")
        else:
            self.write(f"embeddings {settings.EMBEDDINGS_MODEL} at {settings.EMBEDDINGS_BASE_URL}")
        self._start_child("worker", [sys.executable, str(self.base_dir / "manage.py"), "run_huey", "--flush-locks"])
        # Daphne, its access log through our logging (timestamps, PII filter): see genaisite/webserver.py.
        web = self._start_web()
        # Each child's state is on file before the web can answer /readyz.
        supervised = [*self.children, *([self.valkey] if self.valkey is not None else [])]
        self.supervisor = Supervisor(
            supervised, self.write, state_file=settings.SUPERVISOR_STATE_FILE, on_exit=metrics.process_dead
        )
        self.supervisor.check()
        url = f"http://{settings.LISTEN_HOST}:{settings.LISTEN_PORT}"
        # /readyz trusts the state file only while it is fresh: it is rewritten while the web starts, and after.
        wait_for_http(f"{url}/healthz", process=web, timeout=WEB_START_TIMEOUT, while_waiting=self.supervisor.check)
        self.write(f"web        {url}  (admin at {url}/admin/, readiness at {url}/readyz)")
        if settings.ML_ENSURE_BUILTINS:  # once the web is up: training would compete with its start for the cores
            self._train_ml_builtins()
        self.supervisor.check()
        self.write("genaisite is up. Press Ctrl-C to stop.")

    def _start_llm(self) -> None:
        command = llm_server_command(
            port=settings.EMBEDDED_LLM_PORT,
            model_alias=settings.LLM_MODEL,
            context=settings.EMBEDDED_LLM_CONTEXT,
            slots=settings.EMBEDDED_LLM_SLOTS,
        )
        self.llm = ManagedProcess(
            "llm",
            command,
            env=llm_server_env(),
            cwd=self.base_dir,
            log_file=settings.DATA_DIR / "log" / "llm.log",
            line_filter=llm_log_line,
        )
        self.llm.start()
        self.children.append(self.llm)

    def _start_embeddings(self) -> None:
        command = embedding_server_command(port=settings.EMBEDDED_EMBEDDINGS_PORT, bf16=settings.EMBEDDING_BF16)
        log_file = settings.DATA_DIR / "log" / "embeddings.log"
        # Its lines carry their own timestamps; they are redacted here, as the service has no Django logging.
        self.embeddings = ManagedProcess(
            "embeddings", command, env=self.env, cwd=self.base_dir, log_file=log_file, line_filter=redact_line
        )
        self.embeddings.start()
        self.children.append(self.embeddings)

    def _start_web(self) -> ManagedProcess:
        """WEB_CONCURRENCY web processes on one listening socket, bound here and inherited by each, so a restarted
        process serves the same port and connections queue in the kernel meanwhile instead of being refused."""
        self.listener = socket.create_server((settings.LISTEN_HOST, settings.LISTEN_PORT), backlog=1024)
        fd = self.listener.fileno()
        os.set_inheritable(fd, True)
        count = settings.WEB_CONCURRENCY
        webs = [
            self._start_child("web" if count == 1 else f"web-{n}", web_server_command(fd=fd), pass_fds=(fd,))
            for n in range(1, count + 1)
        ]
        return webs[0]

    def _train_ml_builtins(self) -> None:
        """The built-in ML models with no version yet are trained by a child process while the web serves; their
        predictions answer 503 "not loaded yet" until it has registered them."""
        names = untrained_builtins()
        if not names:
            return
        log_file = settings.DATA_DIR / "log" / "ml-training.log"
        command = [sys.executable, str(self.base_dir / "manage.py"), "ensure_ml_builtins"]
        self.ml_training = ManagedProcess("ml-training", command, env=self.env, cwd=self.base_dir, log_file=log_file)
        self.ml_training.start()
        self.write(f"ml         training {', '.join(names)} in the background (log in {log_file})")

    def _start_child(self, name: str, command: list[str], pass_fds: tuple[int, ...] = ()) -> ManagedProcess:
        child = ManagedProcess(name, command, env=self.env, cwd=self.base_dir, pass_fds=pass_fds)
        child.start()
        self.children.append(child)
        return child

    def _ensure_admin(self) -> None:
        created = initial_admin_ensure(
            username=settings.INITIAL_ADMIN_USERNAME,
            email=settings.INITIAL_ADMIN_EMAIL,
            password=settings.INITIAL_ADMIN_PASSWORD,
        )
        if created is None:
            return
        user, generated = created
        if generated:
            self.write(f"admin      created user {user.username!r} with password {generated!r} (shown only once)")
        else:
            self.write(f"admin      created user {user.username!r} with the password from ADMIN_PASSWORD")

    # --- run and stop -----------------------------------------------------------------------------------------

    def wait(self) -> int:
        """Block until a signal asks us to stop; meanwhile a child that dies on its own is restarted (with backoff)
        while the others keep serving."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stopping.set())
        while not self.stopping.wait(0.5):
            self.supervisor.check()
        return 0

    def stop(self) -> None:
        # Ignore further Ctrl-C (or SIGTERM) while shutting down, so an impatient second one cannot leave orphans.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)
        webs = [child for child in self.children if child.name.startswith("web")]
        for web in webs:  # they drain their answers together, not one after the other
            web.terminate()
        if self.ml_training is not None:  # training can start again at the next start; nothing waits for it
            self.ml_training.terminate()
        for child in reversed(self.children):
            child.stop()
        if self.ml_training is not None:
            self.ml_training.stop()
        # After the web server and the worker, which hand it their last events and tasks.
        if self.valkey is not None:
            self.valkey.stop()
        if self.listener is not None:
            self.listener.close()
        if self.postgres is not None:
            self.postgres.stop()
        settings.SUPERVISOR_STATE_FILE.unlink(missing_ok=True)  # /readyz must not report a stopped stack's children
        self.write("genaisite stopped.")


def _interrupt_start(signum: int, frame) -> None:
    raise KeyboardInterrupt


def serve(write) -> int:
    # Ctrl-C or a SIGTERM while starting stops what has started. Set here rather than left to Python's default: a
    # process started in the background of a script inherits SIGINT ignored, and SIGTERM would skip the cleanup.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt_start)
    stack = Stack(write)
    try:
        stack.start()
    except (EmbeddedServiceError, RuntimeError) as exc:
        write(f"start-up failed: {exc}")
        stack.stop()
        return 1
    except KeyboardInterrupt:  # a stop asked for while starting, done cleanly, is a success
        stack.stop()
        return 0
    except BaseException:
        stack.stop()
        raise
    try:
        return stack.wait()
    finally:
        stack.stop()
