"""Exports of more than 1,000 rows in a real Celery worker: progress up to the total and a
downloadable file; and an export whose worker died resumed by the sweeper from its last chunk."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from contacts import exports
from contacts.models import Contact
from crm import jobs
from crm.celery import app as celery_app
from crm.models import Job
from tests.conftest import fresh, wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

CHUNK = 500
ROWS = CHUNK * 2 + 101  # three chunks


@pytest.fixture
def media(tmp_path, settings, monkeypatch):
    """One storage folder (and chunk size) for this process and the worker (started after this fixture)."""
    root = tmp_path / "media"
    monkeypatch.setenv("MEDIA_ROOT", str(root))
    monkeypatch.setenv("KITH_EXPORT_CHUNK_SIZE", str(CHUNK))
    settings.MEDIA_ROOT, settings.KITH_EXPORT_CHUNK_SIZE = root, CHUNK
    return root


@pytest.fixture
def export_worker(media, worker):
    return worker


def make_contacts(world, n, prefix="P", **fields):
    contacts = [Contact(organization=world.org, first_name=f"{prefix}{i:05d}", email=f"{prefix}{i}@example.com",
                        **fields)
                for i in range(n)]
    for contact in contacts:
        contact.derive_fields()
    return Contact.objects.bulk_create(contacts, batch_size=5000)


def read_csv(job) -> list[list[str]]:
    with default_storage.open(job.params["file"], "rb") as f:
        text = f.read().decode("utf-8")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))


def send_options(worker, conn):
    return {"connection": conn, "queue": worker["queue"]}


def test_a_large_export_runs_in_the_worker_with_progress(world, export_worker):
    worker = export_worker
    make_contacts(world, ROWS, team=world.team_a)
    make_contacts(world, 3, prefix="B", team=world.team_b)  # not matched by the filter
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        job = exports.start_export(fresh(world.manager_a), format="csv", columns=["first_name", "email"],
                                   filters={"team": [str(world.team_a.pk)]}, send_options=send_options(worker, conn))
    assert job.status == Job.Status.QUEUED and job.total is None

    seen = []

    def finished():
        current = Job.objects.get(pk=job.pk)
        seen.append(current.processed)
        return current.status not in Job.ACTIVE

    wait_for(finished, 60, worker)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    assert (job.total, job.processed, job.progress, job.params["rows"]) == (ROWS, ROWS, 100, ROWS)
    assert seen == sorted(seen)  # progress only moves forward
    rows = read_csv(job)
    assert rows[0] == ["First name", "Email"] and len(rows) == ROWS + 1
    assert [r[0] for r in rows[1:]] == [f"P{i:05d}" for i in range(ROWS)]
    with exports.open_download(world.manager_a, job, job.params["token"]) as f:
        assert f.read(3) == b"\xef\xbb\xbf"


def test_the_sweeper_resumes_an_export_whose_worker_died(world, export_worker, settings):
    worker = export_worker
    make_contacts(world, ROWS, team=world.team_a)
    job = Job.objects.create(organization=world.org, kind=exports.KIND, task=exports.TASK, actor=world.admin,
                             params={"format": "xlsx", "columns": ["first_name"], "filters": {}, "downloads": 0})
    # A worker committed one chunk (its part is in storage), then died.
    with transaction.atomic():
        locked = Job.objects.select_for_update().get(pk=job.pk)
        locked.status, locked.attempts = Job.Status.RUNNING, 1
        assert exports._step(locked) is False
        locked.heartbeat_at = timezone.now() - timedelta(seconds=settings.KITH_JOB_STALE_SECONDS + 1)
        locked.save()
    assert Job.objects.get(pk=job.pk).processed == CHUNK

    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        assert jobs.requeue_stale_jobs(**send_options(worker, conn)) == [job.pk]
    wait_for(lambda: Job.objects.get(pk=job.pk).status not in Job.ACTIVE, 60, worker)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    assert (job.processed, job.params["rows"]) == (ROWS, ROWS)
    import openpyxl

    with default_storage.open(job.params["file"], "rb") as f:
        sheet = openpyxl.load_workbook(io.BytesIO(f.read()), read_only=True).active
        names = [row[0] for row in sheet.iter_rows(values_only=True)]
    assert names == ["First name"] + [f"P{i:05d}" for i in range(ROWS)]  # nothing lost, nothing twice
