"""Webhook delivery (crm/webhooks.py) against real local HTTP servers (pytest-httpserver):
signatures checked by an independent HMAC computation, retries with backoff until a server that
failed N times answers, no retry on 4xx but 408/429, Retry-After, the 72-hour schedule,
automatic disabling with a notice, SSRF refusal in production mode, and requests that never
wait for an endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from email.utils import format_datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from werkzeug import Response

from activities.models import Notification
from contacts.services import create_contact, update_contact
from crm import webhooks
from crm.models import WEBHOOK_EVENT_TYPES, WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


def make_endpoint(world, url, types=WEBHOOK_EVENT_TYPES):
    return webhooks.create_endpoint(organization_id=world.org.pk, url=url, event_types=types, actor=world.admin)


def make_contact(world, **data):
    return create_contact(organization=world.org, data={"first_name": "Ann", "last_name": "Lee", **data},
                          actor=world.admin)


def deliveries():
    return list(WebhookDelivery.objects.order_by("id"))


def make_due():
    """Time passes: every pending delivery is due now."""
    WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())


class Sequence:
    """A handler answering the given responses in turn (then the last one), keeping the requests."""

    def __init__(self, *responses):
        self.responses = list(responses)
        self.requests = []

    def __call__(self, request):
        self.requests.append((dict(request.headers), request.get_data()))
        answer = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        return answer


def test_signature_verifies_with_an_independent_hmac(world, httpserver):
    handler = Sequence(Response("ok", 200))
    httpserver.expect_request("/hook", method="POST").respond_with_handler(handler)
    endpoint = make_endpoint(world, httpserver.url_for("/hook"))
    contact = make_contact(world, email="ann@example.com")
    assert webhooks.deliver_due() == 1
    headers, body = handler.requests[0]
    # The receiver's side, written from the documentation only.
    secret = WebhookEndpoint.objects.get(pk=endpoint.pk).secret
    timestamp = headers["Kith-Webhook-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["Kith-Webhook-Signature"] == f"v1={expected}"
    assert abs(time.time() - int(timestamp)) < 300
    tampered = hmac.new(secret.encode(), timestamp.encode() + b"." + body + b" ", hashlib.sha256).hexdigest()
    assert headers["Kith-Webhook-Signature"] != f"v1={tampered}"
    payload = json.loads(body)
    assert payload["id"] == headers["Kith-Webhook-Id"]
    assert payload["type"] == "contact.created"
    assert payload["data"]["object_id"] == contact.pk and payload["data"]["object"]["email"] == "ann@example.com"
    assert headers["Content-Type"] == "application/json"
    delivery = deliveries()[0]
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.response_excerpt) == (
        "succeeded", 1, 200, "ok")
    assert delivery.duration_ms is not None


def test_secret_is_encrypted_at_rest(world):
    endpoint = make_endpoint(world, "http://127.0.0.1:9/hook")
    assert endpoint.secret.startswith("whsec_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM crm_webhookendpoint WHERE id = %s", [endpoint.pk])
        stored = cursor.fetchone()[0]
    assert endpoint.secret not in stored and len(stored) > len(endpoint.secret)


def test_retries_with_backoff_until_the_server_answers(world, httpserver):
    handler = Sequence(Response("down", 500), Response("down", 502), Response("down", 503), Response("fine", 200))
    httpserver.expect_request("/hook").respond_with_handler(handler)
    endpoint = make_endpoint(world, httpserver.url_for("/hook"))
    contact = make_contact(world)
    update_contact(contact=contact, data={"job_title": "CTO"}, actor=world.admin)
    WebhookDelivery.objects.update(status="succeeded")  # keep to one delivery: the update
    WebhookDelivery.objects.filter(event__type="contact.updated").update(status="pending")
    waits = []
    for _ in range(3):
        before = timezone.now()
        assert webhooks.deliver_due() == 1
        delivery = deliveries()[-1]
        assert delivery.status == "pending" and delivery.response_status in (500, 502, 503)
        waits.append(round((delivery.next_attempt_at - before).total_seconds()))
        assert webhooks.deliver_due() == 0  # not due yet
        make_due()
    assert waits == [30, 60, 120]
    assert webhooks.deliver_due() == 1
    delivery = deliveries()[-1]
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("succeeded", 4, 200)
    assert len(handler.requests) == 4
    assert len({h["Kith-Webhook-Id"] for h, _ in handler.requests}) == 1  # the same event each time
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.is_active


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_4xx_is_not_retried(world, httpserver, status):
    httpserver.expect_request("/hook").respond_with_response(Response("no", status))
    make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    webhooks.deliver_due()
    delivery = deliveries()[0]
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 1, status)
    assert delivery.next_attempt_at is None and "not retried" in delivery.error


def test_redirects_are_not_followed(world, httpserver):
    httpserver.expect_request("/hook").respond_with_response(
        Response("", 302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    webhooks.deliver_due()
    delivery = deliveries()[0]
    assert delivery.response_status == 302 and delivery.status == "failed" and "Redirects" in delivery.error
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried(world, httpserver, status):
    httpserver.expect_request("/hook").respond_with_response(Response("slow down", status))
    make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    webhooks.deliver_due()
    delivery = deliveries()[0]
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("pending", 1, status)


@pytest.mark.parametrize("retry_after", ["seconds", "date"])
def test_retry_after_is_honoured(world, httpserver, retry_after):
    value = "3600" if retry_after == "seconds" else format_datetime(timezone.now() + timedelta(hours=1), usegmt=True)
    httpserver.expect_request("/hook").respond_with_response(
        Response("busy", 429, headers={"Retry-After": value}))
    make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    before = timezone.now()
    webhooks.deliver_due()
    wait = (deliveries()[0].next_attempt_at - before).total_seconds()
    assert 3590 <= wait <= 3610  # not the 30 s of the backoff


def test_backoff_schedule_ends_at_72_hours():
    start = timezone.now()
    times = webhooks.schedule(start)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
    assert gaps[:4] == [30, 60, 120, 240]
    assert all(g2 >= g1 for g1, g2 in zip(gaps, gaps[1:-1]))  # growing (the last one is cut at the deadline)
    assert max(gaps) <= 12 * 3600
    assert times[-1] == start + timedelta(hours=72)
    assert 15 <= len(times) <= 25
    assert webhooks.next_attempt(start, 99, start + timedelta(hours=72)) is None


def test_an_event_failing_for_72_hours_fails_and_disables_the_endpoint_with_a_notice(world, httpserver):
    httpserver.expect_request("/hook").respond_with_response(Response("oops", 500))
    endpoint = make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    # The delivery was created 72 hours ago and is due for its last attempt.
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=72, seconds=1))
    webhooks.deliver_due()
    delivery = deliveries()[0]
    assert delivery.status == "failed" and delivery.response_status == 500
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.disabled_at is not None
    assert "72 hours" in endpoint.disabled_reason and "HTTP 500" in endpoint.disabled_reason
    notice = Notification.objects.get(recipient=world.admin)
    assert "disabled" in notice.title and notice.url == f"/settings/webhooks/{endpoint.pk}/"
    assert not Notification.objects.exclude(recipient=world.admin).exists()  # org admins only


def test_consecutive_failures_disable_the_endpoint(world, httpserver, settings):
    settings.KITH_WEBHOOK_DISABLE_AFTER_FAILURES = 3
    httpserver.expect_request("/hook").respond_with_response(Response("gone", 410))
    endpoint = make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    for i in range(5):
        make_contact(world, email=f"p{i}@example.com")
    webhooks.deliver_due()
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "3 deliveries in a row failed" in endpoint.disabled_reason
    assert len(httpserver.log) == 3  # the rest waits for the endpoint to be enabled again
    assert WebhookDelivery.objects.filter(status="pending").count() == 2
    assert Notification.objects.filter(recipient=world.admin, title__contains="disabled").count() == 1
    # New events are not queued for a disabled endpoint; enabling it resumes the waiting ones.
    make_contact(world, email="later@example.com")
    assert WebhookDelivery.objects.count() == 5
    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_response(Response("ok", 200))
    # One of the two waited more than 72 hours: given up when the endpoint comes back.
    expired = WebhookDelivery.objects.filter(status="pending").order_by("id").first()
    WebhookDelivery.objects.filter(pk=expired.pk).update(created_at=timezone.now() - timedelta(hours=73))
    webhooks.update_endpoint(endpoint, data={"is_active": True})
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.disabled_reason == ""
    webhooks.deliver_due()
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 1
    expired.refresh_from_db()
    assert expired.status == "failed" and "Expired" in expired.error and expired.attempts == 0
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_a_failing_endpoint_is_called_once_per_run(world, httpserver):
    httpserver.expect_request("/hook").respond_with_response(Response("down", 503))
    make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    for i in range(10):
        make_contact(world, email=f"p{i}@example.com")
    assert webhooks.deliver_due() == 1
    assert len(httpserver.log) == 1
    assert WebhookDelivery.objects.filter(attempts=0, next_attempt_at__gt=timezone.now()).count() == 9


def test_redeliver_and_test_event(world, httpserver):
    handler = Sequence(Response("ok", 200))
    httpserver.expect_request("/hook").respond_with_handler(handler)
    endpoint = make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    webhooks.deliver_due()
    again = webhooks.redeliver(deliveries()[0])
    assert again.manual and again.status == "pending"
    test = webhooks.send_test_event(endpoint)
    webhooks.deliver_due()
    assert [json.loads(body)["type"] for _, body in handler.requests] == [
        "contact.created", "contact.created", "webhook.test"]
    assert handler.requests[0][0]["Kith-Webhook-Id"] == handler.requests[1][0]["Kith-Webhook-Id"]
    test.refresh_from_db()
    assert test.status == "succeeded"


# SSRF

BLOCKED = ["http://127.0.0.1/hook", "http://[::1]/hook", "http://10.0.0.1/hook",
           "http://169.254.169.254/latest/meta-data/", "http://localhost:8000/hook", "http://192.168.1.20/",
           "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://224.0.0.1/"]


@pytest.mark.parametrize("url", BLOCKED)
def test_private_addresses_are_refused_in_production_mode(world, settings, url):
    settings.KITH_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as caught:
        make_endpoint(world, url)
    assert "url" in caught.value.message_dict
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "file:///etc/passwd", "gopher://127.0.0.1/",
                                 "javascript:alert(1)"])
def test_only_http_and_https(world, url):
    with pytest.raises(ValidationError) as caught:
        make_endpoint(world, url)
    assert "http" in caught.value.message_dict["url"][0]


def test_private_addresses_are_refused_again_at_delivery(world, settings, httpserver):
    httpserver.expect_request("/hook").respond_with_response(Response("ok", 200))
    make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    settings.KITH_WEBHOOK_ALLOW_PRIVATE = False  # e.g. its name now resolves to a private address
    webhooks.deliver_due()
    delivery = deliveries()[0]
    assert delivery.status == "failed" and "private" in delivery.error and delivery.response_status is None
    assert len(httpserver.log) == 0


def test_production_mode_refuses_private_by_default(settings):
    # KITH_WEBHOOK_ALLOW_PRIVATE defaults to "not PRODUCTION".
    del settings.KITH_WEBHOOK_ALLOW_PRIVATE
    settings.PRODUCTION = True
    assert webhooks.allow_private() is False
    settings.PRODUCTION = False
    assert webhooks.allow_private() is True


# Requests never wait for an endpoint

def test_a_slow_endpoint_does_not_slow_the_request(world, httpserver, client, settings,
                                                   django_capture_on_commit_callbacks):
    def slow(request):
        time.sleep(3)
        return Response("late", 200)

    httpserver.expect_request("/hook").respond_with_handler(slow)
    make_endpoint(world, httpserver.url_for("/hook"), types=["contact.updated"])
    contact = make_contact(world)
    client.force_login(world.admin)
    # The test's transaction never commits: forget what the setup queued for its commit.
    connection.run_on_commit.clear()
    with django_capture_on_commit_callbacks() as callbacks:
        started = time.monotonic()
        response = client.patch(f"/api/contacts/{contact.pk}/", {"job_title": "CTO"}, content_type="application/json")
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < 1.5, elapsed
    assert len(httpserver.log) == 0
    # The request only queues the delivery task, after its commit (once however many rows).
    assert [c for c in callbacks if c is webhooks._queue_if_due] == [webhooks._queue_if_due]
    # The worker's side: a read timeout bounds a slow endpoint, and it is retried.
    settings.KITH_WEBHOOK_READ_TIMEOUT = 0.5
    webhooks.deliver_due()
    delivery = deliveries()[0]
    assert delivery.status == "pending" and "Timed out" in delivery.error and delivery.duration_ms < 2000


def documented_verify():
    """The receiver of docs/webhooks.md, run as written."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)
    return namespace["verify"]


def test_the_documented_receiver_accepts_our_requests_and_rejects_old_or_forged_ones(world, httpserver):
    handler = Sequence(Response("ok", 200))
    httpserver.expect_request("/hook").respond_with_handler(handler)
    endpoint = make_endpoint(world, httpserver.url_for("/hook"), types=["contact.created"])
    make_contact(world)
    webhooks.deliver_due()
    headers, body = handler.requests[0]
    verify = documented_verify()
    secret = WebhookEndpoint.objects.get(pk=endpoint.pk).secret
    assert verify(secret, headers, body)
    assert not verify("whsec_other", headers, body)
    assert not verify(secret, headers, body.replace(b"Ann", b"Bob"))
    sent = int(headers["Kith-Webhook-Timestamp"])
    assert verify(secret, headers, body, now=sent + 299)
    assert not verify(secret, headers, body, now=sent + 301)  # older than 5 minutes: a replay
