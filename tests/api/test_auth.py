"""POST /api/auth/token/: email + password for a token; the token signs later requests in."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

URL = "/api/auth/token/"


def test_good_credentials_give_a_token_that_authenticates(world):
    client = APIClient()
    response = client.post(URL, {"email": " Alice@ACME.test ", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert client.post(URL, {"email": "alice@acme.test", "password": PASSWORD}).json()["token"] == token

    assert client.get("/api/contacts/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/contacts/").status_code == 200
    created = client.post("/api/contacts/", {"first_name": "Via token"}, format="json")
    assert created.status_code == 201 and created.json()["owner"] == world.alice.pk
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/contacts/").status_code == 401


@pytest.mark.parametrize("body,field", [
    ({"email": "alice@acme.test", "password": "wrong"}, "non_field_errors"),
    ({"email": "nobody@acme.test", "password": PASSWORD}, "non_field_errors"),
    ({"email": "not an email", "password": PASSWORD}, "email"),
    ({"email": "alice@acme.test"}, "password"),
    ({"password": PASSWORD}, "email"),
    ({"email": "alice@acme.test", "password": PASSWORD, "username": "alice"}, "username"),
])
def test_bad_credentials_are_400_with_a_clear_message(world, body, field):
    response = APIClient().post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    if field == "non_field_errors":
        assert response.json()[field] == ["Unable to sign in with this email and password."]


def test_inactive_users_get_no_token(world):
    world.bob.is_active = False
    world.bob.save()
    response = APIClient().post(URL, {"email": "bob@acme.test", "password": PASSWORD}, format="json")
    assert response.status_code == 400


def test_token_requests_are_throttled(world, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "login": "3/min"})
    client = APIClient()
    codes = [client.post(URL, {"email": "alice@acme.test", "password": "wrong"}, format="json").status_code
             for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    assert "detail" in client.post(URL, {"email": "alice@acme.test", "password": PASSWORD}).json()


def test_login_rate_comes_from_the_environment():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]


def test_session_authentication_works_for_the_browser(world, client):
    client.force_login(world.manager_a)
    assert client.get("/api/contacts/").status_code == 200
