"""Site-wide Huey tasks: the queue's own health, and housekeeping."""

import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, on_startup, task

HEARTBEAT_KEY = "worker-heartbeat"
CHANNEL_EVENT_RETENTION = timedelta(hours=1)

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
            HUEY.put(HEARTBEAT_KEY, time.time())
            time.sleep(settings.QUEUE_HEARTBEAT_SECONDS)

    threading.Thread(target=beat, name="queue-heartbeat", daemon=True).start()


@db_periodic_task(crontab(minute="*/10"))
def prune_channel_events() -> int:
    from genaisite.models import ChannelEvent

    deleted, _ = ChannelEvent.objects.filter(created_at__lt=timezone.now() - CHANNEL_EVENT_RETENTION).delete()
    return deleted
