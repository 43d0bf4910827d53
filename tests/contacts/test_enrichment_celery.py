"""Event-driven enrichment through a real Celery worker: creating a contact (and changing its
phone later) is enough; the worker fills the time zone and links the company from the email."""

from __future__ import annotations

import time

import pytest

from companies.models import Company
from contacts.models import Contact, ContactCompany
from contacts.services import create_contact, update_contact
from crm.celery import app as celery_app
from tests.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def enrich_worker(monkeypatch, request):
    """The worker (offline: no DNS), and this process's Celery app sending to its broker and queue."""
    monkeypatch.setenv("KITH_ENRICHMENT_DNS", "0")
    worker = request.getfixturevalue("worker")
    conf = celery_app.conf
    saved = {key: conf[key] for key in ("broker_url", "broker_transport_options", "task_default_queue")}
    conf.update(broker_url=worker["url"], broker_transport_options=worker["transport_options"],
                task_default_queue=worker["queue"])
    celery_app._pool = celery_app.amqp._producer_pool = None
    yield worker
    conf.update(saved)
    celery_app._pool = celery_app.amqp._producer_pool = None


def test_created_and_updated_contacts_are_enriched_by_the_worker(world, enrich_worker, settings):
    settings.KITH_ENRICHMENT_DNS = False
    contact = create_contact(organization=world.org, data={"first_name": "Ana", "email": "ana@pagato-worker.io",
                                                           "mobile": "+4915123456789"})
    wait_for(lambda: Contact.objects.get(pk=contact.pk).timezone == "Europe/Berlin", 60, enrich_worker)
    contact.refresh_from_db()
    assert contact.enrichment["values"]["timezone"]["source"] == "timezone"
    assert contact.enrichment["providers"]["email_dns"]["status"] == "not_checked"
    company = Company.objects.get(organization=world.org, domain="pagato-worker.io")
    assert ContactCompany.objects.filter(contact=contact, company=company, is_primary=True).exists()
    enriched_at = contact.enrichment["enriched_at"]

    update_contact(contact=Contact.objects.get(pk=contact.pk), data={"mobile": "+33612345678"})
    wait_for(lambda: Contact.objects.get(pk=contact.pk).timezone == "Europe/Paris", 60, enrich_worker)
    contact.refresh_from_db()
    assert contact.enrichment["enriched_at"] > enriched_at
    assert contact.enrichment["values"]["mobile.region"]["value"] == "FR"
    # One task per change: the enrichment's own writes did not schedule more.
    time.sleep(4)
    received = enrich_worker["log"].read_text().count("Task contacts.tasks.enrich_contact[")
    assert received == 4, enrich_worker["log"].read_text()[-3000:]  # "received" and "succeeded", twice
