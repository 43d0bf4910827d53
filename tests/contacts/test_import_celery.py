"""Imports of files past the inline size in a real Celery worker: the dry run, the import and
its revert, with progress only moving forward; and an import whose worker died after a batch
resumed by the sweeper from its checkpoint, with no row imported twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from contacts import imports
from contacts.models import Contact, ContactImport, ImportRow
from crm import jobs
from crm.celery import app as celery_app
from crm.models import Job
from tests.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

ROWS = 6_001  # two batches of 5,000 (and past the inline size)
Stage = ContactImport.Stage


def big_file(n=ROWS, bad_every=1000) -> SimpleUploadedFile:
    lines = ["First Name,Last Name,Email,City"]
    for i in range(n):
        email = f"person{i}@" if bad_every and i % bad_every == 0 else f"person{i}@example.com"
        lines.append(f"Person{i},Tester,{email},Springfield")
    return SimpleUploadedFile("big.csv", ("\r\n".join(lines) + "\r\n").encode())


def send_options(worker, conn):
    return {"connection": conn, "queue": worker["queue"]}


def connection(worker):
    return celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"])


def wait_for_stage(imp, stages, worker, seen=None):
    def reached():
        current = ContactImport.objects.get(pk=imp.pk)
        if seen is not None:
            seen.append(imports.progress(current)["processed"])
        return current.stage in stages

    wait_for(reached, 120, worker)
    return ContactImport.objects.get(pk=imp.pk)


def test_preview_import_and_revert_in_the_worker(world, worker):
    imp = imports.upload(world.manager_a, big_file())
    assert imp.file_size > imports.INLINE_BYTES
    with connection(worker) as conn:
        imp = imports.configure(imp, world.manager_a, mapping=imp.mapping, send_options=send_options(worker, conn))
    assert imp.stage == Stage.PREVIEWING
    imp = wait_for_stage(imp, {Stage.PREVIEWED, Stage.FAILED}, worker)
    assert imp.stage == Stage.PREVIEWED, imp.error
    bad = len(range(0, ROWS, 1000))
    assert imp.preview["counts"] == {"created": ROWS - bad, "invalid": bad}
    assert not Contact.objects.exists()

    seen = []
    with connection(worker) as conn:
        imp = imports.start_import(imp, world.manager_a, send_options=send_options(worker, conn))
    imp = wait_for_stage(imp, {Stage.IMPORTED, Stage.FAILED}, worker, seen)
    assert imp.stage == Stage.IMPORTED, imp.error
    assert seen == sorted(seen)
    progress = imports.progress(imp)
    assert (progress["processed"], progress["total"], progress["percent"]) == (ROWS, ROWS, 100)
    assert progress["rate"] > 0
    assert imp.counts == {"created": ROWS - bad, "invalid": bad}
    assert Contact.objects.count() == ROWS - bad
    assert ImportRow.objects.filter(contact_import=imp).count() == ROWS

    with connection(worker) as conn:
        imp = imports.start_revert(imp, world.manager_a, send_options=send_options(worker, conn))
    imp = wait_for_stage(imp, {Stage.REVERTED, Stage.FAILED}, worker)
    assert imp.stage == Stage.REVERTED, imp.error
    assert not Contact.all_objects.exists()


def test_the_sweeper_resumes_an_import_whose_worker_died(world, worker, settings, monkeypatch):
    imp = imports.upload(world.manager_a, big_file(bad_every=0))
    imp = imports.configure(imp, world.manager_a, mapping=imp.mapping, inline=True)
    monkeypatch.setattr(imports, "INLINE_BYTES", 0)
    with transaction.atomic():
        imp = imports.start_import(imp, world.manager_a, send_options={"queue": "nobody-listens"})
    job = imp.run_job
    # A worker took it, committed the first batch, then died: "running", stale heartbeat.
    steps = imports._Steps(imports._run_step)
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status, locked.attempts, locked.started_at = Job.Status.RUNNING, 1, timezone.now()
        assert steps(locked) is False
        locked.heartbeat_at = timezone.now() - timedelta(seconds=settings.KITH_JOB_STALE_SECONDS + 1)
        locked.save()
    assert Contact.objects.count() == imports.BATCH_SIZE

    with connection(worker) as conn:
        assert jobs.requeue_stale_jobs(**send_options(worker, conn)) == [job.pk]
    imp = wait_for_stage(imp, {Stage.IMPORTED, Stage.FAILED}, worker)
    assert imp.stage == Stage.IMPORTED, imp.error
    assert Contact.objects.count() == ROWS
    assert ImportRow.objects.filter(contact_import=imp).count() == ROWS
    assert imp.counts == {"created": ROWS}
    assert Contact.objects.values("email").distinct().count() == ROWS
