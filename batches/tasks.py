"""Batch work on Huey: validate a new batch, run its lines, revive batches whose runner died or whose owner has
budget again, end expired and cancelled ones.

Tasks take ids; the rows are the truth (status, each line's state and lease), so a killed worker is recovered by
the reaper: its lines are claimed again once its liveness lease is gone.
"""

import asyncio
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from accounts.policies import policy_for
from batches import runner, services
from batches.models import Batch, BatchLine
from chat import quotas
from core import liveness

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


def _still_parked(batch: Batch, now: datetime) -> bool:
    """A parked batch waits until its owner has budget again: at the reset, or sooner when the budget is raised (the
    run scheduled at the reset is not the only way back: a queue that lost it, or a raised budget, must not strand
    the batch until then). Any budget left is worth a try, since an embedding line may need only a few tokens; a
    line that needs more parks again, at most once a reaper period. Ending a batch (cancelled, or past its window)
    needs no budget."""
    if not batch.waiting_reason or batch.status != Batch.Status.IN_PROGRESS or now >= batch.expires_at:
        return False
    return quotas.available(batch.owner_id, now.date(), policy_for(batch.owner).daily_token_budget) <= 0


def _has_live_runner(batch: Batch, now: datetime) -> bool:
    """A line of the batch is held, within its lease, by a process that is alive: its runner is at work, and a
    second one would only wait for the same slots."""
    if batch.status != Batch.Status.IN_PROGRESS or now >= batch.expires_at:
        return False
    holders = set(
        BatchLine.objects.filter(batch=batch, state=BatchLine.State.RUNNING, leased_until__gt=now).values_list(
            "worker", flat=True
        )
    )
    return bool(holders - liveness.dead(holders))


@db_periodic_task(crontab(minute="*"))
def batches_revive() -> int:
    """Batches that should be moving but whose runner is gone (a killed worker), parked ones whose owner has budget
    again, and expired or cancelled ones get a runner. Returns how many."""
    now = timezone.now()
    open_batches = Batch.objects.filter(
        status__in=[Batch.Status.VALIDATING, Batch.Status.IN_PROGRESS, Batch.Status.CANCELLING]
    ).select_related("owner")
    revived = [batch for batch in open_batches if not (_still_parked(batch, now) or _has_live_runner(batch, now))]
    for batch in revived:
        (batch_validate if batch.status == Batch.Status.VALIDATING else batch_run)(batch.pk)
    return len(revived)
