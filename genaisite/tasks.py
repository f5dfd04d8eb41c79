"""Site-wide Huey tasks: the queue's own health."""

import logging
import os
import threading
import time

import redis
from django.conf import settings
from huey.contrib.djhuey import HUEY, on_startup, task

from core import metrics

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "worker-heartbeat"

_heartbeat_started = threading.Lock()


@task()
def queue_ping() -> int:
    """Answered by a worker process: returns its pid, so a caller can tell the task really left its process."""
    return os.getpid()


@on_startup()
def start_heartbeat() -> None:
    # on_startup runs once per worker thread; one heartbeat per process is enough.
    if not _heartbeat_started.acquire(blocking=False):
        return

    def beat() -> None:
        while True:
            try:
                HUEY.put(HEARTBEAT_KEY, time.time())
                metrics.count(metrics.WORKER_HEARTBEATS)
            except redis.RedisError as exc:
                # The broker is restarting or unreachable: keep beating, so readiness recovers when it is back.
                logger.warning("queue heartbeat not recorded: %s", exc)
            time.sleep(settings.QUEUE_HEARTBEAT_SECONDS)

    threading.Thread(target=beat, name="queue-heartbeat", daemon=True).start()
