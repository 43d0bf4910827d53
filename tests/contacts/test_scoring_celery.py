"""Lead scoring through a real Celery worker: writes that change score inputs are rescored after
commit (debounced) without anyone sending a task by hand, and the organization job runs there."""

from __future__ import annotations

import pytest

from activities.services import log_activity
from contacts import scoring
from contacts.models import Contact, ScoreHistory, ScoringModel
from contacts.services import create_contact
from crm.celery import app as celery_app
from crm.models import Job
from tests.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sends_to_worker(worker):
    """The app's own sends (scoring.schedule after commit) go to the test worker's broker and queue."""
    keys = {"broker_url": worker["url"], "broker_transport_options": worker["transport_options"],
            "task_default_queue": worker["queue"]}
    before = {key: celery_app.conf.get(key) for key in keys}

    def configure(values):
        celery_app.conf.update(values)
        celery_app._pool = None  # connections are made again from the new settings
        celery_app.amqp._producer_pool = None

    configure(keys)
    # A debounce mark left by an earlier test (its task went elsewhere) would hold this test's send back.
    from django.core.cache import cache

    cache.delete(scoring._DEBOUNCE_KEY)
    yield worker
    configure(before)


def test_activity_creation_is_rescored_by_the_worker(world, sends_to_worker):
    worker = sends_to_worker
    ScoringModel.objects.create(organization=world.org, title_executive=30, meeting_held=20)
    person = create_contact(organization=world.org, data={"first_name": "Ana", "job_title": "CEO"})
    wait_for(lambda: Contact.objects.get(pk=person.pk).score == 30, 120, worker)
    log_activity(organization_id=world.org.pk, data={"contact": person, "type": "meeting_held"})
    wait_for(lambda: Contact.objects.get(pk=person.pk).score == 50, 120, worker)
    history = list(ScoreHistory.objects.filter(contact=person).order_by("computed_at", "id"))
    assert [(h.previous, h.score, h.reason) for h in history] == [(0, 30, "change"), (30, 50, "change")]
    assert [c["component"] for c in history[-1].breakdown["components"]] == ["title", "meeting_held"]


def test_weights_change_rescores_the_organization_in_a_job(world, sends_to_worker):
    worker = sends_to_worker
    people = [create_contact(organization=world.org, data={"first_name": f"P{i}", "job_title": "Director"})
              for i in range(4)]
    wait_for(lambda: set(Contact.objects.filter(pk__in=[p.pk for p in people])
                         .values_list("score", flat=True)) == {15}, 120, worker)
    job = scoring.save_model(ScoringModel(organization=world.org, title_director=40), actor=world.admin)
    wait_for(lambda: Job.objects.get(pk=job.pk).status not in Job.ACTIVE, 120, worker)
    job.refresh_from_db()
    assert job.status == Job.Status.DONE and job.processed == 4 and job.succeeded == 4, job.error
    assert set(Contact.objects.filter(pk__in=[p.pk for p in people]).values_list("score", flat=True)) == {40}
