"""Huey: a task enqueued here is executed by a real worker process, whose heartbeat makes the queue ready."""

import os

from genaisite import health
from genaisite.tasks import queue_ping
from tests.conftest import wait_until


def test_a_task_enqueued_by_the_web_side_runs_in_a_worker_process(huey_worker):
    result = queue_ping()
    worker_pid = result.get(blocking=True, timeout=60)
    assert worker_pid == huey_worker.process.pid
    assert worker_pid != os.getpid()


def test_a_running_worker_makes_the_queue_ready(huey_worker):
    assert wait_until(lambda: health._queue()[0], timeout=30), health._queue()[1]
    assert health._queue()[1].startswith("worker heartbeat")
