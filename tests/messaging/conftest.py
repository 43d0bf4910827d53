"""Messaging fixtures: an organization with Twilio credentials, signed webhook posts, and a fake
of Twilio's HTTP layer (the SDK's Client and our code above it really run)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from messaging.models import MessagingSettings
from tests.api.conftest import api  # noqa: F401  (the API client fixture)

TOKEN = "0123456789abcdef0123456789abcdef"
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


class FakeTwilioHttp(TwilioHttpClient):
    """Answers Twilio API requests from `FakeTwilioHttp.routes` (url substring -> (status, body))
    and records them in `FakeTwilioHttp.requests`."""

    routes: dict[str, tuple[int, dict]] = {}
    requests: list[dict] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        FakeTwilioHttp.requests.append({"method": method, "url": url, "params": params, "auth": auth})
        for part, (status, payload) in FakeTwilioHttp.routes.items():
            if part in url:
                self.last_response = Response(status, json.dumps(payload))
                return self.last_response
        self.last_response = Response(404, json.dumps({"code": 20404, "message": "Not found", "status": 404}))
        return self.last_response


@pytest.fixture
def fake_twilio(settings):
    settings.KITH_TWILIO_HTTP_CLIENT = "tests.messaging.conftest.FakeTwilioHttp"
    FakeTwilioHttp.routes = {}
    FakeTwilioHttp.requests = []
    yield FakeTwilioHttp
    FakeTwilioHttp.routes = {}
    FakeTwilioHttp.requests = []
