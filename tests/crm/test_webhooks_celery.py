"""Webhooks in a real Celery worker: an event reaches a local HTTP server within seconds, and a
bulk edit of more than 1,000 rows in the worker queues its own delivery task after it ran
(no task per event) and every row's event arrives."""

from __future__ import annotations

import json
import time

import pytest
from django_celery_results.models import TaskResult
from werkzeug import Response

from contacts import bulk
from contacts.models import Contact
from contacts.services import create_contact
from crm import webhooks
from crm.celery import app as celery_app
from crm.models import WebhookDelivery
from crm.tasks import deliver_webhooks
from tests.conftest import wait_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def test_an_event_is_delivered_by_the_worker_within_seconds(world, worker, httpserver):
    received = []

    def handler(request):
        received.append((time.monotonic(), json.loads(request.get_data())))
        return Response("ok", 200)

    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    endpoint = webhooks.create_endpoint(organization_id=world.org.pk, url=httpserver.url_for("/hook"),
                                        event_types=["contact.created"])
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        # Warm up: the worker process is started and has sent one request.
        webhooks.send_test_event(endpoint)
        deliver_webhooks.apply_async(connection=conn, queue=worker["queue"])
        wait_for(lambda: len(received) == 1, 60, worker)
        committed = time.monotonic()
        contact = create_contact(organization=world.org, data={"first_name": "Ann", "email": "ann@example.com"})
        deliver_webhooks.apply_async(connection=conn, queue=worker["queue"])
        wait_for(lambda: len(received) == 2, 30, worker)
    latency = received[1][0] - committed
    assert latency < 5, latency
    body = received[1][1]
    assert body["type"] == "contact.created" and body["data"]["object_id"] == contact.pk
    wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == 2, 30, worker)
    print(f"commit → received: {latency:.2f} s")


def test_a_bulk_edit_in_the_worker_delivers_every_rows_event_in_batches(world, worker, httpserver):
    rows = 1_101
    contacts = [Contact(organization=world.org, team=world.team_a, first_name=f"P{i:04d}") for i in range(rows)]
    for contact in contacts:
        contact.derive_fields()
    Contact.objects.bulk_create(contacts)
    httpserver.expect_request("/hook", method="POST").respond_with_response(Response("ok", 200))
    webhooks.create_endpoint(organization_id=world.org.pk, url=httpserver.url_for("/hook"),
                             event_types=["contact.updated"])
    started = time.monotonic()
    with celery_app.connection_for_write(worker["url"], transport_options=worker["transport_options"]) as conn:
        bulk.start(world.admin, action="set_stage", params={"lifecycle_stage": "customer"},
                   filters={"team": [str(world.team_a.pk)]}, send_options={"connection": conn, "queue": worker["queue"]})
    # Nothing sends the delivery task from here: the worker queues it after the bulk job's task.
    wait_for(lambda: WebhookDelivery.objects.filter(status="succeeded").count() == rows, 180, worker)
    elapsed = time.monotonic() - started
    assert len(httpserver.log) == rows
    changes = {json.loads(request.get_data())["data"]["changes"]["lifecycle_stage"]["new"]
               for request, _ in httpserver.log}
    assert changes == {"customer"}
    tasks = TaskResult.objects.filter(task_name="crm.tasks.deliver_webhooks").count()
    assert 1 <= tasks <= 20, tasks  # batched: a few tasks for 1,101 events
    print(f"bulk edit of {rows} rows → all delivered in {elapsed:.1f} s by {tasks} delivery task(s)")
