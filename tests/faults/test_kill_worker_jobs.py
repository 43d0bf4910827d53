"""A real Celery worker killed (SIGKILL) in the middle of an import, a bulk action and a bulk
merge; a new worker gets the task again from Redis (acks_late, visibility timeout) and resumes
the job from its last committed batch. Each job ends once, with every row processed once:
nothing lost, nothing doubled."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count

from activities.models import Activity
from contacts import bulk, imports
from contacts import merge as merging
from contacts.models import Contact, ContactImport, ContactTag, ImportRow, Merge
from crm.models import Job, JobItem, Tag
from tests.conftest import fresh

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def make_contacts(world, n, prefix="P", **fields):
    contacts = [Contact(organization=world.org, first_name=f"{prefix}{i:05d}", **fields) for i in range(n)]
    for contact in contacts:
        contact.derive_fields()
    return Contact.objects.bulk_create(contacts)


def kill_mid_job(workers, job_id) -> Job:
    """Kill the worker once the job has committed some batches and not all; start a new one."""
    def in_progress():
        job = Job.objects.get(pk=job_id)
        return job if job.status == Job.Status.RUNNING and 0 < job.processed < (job.total or 0) else None

    seen = workers.wait_for(in_progress, 60, interval=0.02)
    workers.kill()
    at_kill = Job.objects.get(pk=job_id)
    assert at_kill.status == Job.Status.RUNNING and at_kill.processed < at_kill.total, "killed too late"
    workers.start()
    return seen


def wait_until_stopped(workers, job_id) -> Job:
    return workers.wait_for(lambda: (j := Job.objects.get(pk=job_id)).status not in Job.ACTIVE and j, 120)


def test_import_killed_mid_way_finishes_once(world, workers):
    rows = 8_000  # two batches of 5,000 and 3,000
    lines = ["First Name,Last Name,Email,City"] + [f"Person{i},Tester,person{i}@example.com,Springfield"
                                                   for i in range(rows)]
    upload = SimpleUploadedFile("big.csv", ("\r\n".join(lines) + "\r\n").encode())
    imp = imports.upload(world.manager_a, upload)
    imp = imports.configure(imp, world.manager_a, mapping=imp.mapping, inline=True)
    assert imp.stage == ContactImport.Stage.PREVIEWED, imp.error
    workers.start()
    with workers.connection() as conn:
        imp = imports.start_import(imp, world.manager_a, send_options=workers.send_options(conn))
    job_id = imp.run_job_id
    seen = kill_mid_job(workers, job_id)

    job = wait_until_stopped(workers, job_id)
    imp.refresh_from_db()
    assert job.status == Job.Status.DONE and imp.stage == ContactImport.Stage.IMPORTED, (job.error, imp.error)
    assert (job.processed, job.total) == (rows, rows) and seen.processed >= imports.BATCH_SIZE
    assert imp.counts == {"created": rows}
    assert Contact.objects.count() == rows
    assert Contact.objects.values("email").distinct().count() == rows
    assert ImportRow.objects.filter(contact_import=imp).count() == rows
    assert ImportRow.objects.values("line").distinct().count() == rows


def test_bulk_action_killed_mid_way_finishes_once(world, workers):
    rows = 1_500  # three batches of 500 (past the inline limit of 1,000)
    make_contacts(world, rows, team=world.team_a)
    vip = Tag.objects.create(organization=world.org, name="VIP")
    workers.start()
    with workers.connection() as conn:
        job = bulk.start(world.manager_a, action="add_tags", params={"tags": [vip.pk]},
                         filters={"team": [str(world.team_a.pk)]}, send_options=workers.send_options(conn))
    kill_mid_job(workers, job.pk)

    job = wait_until_stopped(workers, job.pk)
    assert job.status == Job.Status.DONE, job.error
    assert (job.total, job.processed, job.succeeded, job.failed, job.progress) == (rows, rows, rows, 0, 100)
    assert ContactTag.objects.filter(tag=vip).count() == rows
    assert Tag.objects.get(pk=vip.pk).usage_count == rows
    items = JobItem.objects.filter(job=job)
    assert items.count() == rows and items.values("object_id").distinct().count() == rows
    assert set(items.values_list("outcome", flat=True)) == {"changed"}


def test_bulk_merge_killed_mid_way_finishes_once(world, workers):
    pairs = 60  # three batches of 20 groups
    firsts = make_contacts(world, pairs, prefix="A", team=world.team_a, owner=world.alice)
    seconds = make_contacts(world, pairs, prefix="B", team=world.team_a, owner=world.alice)
    groups = [[a.pk, b.pk] for a, b in zip(firsts, seconds)]
    workers.start()
    with workers.connection() as conn:
        job = merging.start_bulk_merge(fresh(world.alice), groups, send_options=workers.send_options(conn))
    kill_mid_job(workers, job.pk)

    job = wait_until_stopped(workers, job.pk)
    assert job.status == Job.Status.DONE, job.error
    assert (job.total, job.processed, job.succeeded, job.failed) == (pairs, pairs, pairs, 0)
    merges = Merge.objects.filter(job=job)
    assert merges.count() == pairs
    items = JobItem.objects.filter(job=job)
    assert items.count() == pairs
    assert sorted(item.before["group"] for item in items) == list(range(pairs))
    # One survivor per group, the other in the trash; one timeline entry per merge.
    assert Contact.objects.count() == pairs and Contact.all_objects.count() == 2 * pairs
    survivors = set(Contact.objects.values_list("pk", flat=True))
    assert all(len(survivors & set(group)) == 1 for group in groups)
    entries = Activity.objects.filter(type=Activity.Type.CUSTOM, subject__startswith="Merged ")
    per_contact = Counter(entries.values_list("contact_id", flat=True))
    assert set(per_contact) == survivors and set(per_contact.values()) == {1}
    assert not Merge.objects.values("survivor_id").annotate(n=Count("id")).filter(n__gt=1).exists()
