"""Celery end to end: a real worker process, a real broker (Redis at 127.0.0.1:6379
when reachable, which CI guarantees; otherwise kombu's filesystem transport, the
broker `make run` uses), the real test database (fixtures in tests/conftest.py)."""

from __future__ import annotations

import pytest

from contacts.models import Contact, ContactTag
from crm.celery import app as celery_app
from crm.models import Tag
from crm.tasks import recount_tag_usage
from tests.conftest import wait_for


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_task_runs_in_a_real_worker(world, worker):
    vip = Tag.objects.create(organization=world.org, name="VIP")
    cold = Tag.objects.create(organization=world.org, name="Cold", usage_count=7)
    for i in range(3):
        contact = Contact.objects.create(organization=world.org, first_name=f"C{i}")
        ContactTag.objects.create(organization=world.org, contact=contact, tag=vip)
    assert Tag.objects.get(pk=vip.pk).usage_count == 0

    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        result = recount_tag_usage.apply_async(args=[world.org.pk], connection=conn, queue=worker["queue"])

    from django_celery_results.models import TaskResult

    wait_for(lambda: TaskResult.objects.filter(task_id=result.id, status="SUCCESS").exists(), 90, worker)
    assert Tag.objects.get(pk=vip.pk).usage_count == 3
    assert Tag.objects.get(pk=cold.pk).usage_count == 0
    task_result = TaskResult.objects.get(task_id=result.id)
    assert task_result.result == "2"  # both tags changed
    assert task_result.task_name == "crm.tasks.recount_tag_usage"
    # A usage recount is bookkeeping, not an edit of the tag: nothing in the audit trail.
    from pghistory.models import Events

    assert not Events.objects.filter(pgh_obj_model="crm.Tag", pgh_label="update").exists()


@celery_app.task(name="tests.rename_contact")
def rename_contact(contact_id, name):
    Contact.objects.filter(pk=contact_id).update(first_name=name)


@pytest.mark.django_db
def test_task_changes_are_audited_with_the_task_name(world):
    from pghistory.models import Events

    contact = Contact.objects.create(organization=world.org, first_name="Ann")
    rename_contact.apply(args=[contact.pk, "Anna"])
    event = Events.objects.filter(pgh_obj_model="contacts.Contact", pgh_obj_id=str(contact.pk),
                                  pgh_label="update").get()
    assert event.pgh_diff["first_name"] == ["Ann", "Anna"]
    assert event.pgh_context == {"source": "task", "task": "tests.rename_contact"}


def test_tasks_default_to_late_ack_and_backoff_retries():
    from django.db import OperationalError

    assert recount_tag_usage.acks_late is True
    assert recount_tag_usage.reject_on_worker_lost is True
    assert recount_tag_usage.retry_backoff is True and recount_tag_usage.retry_jitter is True
    assert OperationalError in recount_tag_usage.autoretry_for
    assert celery_app.conf.task_acks_late is True
    assert "recount-tag-usage" in celery_app.conf.beat_schedule


def test_background_work_has_a_queue_of_its_own(settings):
    """Enrichment, scoring, embeddings and purges go to `<default>.background`; what a person
    started (import, export, bulk action, merge, SMS) stays on the default queue."""
    from crm.celery import BACKGROUND_TASKS

    celery_app.loader.import_default_modules()
    assert BACKGROUND_TASKS <= set(celery_app.tasks), "a background task name that is not a task"
    router = celery_app.amqp.router
    default = celery_app.conf.task_default_queue
    for name in BACKGROUND_TASKS:
        assert router.route({}, name)["queue"].name == f"{default}.background"
    for name in ("contacts.tasks.run_import_job", "contacts.tasks.run_export", "contacts.tasks.run_bulk_operation",
                 "contacts.tasks.run_bulk_merge", "messaging.tasks.send_due_messages", "crm.tasks.deliver_webhooks"):
        assert name in celery_app.tasks
        assert router.route({}, name)["queue"].name == default
