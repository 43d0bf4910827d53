"""Bulk merges (contacts.merge.start_bulk_merge): run by the job runner, each group all-or-nothing,
failing groups reported with their reason while the others go on, resumable from the checkpoint;
and once in a real Celery worker."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from contacts import merge as merging
from contacts.models import Contact, Merge
from contacts.services import create_contact
from crm.celery import app as celery_app
from crm.models import Job, JobItem
from tests.conftest import fresh, wait_for


def person(world, name, owner=None, minutes_ago=0, **data):
    c = create_contact(organization=world.org, data={"first_name": name, "owner": owner or world.alice,
                                                     "team": world.team_a, **data})
    Contact.objects.filter(pk=c.pk).update(updated_at=timezone.now() - datetime.timedelta(minutes=minutes_ago))
    return c


def test_bulk_merge_by_the_job_runner_reports_failing_groups_and_goes_on(world):
    a_old, a_new = person(world, "A", minutes_ago=10, email="a@old.test"), person(world, "A2", minutes_ago=1)
    b1, b2 = person(world, "B"), person(world, "B2")
    Contact.objects.filter(pk=b2.pk).update(deleted_at=timezone.now())  # already in the trash
    foreign = create_contact(organization=world.other_org, data={"first_name": "F"})
    rita = person(world, "R", owner=world.rita)
    c1, c2 = person(world, "C", minutes_ago=3), person(world, "C2", minutes_ago=5)
    groups = [[a_old.pk, a_new.pk], [b1.pk, b2.pk], [c1.pk, foreign.pk], [c1.pk, c2.pk], [rita.pk, a_old.pk + 10**6]]
    with pytest.raises(ValidationError, match="also in group"):
        merging.start_bulk_merge(fresh(world.alice), groups)
    groups[2] = [b1.pk + 10**6, foreign.pk]
    job = merging.start_bulk_merge(fresh(world.alice), groups)
    assert job.status == Job.Status.QUEUED
    merging.run_bulk(job.pk)
    job.refresh_from_db()
    assert (job.status, job.processed, job.succeeded, job.failed, job.progress) == ("done", 5, 2, 3, 100)
    items = {item.before["group"]: item for item in JobItem.objects.filter(job=job)}
    assert items[0].outcome == "changed" and items[0].object_id == a_new.pk  # the newest survives
    assert Contact.objects.get(pk=a_new.pk).email == "a@old.test"  # newest non-empty
    assert items[1].outcome == "invalid" and "trash" in items[1].message
    assert items[2].outcome == "not_found"
    assert items[3].outcome == "changed" and items[3].object_id == c1.pk
    assert items[4].outcome == "not_found"
    assert Merge.objects.filter(job=job).count() == 2
    assert Contact.objects.filter(pk=b1.pk).exists()  # a failed group changes nothing


def test_bulk_merge_resumes_from_its_checkpoint_without_doing_a_group_twice(world, monkeypatch):
    monkeypatch.setattr(merging, "BULK_BATCH", 2)
    pairs = [[person(world, f"P{i}").pk, person(world, f"Q{i}").pk] for i in range(5)]
    job = merging.start_bulk_merge(fresh(world.alice), pairs)
    with transaction.atomic():  # a worker did one batch, then died
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status = Job.Status.RUNNING
        merging._bulk_step(locked)
        locked.save()
    assert Job.objects.get(pk=job.pk).processed == 2
    merging.run_bulk(job.pk)
    job.refresh_from_db()
    assert (job.status, job.processed, job.succeeded) == ("done", 5, 5)
    assert Merge.objects.filter(job=job).count() == 5 and JobItem.objects.filter(job=job).count() == 5


def test_viewers_cannot_start_a_bulk_merge(world):
    with pytest.raises(PermissionDenied):
        merging.start_bulk_merge(fresh(world.viewer_a), [[1, 2]])
    assert not Job.objects.exists()


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_bulk_merge_in_a_real_worker(world, worker):
    pairs = [[person(world, f"P{i}").pk, person(world, f"Q{i}").pk] for i in range(3)]
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        job = merging.start_bulk_merge(fresh(world.alice), pairs,
                                       send_options={"connection": conn, "queue": worker["queue"]})
    assert job.status == Job.Status.QUEUED
    wait_for(lambda: Job.objects.get(pk=job.pk).status not in Job.ACTIVE, 120, worker)
    job.refresh_from_db()
    assert (job.status, job.succeeded, job.failed) == ("done", 3, 0), job.error
    assert Merge.objects.filter(job=job).count() == 3
