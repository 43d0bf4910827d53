"""Sign-in lockout (django-axes, crm.lockout): after AXES_FAILURE_LIMIT failed sign-ins for one
email from one address, that pair is refused for the cool-off (429 with Retry-After and a clear
message), on the sign-in page and on POST /api/auth/token/; other addresses and other emails
are not affected, and a success before the limit resets the count."""

from __future__ import annotations

import datetime

import pytest
from axes.models import AccessAttempt
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"


@pytest.fixture(autouse=True)
def _lockout(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = datetime.timedelta(minutes=10)
    # The API throttle has its own test; here only the lockout answers.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                                          "login": "1000/min", "anon": "1000/min"}}


def page_login(client, email, password, ip="10.0.0.1"):
    return client.post("/login/", {"username": email, "password": password}, REMOTE_ADDR=ip)


def test_page_sign_in_locks_after_the_limit(client, world):
    for _ in range(2):
        response = page_login(client, "alice@acme.test", "wrong")
        assert response.status_code == 200
        assert "Please enter a correct email address and password." in response.content.decode()
    locked = page_login(client, "alice@acme.test", "wrong")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "600"
    html = locked.content.decode()
    assert "Too many failed sign-ins for this email address. Sign-in is locked for 10 minutes" in html
    assert 'name="username"' in html and 'value="alice@acme.test"' in html  # the form, filled in

    # The right password does not get in while locked out.
    response = page_login(client, "alice@acme.test", PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session

    # Another address, or another email from this address, signs in.
    assert page_login(client, "alice@acme.test", PASSWORD, ip="10.0.0.2").status_code == 302
    client.logout()
    assert page_login(client, "bob@acme.test", PASSWORD).status_code == 302


def test_cool_off_ends_the_lockout(client, world):
    for _ in range(3):
        page_login(client, "alice@acme.test", "wrong")
    assert page_login(client, "alice@acme.test", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=11))
    assert page_login(client, "alice@acme.test", PASSWORD).status_code == 302


def test_success_before_the_limit_resets_the_count(client, world):
    for _ in range(2):
        page_login(client, "alice@acme.test", "wrong")
    assert page_login(client, "alice@acme.test", PASSWORD).status_code == 302
    client.logout()
    for _ in range(2):
        assert page_login(client, "alice@acme.test", "wrong").status_code == 200


def test_email_case_and_spaces_count_as_one_address(client, world):
    page_login(client, "Alice@ACME.test", "wrong")
    page_login(client, " alice@acme.test ", "wrong")
    assert page_login(client, "ALICE@acme.test", "wrong").status_code == 429


def test_api_token_endpoint_locks_after_the_limit(world):
    api = APIClient(REMOTE_ADDR="10.0.0.9")
    for _ in range(2):
        response = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": "wrong"}, format="json")
        assert response.status_code == 400
    locked = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": "wrong"}, format="json")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "600"
    assert locked.json()["detail"].startswith("Too many failed sign-ins for this email address.")
    refused = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD}, format="json")
    assert refused.status_code == 429 and "token" not in refused.json()
    # Page and API count together: the page refuses this pair too.
    from django.test import Client

    assert page_login(Client(), "alice@acme.test", PASSWORD, ip="10.0.0.9").status_code == 429
    other = APIClient(REMOTE_ADDR="10.0.0.10").post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD},
                                                     format="json")
    assert other.status_code == 200 and other.json()["token"]


def test_admin_sign_in_is_covered(client, world):
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "admin@acme.test", "password": "wrong"},
                               REMOTE_ADDR="10.0.0.3")
    assert response.status_code == 429
