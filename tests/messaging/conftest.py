"""Messaging fixtures: contacts that may be texted, organizations with Twilio credentials, signed
webhook posts, and Twilio faked at its HTTP layer only (the SDK's Client and our code above it run)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from contacts.models import ConsentStatus
from contacts.services import create_contact, record_consent
from messaging.models import MessagingSettings
from tests.api.conftest import api  # noqa: F401  (the API client fixture, as in tests/api)

MOBILE = "+14155550123"      # US: fixed line or mobile
LANDLINE = "+442079460958"   # UK: fixed line
SID = "AC" + "a" * 32
TOKEN = "secret-auth-token-0123456789"


class FakeTwilioHttp(TwilioHttpClient):
    """Answers Twilio REST calls from a queue of (status, json) and records every request."""

    requests: list[dict] = []
    responses: list[tuple[int, dict]] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        FakeTwilioHttp.requests.append({"method": method, "url": url, "data": dict(data or {}), "auth": auth})
        status, body = FakeTwilioHttp.responses.pop(0) if FakeTwilioHttp.responses else (201, message_json())
        return Response(status, json.dumps(body))


def message_json(sid="SM" + "1" * 32, status="queued", to=MOBILE, body="Hi"):
    return {"sid": sid, "status": status, "to": to, "from": "+15005550006", "body": body,
            "account_sid": SID, "num_segments": "1", "error_code": None, "error_message": None}


def error_json(status, code, message):
    return {"status": status, "code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}


@pytest.fixture
def twilio(world, settings):
    """The organization sends through Twilio; the SDK talks to FakeTwilioHttp."""
    settings.KITH_TWILIO_HTTP_CLIENT = "tests.messaging.conftest.FakeTwilioHttp"
    settings.KITH_PUBLIC_URL = "https://crm.example.com"
    FakeTwilioHttp.requests = []
    FakeTwilioHttp.responses = []
    MessagingSettings.objects.update_or_create(organization=world.org, defaults={
        "backend": "twilio", "twilio_account_sid": SID, "twilio_auth_token": TOKEN,
        "twilio_messaging_service_sid": "MG" + "b" * 32, "validity_seconds": 3600,
        # retries follow each other at once here; test_ratelimit covers the rate
        "messages_per_second": 1000,
        # no quiet hours in these tests (start == end)
        "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})
    return FakeTwilioHttp


@pytest.fixture
def no_quiet_hours(world):
    MessagingSettings.objects.update_or_create(organization=world.org, defaults={
        "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})


def texting_contact(world, name="Tess", owner=None, number=MOBILE, consent=ConsentStatus.GRANTED, **data):
    owner = owner or world.alice
    contact = create_contact(organization=world.org, data={
        "first_name": name, "last_name": "Texter", "mobile": number, "owner": owner, "team": world.team_a, **data},
        actor=owner)
    if consent != ConsentStatus.UNKNOWN:
        record_consent(contact=contact, channel="sms", status=consent, source="manual", actor=owner)
    return contact


@pytest.fixture
def tess(world):
    return texting_contact(world)


OTHER_TOKEN = "fedcba9876543210fedcba9876543210"
ACCOUNT_SID = "AC" + "1" * 32


@pytest.fixture
def twilio_org(world):
    """world.org on Twilio with its own auth token; the other organization has another one."""
    MessagingSettings.objects.create(organization=world.org, backend="twilio", twilio_account_sid=ACCOUNT_SID,
                                     twilio_auth_token=TOKEN, twilio_from_number="+14155550100",
                                     help_text="Acme Sales: reply STOP to opt out. Help: help@acme.test")
    MessagingSettings.objects.create(organization=world.other_org, backend="twilio",
                                     twilio_account_sid="AC" + "2" * 32, twilio_auth_token=OTHER_TOKEN)
    return world


def sign(url: str, params: dict, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


@pytest.fixture
def post_webhook(client):
    """post_webhook(path, params, signature=<computed>|None|"bad", token=TOKEN, base="http://testserver")."""
    def post(path, params, *, signature="compute", token=TOKEN, base="http://testserver"):
        headers = {}
        if signature == "compute":
            headers["HTTP_X_TWILIO_SIGNATURE"] = sign(base + path, params, token)
        elif signature is not None:
            headers["HTTP_X_TWILIO_SIGNATURE"] = signature
        return client.post(path, urlencode(params), content_type="application/x-www-form-urlencoded", **headers)
    return post


class FakeTwilioRoutes(TwilioHttpClient):
    """Answers Twilio API requests from `FakeTwilioRoutes.routes` (url substring -> (status, body))
    and records them in `FakeTwilioRoutes.requests`."""

    routes: dict[str, tuple[int, dict]] = {}
    requests: list[dict] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        FakeTwilioRoutes.requests.append({"method": method, "url": url, "params": params, "auth": auth})
        for part, (status, payload) in FakeTwilioRoutes.routes.items():
            if part in url:
                self.last_response = Response(status, json.dumps(payload))
                return self.last_response
        self.last_response = Response(404, json.dumps({"code": 20404, "message": "Not found", "status": 404}))
        return self.last_response


@pytest.fixture
def fake_twilio(settings):
    settings.KITH_TWILIO_HTTP_CLIENT = "tests.messaging.conftest.FakeTwilioRoutes"
    FakeTwilioRoutes.routes = {}
    FakeTwilioRoutes.requests = []
    yield FakeTwilioRoutes
    FakeTwilioRoutes.routes = {}
    FakeTwilioRoutes.requests = []
