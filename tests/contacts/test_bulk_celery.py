"""Bulk operations of more than 1,000 rows in a real Celery worker: progress, the final state,
and a job whose worker died resumed by the sweeper from its checkpoint without doing a batch twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from contacts import bulk
from contacts.models import Contact, ContactTag
from crm import jobs
from crm.celery import app as celery_app
from crm.models import Job, JobItem, Tag
from tests.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROWS = 1_101  # three batches of 500


def make_contacts(world, n, **fields):
    contacts = [Contact(organization=world.org, first_name=f"P{i:04d}", **fields) for i in range(n)]
    for contact in contacts:
        contact.derive_fields()
    return Contact.objects.bulk_create(contacts)


def send_options(worker, conn):
    return {"connection": conn, "queue": worker["queue"]}


def test_more_than_1000_rows_run_in_the_worker_with_progress(world, worker):
    make_contacts(world, ROWS, team=world.team_a)
    make_contacts(world, 3, team=world.team_b)  # not matched by the filter
    vip = Tag.objects.create(organization=world.org, name="VIP")
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        job = bulk.start(world.manager_a, action="add_tags", params={"tags": [vip.pk]},
                         filters={"team": [str(world.team_a.pk)]}, send_options=send_options(worker, conn))
    assert job.status == Job.Status.QUEUED and job.total is None

    seen = []

    def finished():
        current = Job.objects.get(pk=job.pk)
        seen.append(current.processed)
        return current.status not in Job.ACTIVE

    wait_for(finished, 120, worker)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    assert (job.total, job.processed, job.succeeded, job.failed, job.progress) == (ROWS, ROWS, ROWS, 0, 100)
    assert job.attempts == 1 and job.finished_at is not None
    assert seen == sorted(seen)  # progress only moves forward
    assert ContactTag.objects.filter(tag=vip).count() == ROWS
    assert Tag.objects.get(pk=vip.pk).usage_count == ROWS
    assert JobItem.objects.filter(job=job, outcome="changed").count() == ROWS

    # Undo of more than 1,000 rows runs in the worker too.
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        undo = bulk.start_undo(world.manager_a, job, send_options=send_options(worker, conn))
    assert undo.status == Job.Status.QUEUED
    wait_for(lambda: Job.objects.get(pk=undo.pk).status == Job.Status.DONE, 120, worker)
    assert Job.objects.get(pk=job.pk).status == Job.Status.UNDONE
    assert not ContactTag.objects.filter(tag=vip).exists()
    assert Tag.objects.get(pk=vip.pk).usage_count == 0


def test_the_sweeper_resumes_a_job_whose_worker_died(world, worker, settings):
    contacts = make_contacts(world, ROWS, team=world.team_a)
    vip = Tag.objects.create(organization=world.org, name="VIP")
    job = Job.objects.create(organization=world.org, kind=bulk.KIND, task=bulk.TASK, actor=world.admin,
                             total=ROWS, params={"action": "add_tags", "params": {"tags": [vip.pk]},
                                                 "ids": sorted(c.pk for c in contacts)})
    # A worker committed one batch, then died: the job is "running" with a stale heartbeat.
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status, locked.attempts = Job.Status.RUNNING, 1
        bulk._step(locked)
        locked.heartbeat_at = timezone.now() - timedelta(seconds=settings.KITH_JOB_STALE_SECONDS + 1)
        locked.save()
    assert Job.objects.get(pk=job.pk).processed == bulk.BATCH_SIZE

    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        assert jobs.requeue_stale_jobs(**send_options(worker, conn)) == [job.pk]
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Job.Status.DONE, 120, worker)
    job.refresh_from_db()
    assert (job.processed, job.succeeded) == (ROWS, ROWS)
    # Nothing done twice: one item per row, one link per contact, the count right.
    assert JobItem.objects.filter(job=job).count() == ROWS
    assert ContactTag.objects.filter(tag=vip).count() == ROWS
    assert Tag.objects.get(pk=vip.pk).usage_count == ROWS
