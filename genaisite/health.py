"""Readiness of every component the service needs, checked concurrently with a deadline each."""

import asyncio
import json
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from huey.contrib.djhuey import HUEY

from chat import llm
from core.db import in_db_thread
from documents import embeddings
from genaisite.tasks import HEARTBEAT_KEY

CHECK_TIMEOUT = 3.0


@dataclass(frozen=True)
class ComponentState:
    ready: bool
    detail: str


def _database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cursor.fetchone()
    finally:
        connection.close()  # this runs on a pool thread with no request cycle to hand the connection back
    if row is None:
        return False, "connected, but the vector extension is missing (run migrations)"
    return True, f"postgres with pgvector {row[0]}"


def _queue() -> tuple[bool, str]:
    last = HUEY.get(HEARTBEAT_KEY, peek=True)
    if last is None:
        return False, "no worker has reported in"
    age = time.time() - last
    if age > 3 * settings.QUEUE_HEARTBEAT_SECONDS:
        return False, f"no worker heartbeat for {age:.0f} s"
    return True, f"worker heartbeat {age:.1f} s ago"


async def _run(check) -> ComponentState:
    try:
        if asyncio.iscoroutinefunction(check):
            ready, detail = await asyncio.wait_for(check(), CHECK_TIMEOUT)
        else:
            ready, detail = await asyncio.wait_for(in_db_thread(check)(), CHECK_TIMEOUT)
    except TimeoutError:
        return ComponentState(False, f"no answer within {CHECK_TIMEOUT:.0f} s")
    except Exception as exc:  # a readiness probe reports failures, it does not raise them
        return ComponentState(False, f"{type(exc).__name__}: {exc}")
    return ComponentState(ready, detail)


STATE_FRESH_FOR = 5.0  # seconds: an older file is a previous run's (serve rewrites it twice a second)


def _processes() -> tuple[bool, str]:
    states = json.loads(settings.SUPERVISOR_STATE_FILE.read_text())
    down = [name for name, child in states.items() if child["state"] != "running"]
    detail = ", ".join(
        f"{name} {child['state']}" + (f" (restarted {child['restarts']}×)" if child["restarts"] else "")
        for name, child in states.items()
    )
    return not down, detail


def _supervised() -> bool:
    try:
        return time.time() - settings.SUPERVISOR_STATE_FILE.stat().st_mtime < STATE_FRESH_FOR
    except OSError:
        return False


async def readiness() -> dict[str, ComponentState]:
    checks = {
        "database": _database,
        "llm": llm.readiness,
        "embeddings": embeddings.readiness,
        "queue": _queue,
    }
    if _supervised():  # under `manage.py serve`: each child it keeps running
        checks["processes"] = _processes
    states = await asyncio.gather(*(_run(check) for check in checks.values()))
    return dict(zip(checks, states, strict=True))
