"""Shared set-up for benchmarks: a bench database on the embedded Postgres, a bench Valkey, and child processes to
run and stop."""

import atexit
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genaisite.settings.development")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_valkey() -> str:
    """A fresh Valkey for the bench (channel layer, cache and queue of its processes) on a free port, stopped when the
    bench exits. ``REDIS_URL`` points this process and every child at it, whatever ``DATA_DIR`` a bench sets."""
    if "REDIS_URL" in os.environ:
        return os.environ["REDIS_URL"]
    from genaisite.embedded.valkey import EmbeddedValkey

    root = BASE_DIR / "var" / "bench-valkey"
    shutil.rmtree(root / "valkey", ignore_errors=True)
    server = EmbeddedValkey(
        data_dir=root / "valkey", port=free_port(), password_file=root / "password", log_file=root / "valkey.log"
    )
    server.start()
    atexit.register(server.stop)
    os.environ["REDIS_URL"] = server.url
    return server.url


def bench_database(name: str) -> str:
    """A fresh database on the embedded Postgres (started if needed), migrated; returns its URL. Every bench with a
    database runs processes that need a broker too, so it gets its Valkey here as well (``bench_valkey``)."""
    bench_valkey()
    import psycopg

    from genaisite.embedded.local_secrets import local_secret
    from genaisite.embedded.postgres import SUPERUSER, EmbeddedPostgres

    data_dir = BASE_DIR / "var"
    port = int(os.environ.get("EMBEDDED_POSTGRES_PORT", "55432"))  # as the settings read it
    server = EmbeddedPostgres(data_dir=data_dir / "postgres", port=port, password_file=data_dir / "postgres.password")
    if server.ensure_started():
        # Started for this bench: stopped after it, so it does not hold the port for the next `make test`.
        atexit.register(server.stop)
    password = local_secret(server.password_file)
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user=SUPERUSER, password=password, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{server.port}/{name}"
    subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), "migrate", "-v0"],
        env=os.environ | {"DATABASE_URL": url},
        check=True,
        cwd=BASE_DIR,
    )
    return url


class Child:
    def __init__(
        self,
        command: list[str],
        env: dict,
        ready_url: str | None = None,
        log: str = "/dev/null",
        pass_fds: tuple[int, ...] = (),
    ) -> None:
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=BASE_DIR,
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
        )
        if ready_url:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(ready_url, timeout=1)  # noqa: S310 - our own loopback URL
                    return
                except OSError:
                    time.sleep(0.1)
            raise RuntimeError(f"{command[:3]} did not answer {ready_url}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its children, the ones still running and the ones it has reaped (Postgres:
    the postmaster and every backend)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(child) for child in children.read_text().split()] if children.exists() else []
    return cpu_seconds(pid) + reaped + sum(tree_cpu_seconds(kid) for kid in kids if Path(f"/proc/{kid}").exists())


def service_pid(pattern: str) -> int | None:
    """The oldest process whose command line matches ``pattern`` (``pgrep -o -f``), or None."""
    found = subprocess.run(["pgrep", "-o", "-f", pattern], capture_output=True, text=True)
    return int(found.stdout.split()[0]) if found.returncode == 0 and found.stdout.split() else None


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def bench_accounts(count: int, model: str) -> tuple[str, list[str]]:
    """A bench user whose limits never interfere, an API key and ``count`` titled conversations (Django set up)."""
    from accounts.models import Role, RolePolicy, User
    from accounts.services import api_key_create
    from chat.models import Conversation

    RolePolicy.objects.update(requests_per_minute=100_000, daily_token_budget=2_000_000_000)
    user = User.objects.create_user(username="bench", password="bench-password-123", role=Role.MEMBER)
    _, key = api_key_create(user=user, name="bench", scopes=["chat", "read"])
    conversations = Conversation.objects.bulk_create(
        [Conversation(owner=user, model=model, title=f"bench {i}") for i in range(count)]
    )
    return key, [str(c.pk) for c in conversations]
