"""Running long jobs (crm.models.Job) in resumable batches, and the sweeper that re-queues
the ones whose worker died.

A job runs as a loop of steps. Each step is one transaction that locks the job row, does
one batch of work from `job.checkpoint`, records the new checkpoint, counts and heartbeat,
and commits — so a batch is applied completely or not at all, and two runners of the same
job (a re-queued message racing a slow worker) take turns on the lock and never apply a
batch twice: the second one starts from the checkpoint the first committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from crm.models import Job

logger = logging.getLogger(__name__)

# A step gets the locked job, does one batch and returns True when the job is complete.
Step = Callable[[Job], bool]


def enqueue(job: Job, **send_options) -> None:
    """Send the job's task once the current transaction commits (so the worker finds the row)."""
    from crm.celery import app

    transaction.on_commit(lambda: app.send_task(job.task, args=[job.pk], **send_options))


def launch(job: Job, *, inline: bool, run: Callable[[int], object], send_options=None) -> Job:
    """Run a job here (`inline`: small ones, in the request) or queue it for its Celery task."""
    if inline:
        run(job.pk)
        job.refresh_from_db()
    else:
        with transaction.atomic():
            enqueue(job, **(send_options or {}))
    return job


def run_job(job_id: int, step: Step) -> Job | None:
    """Run (or resume) a job to its end: one transaction per step. Jobs that are not queued
    or running (finished, cancelled) are left alone. An unexpected error marks the job failed
    with its message; the failing batch was rolled back. Database hiccups propagate, so a
    Celery task retries them and resumes from the checkpoint."""
    while True:
        try:
            with transaction.atomic():
                job = Job.objects.select_for_update().filter(pk=job_id).first()
                if job is None or not job.is_active:
                    return job
                if job.status == Job.Status.QUEUED:
                    job.status = Job.Status.RUNNING
                    job.started_at = job.started_at or timezone.now()
                    job.attempts += 1
                finished = step(job)
                now = timezone.now()
                job.heartbeat_at = now
                if finished and job.is_active:
                    job.status = Job.Status.DONE
                    job.finished_at = now
                job.save()
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:  # noqa: BLE001 - any other error ends the job, with its message
            logger.exception("job %s failed", job_id)
            Job.objects.filter(pk=job_id).update(status=Job.Status.FAILED, finished_at=timezone.now(),
                                                 heartbeat_at=timezone.now(), error=str(exc)[:2000] or repr(exc))
            return Job.objects.get(pk=job_id)
        if not job.is_active:
            return job


def cancel(job: Job) -> bool:
    """Stop a queued or running job: its runner stops before the next batch (the current one,
    holding the row lock, completes first). False when the job had already stopped."""
    now = timezone.now()
    stopped = Job.objects.filter(pk=job.pk, status__in=Job.ACTIVE).update(
        status=Job.Status.CANCELLED, finished_at=now, heartbeat_at=now, updated_at=now)
    job.refresh_from_db()
    return bool(stopped)


def stale_after() -> timedelta:
    return timedelta(seconds=getattr(settings, "KITH_JOB_STALE_SECONDS", 300))


def requeue_stale_jobs(**send_options) -> list[int]:
    """Queued or running jobs without a heartbeat for `KITH_JOB_STALE_SECONDS`: their worker
    died or their message was lost. Send each to its task again (it resumes from its checkpoint);
    a job started or re-queued `KITH_JOB_MAX_ATTEMPTS` times is failed instead of retried forever."""
    now = timezone.now()
    max_attempts = getattr(settings, "KITH_JOB_MAX_ATTEMPTS", 5)
    requeued = []
    with transaction.atomic():
        stale = Job.objects.select_for_update(skip_locked=True).filter(
            status__in=Job.ACTIVE, heartbeat_at__lt=now - stale_after())
        for job in stale:
            if job.attempts >= max_attempts:
                job.status, job.finished_at = Job.Status.FAILED, now
                job.error = f"Stopped after {job.attempts} attempts: the worker running it kept stopping."
                job.save(update_fields=["status", "finished_at", "error", "updated_at"])
                continue
            job.attempts += 1
            job.heartbeat_at = now  # not again before it had a chance to start
            job.save(update_fields=["attempts", "heartbeat_at", "updated_at"])
            enqueue(job, **send_options)
            requeued.append(job.pk)
    return requeued
