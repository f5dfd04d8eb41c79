"""Batch work on Huey: validate a new batch, run its lines, revive batches whose runner died, end expired ones.

Tasks take ids; the rows are the truth (status, each line's state and lease), so a killed worker is recovered by
the reaper: its lines are claimed again once its liveness lease is gone.
"""

import asyncio

from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from batches import runner, services
from batches.models import Batch
from chat import quotas

# The queue on Valkey (RedisExpireHuey) has no priorities: a batch keeps its place behind interactive work by
# running in slices (runner.run_batch) and re-queueing itself, and by its per-person cap of model slots.


@db_task()
def batch_validate(batch_id: str) -> None:
    if services.batch_validate(batch_id):
        batch_run(batch_id)


@db_task()
def batch_run(batch_id: str) -> str:
    outcome = asyncio.run(runner.run_batch(batch_id))
    if outcome == "more":
        batch_run(batch_id)
    elif outcome == "parked":  # the owner's budget is spent: try again when it resets
        now = timezone.now()
        batch_run.schedule((batch_id,), delay=max(60.0, (quotas.next_reset(now) - now).total_seconds()))
    return outcome


def batch_start(batch_id: str) -> None:
    transaction.on_commit(lambda: batch_validate(batch_id))


@db_periodic_task(crontab(minute="*"))
def batches_revive() -> int:
    """Batches that should be moving but whose runner is gone (a killed worker), and expired ones, get a runner."""
    open_batches = Batch.objects.filter(
        status__in=[Batch.Status.VALIDATING, Batch.Status.IN_PROGRESS, Batch.Status.CANCELLING], waiting_reason=""
    ).values_list("pk", "status")
    for batch_id, status in open_batches:
        (batch_validate if status == Batch.Status.VALIDATING else batch_run)(batch_id)
    return len(open_batches)
