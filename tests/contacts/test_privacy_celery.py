"""Erasure and subject access export through a real Celery worker: queued by the request,
done by the worker within seconds, the worker's own log free of the person's data."""

from __future__ import annotations

import io
import time
import zipfile

import pytest
from django.core.files.storage import default_storage

from contacts import privacy
from contacts.models import Contact, ErasureTombstone, PrivacyRequest
from contacts.services import create_contact
from crm.celery import app as celery_app
from crm.models import Job
from tests.conftest import fresh, wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

EMAIL, PHONE, NAME = "wilhelmina.celeryworth@example.org", "+14155550177", "Wilhelmina Celeryworth"


def done(request):
    return lambda: PrivacyRequest.objects.get(pk=request.pk).status in (PrivacyRequest.Status.DONE,
                                                                        PrivacyRequest.Status.FAILED)


def test_export_then_erasure_in_the_worker(world, worker):
    contact = create_contact(organization=world.org, data={"first_name": "Wilhelmina", "last_name": "Celeryworth",
                                                           "email": EMAIL, "mobile": PHONE, "team": world.team_a})
    admin = fresh(world.admin)
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        options = {"connection": conn, "queue": worker["queue"]}
        export = privacy.request_export(admin, contact.pk, send_options=options)
        assert export.status == PrivacyRequest.Status.QUEUED
        wait_for(done(export), 60, worker)
        export.refresh_from_db()
        assert export.status == PrivacyRequest.Status.DONE, export.job.error
        with default_storage.open(export.job.params["file"], "rb") as f:
            data = zipfile.ZipFile(io.BytesIO(f.read())).read("subject.json").decode()
        assert EMAIL in data and NAME in data

        started = time.monotonic()
        erasure = privacy.request_erasure(admin, contact.pk, send_options=options)
        wait_for(done(erasure), 60, worker)
        print(f"erasure done by the worker {time.monotonic() - started:.2f}s after the request")
    erasure.refresh_from_db()
    assert erasure.status == PrivacyRequest.Status.DONE, erasure.job.error
    assert Job.objects.get(pk=erasure.job_id).status == Job.Status.DONE
    assert not Contact.all_objects.filter(pk=contact.pk).exists()
    assert ErasureTombstone.objects.filter(organization=world.org).count() == 2
    # The erasure deleted the subject access export made before it.
    assert not default_storage.exists(export.job.params["file"])
    log = worker["log"].read_text()
    assert "run_erasure" in log
    for needle in (EMAIL, PHONE, NAME, "4155550177"):
        assert needle not in log
