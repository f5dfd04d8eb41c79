"""Huey on Valkey: a task enqueued here is executed by a real worker process, whose heartbeat makes the queue ready."""

import os

import pytest
from huey import RedisHuey
from huey.contrib.djhuey import HUEY

from core import shared_redis
from genaisite import health
from genaisite.embedded.processes import ManagedProcess
from genaisite.tasks import queue_ping
from tests.conftest import BASE_DIR, manage_py, wait_until


def test_a_task_enqueued_by_the_web_side_runs_in_a_worker_process(huey_worker):
    result = queue_ping()
    worker_pid = result.get(blocking=True, timeout=60)
    assert worker_pid == huey_worker.process.pid
    assert worker_pid != os.getpid()


@pytest.mark.django_db(transaction=True)
def test_a_task_waits_in_valkey_until_a_worker_starts(subprocess_env, tmp_path):
    assert isinstance(HUEY, RedisHuey)
    HUEY.flush()
    result = queue_ping()
    # The run's Valkey, or the server REDIS_URL names: wherever the queue is, the task waits there.
    assert shared_redis.client().llen("huey.redis.genaisite") == 1, "the task is queued in the run's Valkey"
    worker = ManagedProcess(
        "worker", manage_py("run_huey", "--flush-locks"), env=subprocess_env, cwd=BASE_DIR, log_file=tmp_path / "w.log"
    )
    worker.start()
    try:
        assert result.get(blocking=True, timeout=60) == worker.process.pid
    finally:
        worker.stop()


def test_a_running_worker_makes_the_queue_ready(huey_worker):
    assert wait_until(lambda: health._queue()[0], timeout=30), health._queue()[1]
    assert health._queue()[1].startswith("worker heartbeat")
