"""Embeddings computed by a real Celery worker: the catch-all task and the backfill job."""

from __future__ import annotations

import pytest

from contacts import semantic
from contacts.models import Contact
from contacts.services import create_contact
from crm.celery import app as celery_app
from crm.models import Job
from tests.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_worker_embeds_changed_contacts_and_runs_the_backfill(world, worker):
    first = create_contact(organization=world.org, data={"first_name": "Ana", "job_title": "CTO"})
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        celery_app.send_task("contacts.tasks.embed_pending", connection=conn, queue=worker["queue"])
        wait_for(lambda: Contact.objects.filter(pk=first.pk, embedding__isnull=False).exists(), 120, worker)

        others = [create_contact(organization=world.org, data={"first_name": f"Rep{i}", "job_title": "Sales"})
                  for i in range(3)]
        job = semantic.start_backfill(world.org.pk, queue=True,
                                      send_options={"connection": conn, "queue": worker["queue"]})
    assert job.total == 3
    wait_for(lambda: Job.objects.get(pk=job.pk).status not in Job.ACTIVE, 120, worker)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.succeeded == 3, job.error
    assert not Contact.objects.filter(pk__in=[c.pk for c in others], embedding__isnull=True).exists()
