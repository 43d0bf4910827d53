"""Secrets never reach the logs: with every logger at DEBUG, a failed and a successful sign-in, a
token sign-in and an API call with the token, Twilio sends (accepted and refused, Twilio faked at
its HTTP layer) and webhook deliveries (succeeded and failed, to a real local HTTP server) leave no
SECRET_KEY, password, API token, Twilio auth token or webhook secret in any log record."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings as django_settings
from werkzeug import Response

from contacts.services import create_contact
from crm import webhooks
from crm.models import WebhookEndpoint
from messaging import services as sms
from tests.conftest import PASSWORD
from tests.messaging.conftest import TOKEN as TWILIO_TOKEN
from tests.messaging.conftest import error_json, tess, twilio  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture
def debug_logs(caplog):
    """Every record of every logger at DEBUG and up, as the root logger would get it."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if logger.level > logging.DEBUG:
            caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def logged_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(repr({k: v for k, v in vars(record).items() if k not in {"msg", "args", "exc_info"}}))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


def test_no_secret_in_any_log_record(world, twilio, tess, debug_logs, httpserver, client,  # noqa: F811
                                     django_capture_on_commit_callbacks, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    wrong_password = "Wrong-Password-Only-In-This-Test-42"

    # Sign-in pages: a failure, then a success.
    assert client.post("/login/", {"username": "alice@acme.test", "password": wrong_password}).status_code == 200
    assert client.post("/login/", {"username": "alice@acme.test", "password": PASSWORD}).status_code == 302

    # The API: a failed and a good token sign-in, then a call with the token.
    from rest_framework.test import APIClient

    api = APIClient()
    assert api.post("/api/auth/token/", {"email": "bob@acme.test", "password": wrong_password},
                    format="json").status_code == 400
    response = api.post("/api/auth/token/", {"email": "bob@acme.test", "password": PASSWORD}, format="json")
    api_token = response.json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token}")
    assert api.get("/api/contacts/").status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token}x")
    assert api.get("/api/contacts/").status_code == 401

    # Twilio: an accepted send and a refused one.
    with django_capture_on_commit_callbacks(execute=True):
        sms.send_sms(world.alice, tess, body="Hello there")
    twilio.responses.append((400, error_json(400, 21610, "Attempt to send to unsubscribed recipient")))
    with django_capture_on_commit_callbacks(execute=True):
        sms.send_sms(world.alice, tess, body="Hello again")
    assert len(twilio.requests) == 2
    assert twilio.requests[0]["auth"][1] == TWILIO_TOKEN  # the token was used, so it was at hand

    # Webhooks: one delivery that succeeds, one endpoint that fails.
    httpserver.expect_request("/ok").respond_with_response(Response("ok", 200))
    httpserver.expect_request("/fail").respond_with_response(Response("boom", 500))
    ok = webhooks.create_endpoint(organization_id=world.org.pk, url=httpserver.url_for("/ok"),
                                  event_types=["contact.created"], actor=world.admin)
    failing = webhooks.create_endpoint(organization_id=world.org.pk, url=httpserver.url_for("/fail"),
                                       event_types=["contact.created"], actor=world.admin)
    create_contact(organization=world.org, data={"first_name": "Hook", "last_name": "Test"}, actor=world.admin)
    assert webhooks.deliver_due() == 2
    webhook_secrets = [WebhookEndpoint.objects.get(pk=e.pk).secret for e in (ok, failing)]
    assert all(webhook_secrets)

    text = logged_text(debug_logs)
    assert len(debug_logs.records) > 5  # the logs did capture what happened
    secrets = {"SECRET_KEY": django_settings.SECRET_KEY, "password": PASSWORD, "wrong password": wrong_password,
               "API token": api_token, "Twilio auth token": TWILIO_TOKEN,
               **{f"webhook secret {i}": s for i, s in enumerate(webhook_secrets)}}
    leaked = [name for name, secret in secrets.items() if secret and secret in text]
    assert not leaked, f"in the logs: {leaked}"
