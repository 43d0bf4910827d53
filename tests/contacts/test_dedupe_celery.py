"""The duplicate scan in a real Celery worker: queued by the page's service, run by the task
from its checkpoint to the end, with the pairs found."""

from __future__ import annotations

import pytest

from contacts import duplicates
from contacts.models import ContactDuplicate
from contacts.services import create_contact
from crm.celery import app as celery_app
from crm.models import Job
from tests.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_scan_runs_in_the_worker(world, worker):
    for first, mobile in (("Ann", "+14155550101"), ("Anne", "+14155550101")):
        create_contact(organization=world.org, data={"first_name": first, "last_name": "Lee", "mobile": mobile})
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        job = duplicates.start_scan(world.admin, inline=False,
                                    send_options={"connection": conn, "queue": worker["queue"]})
    assert job.status == Job.Status.QUEUED

    def finished():
        return Job.objects.get(pk=job.pk).status not in Job.ACTIVE

    wait_for(finished, 120, worker)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    assert job.progress == 100 and job.succeeded == 1
    assert ContactDuplicate.objects.filter(organization=world.org).count() == 1
