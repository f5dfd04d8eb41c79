"""Training jobs on Huey: the worker runs ``manage.py train_model`` as a child process and records how it ended.

The job's row is the truth (queued, running, succeeded, failed, with the log's tail): a job whose worker died is
marked failed by the reaper, and a queued job the queue lost is queued again, so nothing is lost silently.
"""

import subprocess
import sys
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from ml import services
from ml.models import TrainingJob

REQUEUE_AFTER = timedelta(minutes=5)


def _command(job: TrainingJob) -> list[str]:
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "train_model", job.model.name]
    command += ["--csv", job.csv.path, "--job", str(job.pk)]
    if job.alias:
        command += ["--alias", job.alias]
    if job.requested_by_id:
        command += ["--user", job.requested_by.username]
    return command


@db_task()
def training_run(job_id: int) -> str:
    job = services.training_job_started(job_id)
    if job is None:
        return "skipped"
    try:
        done = subprocess.run(
            _command(job),
            capture_output=True,
            text=True,
            timeout=settings.ML_TRAINING_TIMEOUT_SECONDS,
            cwd=settings.BASE_DIR,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        log = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        reason = f"Training took longer than {settings.ML_TRAINING_TIMEOUT_SECONDS} s and was stopped."
        services.training_job_finished(job_id=job_id, succeeded=False, log=log, reason=reason)
        return "failed"
    log = done.stdout + done.stderr
    reason = "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["training failed"])[-1]
    services.training_job_finished(job_id=job_id, succeeded=done.returncode == 0, log=log, reason=reason)
    return "succeeded" if done.returncode == 0 else "failed"


def training_start(job_id: int) -> None:
    transaction.on_commit(lambda: training_run(job_id))


@db_periodic_task(crontab(minute="*"))
def training_jobs_reap() -> int:
    """Running jobs past the training timeout lost their worker; queued ones the queue lost are queued again."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.ML_TRAINING_TIMEOUT_SECONDS + 60)
    lost = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING, started_at__lt=stale)
    for job_id in lost.values_list("pk", flat=True):
        reason = "The worker stopped while this job was training; start it again."
        services.training_job_finished(job_id=job_id, succeeded=False, log="", reason=reason)
    waiting = TrainingJob.objects.filter(status=TrainingJob.Status.QUEUED, created_at__lt=now - REQUEUE_AFTER)
    requeued = list(waiting.values_list("pk", flat=True))
    for job_id in requeued:
        training_run(job_id)
    return len(requeued)
