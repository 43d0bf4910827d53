"""Two-factor sign-in (crm.twofactor): enrolment from the account page, the code step of the
sign-in page (right, wrong and replayed codes, recovery codes), the organization requirement,
and the API token endpoint's `totp` field."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from django.db import connection
from rest_framework.test import APIClient

from crm import twofactor
from crm.models import Organization
from crm.views_account import ENROL_SECRET
from tests.conftest import PASSWORD, fresh

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/auth/token/"


def enrol(user) -> tuple[str, list[str]]:
    """Two-factor on for user, as the account page does; returns (secret, recovery codes). The code
    used is of the previous time step, so the current code is still good afterwards."""
    secret = twofactor.new_secret()
    totp = pyotp.TOTP(secret)
    codes = twofactor.enable(user, secret, totp.at(time.time() - 30))
    return secret, codes


def test_enrol_from_the_account_page(client, world):
    client.force_login(world.alice)
    page = client.get("/account/two-factor/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'class="segno"' in html  # the QR code, inline
    secret = client.session[ENROL_SECRET]
    assert secret in html
    # Reloading keeps the secret the member scanned.
    assert client.get("/account/two-factor/") and client.session[ENROL_SECRET] == secret

    wrong = client.post("/account/two-factor/", {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"})
    assert wrong.status_code == 400
    assert twofactor.WRONG_CODE in wrong.content.decode()
    assert not fresh(world.alice).has_two_factor

    done = client.post("/account/two-factor/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{10})</code></li>", done.content.decode())
    assert len(codes) == 10
    alice = fresh(world.alice)
    assert alice.has_two_factor and alice.totp_secret == secret
    assert ENROL_SECRET not in client.session
    # Stored encrypted, recovery codes hashed.
    with connection.cursor() as cursor:
        cursor.execute("SELECT totp_secret FROM crm_user WHERE id = %s", [alice.pk])
        stored = cursor.fetchone()[0]
    assert stored and secret not in stored
    assert all(code not in str(alice.totp_recovery_codes) for code in codes)
    assert "Two-factor sign-in is on" in client.get("/account/two-factor/").content.decode()


def sign_in(client, email="alice@acme.test", password=PASSWORD, **extra):
    return client.post("/login/", {"username": email, "password": password, **extra})


def test_sign_in_asks_for_the_code(client, world):
    secret, _ = enrol(world.alice)
    response = sign_in(client, next="/contacts/")
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    assert "_auth_user_id" not in client.session
    assert client.get("/contacts/").status_code == 302  # not signed in yet

    page = client.get("/login/code/")
    assert page.status_code == 200 and "Enter your sign-in code" in page.content.decode()
    wrong = client.post("/login/code/", {"code": "12345"})
    assert wrong.status_code == 400 and twofactor.WRONG_CODE in wrong.content.decode()
    assert "_auth_user_id" not in client.session

    code = pyotp.TOTP(secret).now()
    done = client.post("/login/code/", {"code": code})
    assert done.status_code == 302 and done["Location"] == "/contacts/"
    assert client.session["_auth_user_id"] == str(world.alice.pk)

    # The same code again (a replay) does not sign in.
    client.logout()
    sign_in(client)
    replay = client.post("/login/code/", {"code": code})
    assert replay.status_code == 400
    assert "_auth_user_id" not in client.session


def test_code_step_without_a_password_step_goes_back_to_sign_in(client, world):
    enrol(world.alice)
    response = client.post("/login/code/", {"code": "123456"})
    assert response.status_code == 302 and response["Location"] == "/login/"


def test_too_many_wrong_codes_start_over(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 100
    enrol(world.alice)
    sign_in(client)
    for _ in range(4):
        assert client.post("/login/code/", {"code": "abc"}).status_code == 400
    response = client.post("/login/code/", {"code": "abc"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/login/code/")["Location"] == "/login/"


def test_wrong_codes_count_towards_the_lockout(client, world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    secret, _ = enrol(world.alice)
    sign_in(client)
    client.post("/login/code/", {"code": "abc"})
    client.post("/login/code/", {"code": "abc"})
    locked = client.post("/login/code/", {"code": "abc"})
    assert locked.status_code == 429
    assert sign_in(client).status_code == 429


def test_recovery_code_signs_in_once(client, world):
    _, codes = enrol(world.alice)
    sign_in(client)
    assert client.post("/login/code/", {"code": codes[0].upper()}).status_code == 302
    client.logout()
    sign_in(client)
    assert client.post("/login/code/", {"code": codes[0]}).status_code == 400
    assert len(fresh(world.alice).totp_recovery_codes) == 9


def test_turning_it_off_takes_a_code(client, world):
    secret, _ = enrol(world.alice)
    client.force_login(world.alice)
    assert client.post("/account/two-factor/", {"code": "000000"}).status_code in (400, 302)
    assert client.post("/account/two-factor/", {"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert not fresh(world.alice).has_two_factor


def test_organization_can_require_two_factor(client, world):
    client.force_login(world.alice)
    assert client.get("/settings/security/").status_code == 403  # admins only
    client.force_login(world.admin)
    assert client.get("/settings/security/").status_code == 200
    response = client.post("/settings/security/", {"require_two_factor": "on"})
    assert response.status_code == 302
    assert Organization.objects.get(pk=world.org.pk).require_two_factor
    assert not Organization.objects.get(pk=world.other_org.pk).require_two_factor
    client.logout()

    # A member without two-factor signs in and is sent to enrolment; nothing else opens.
    assert sign_in(client).status_code == 302
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == "/account/two-factor/?required=1"
    assert client.get("/contacts/")["Location"] == "/account/two-factor/?required=1"
    api = client.get("/api/contacts/")
    assert api.status_code == 403 and "requires two-factor" in api.json()["detail"]
    page = client.get("/account/two-factor/?required=1")
    assert "Your organization requires two-factor sign-in" in page.content.decode()
    # ... and no API token either.
    refused = APIClient().post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD}, format="json")
    assert refused.status_code == 403 and "requires two-factor" in refused.json()["detail"]

    # Once enrolled, Kith opens; turning it off is refused while required.
    secret = client.session[ENROL_SECRET]
    assert client.post("/account/two-factor/", {"code": pyotp.TOTP(secret).now()}).status_code == 200
    assert client.get("/contacts/").status_code == 200
    assert "it stays on" in client.get("/account/two-factor/").content.decode()
    with pytest.raises(Exception, match="requires two-factor"):
        twofactor.disable(fresh(world.alice), pyotp.TOTP(secret).now())

    # The other organization is not affected.
    other = type(client)()
    assert sign_in(other, "charlie@globex.test").status_code == 302
    assert other.get("/").status_code == 200


def test_api_token_endpoint_with_two_factor(world):
    secret, codes = enrol(world.alice)
    api = APIClient()
    missing = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD}, format="json")
    assert missing.status_code == 400
    assert "two-factor" in missing.json()["totp"][0]
    wrong = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD, "totp": "000000"
                                 if pyotp.TOTP(secret).now() != "000000" else "111111"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["totp"] == [twofactor.WRONG_CODE]
    code = pyotp.TOTP(secret).now()
    ok = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD, "totp": code}, format="json")
    assert ok.status_code == 200 and ok.json()["token"]
    replay = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD, "totp": code}, format="json")
    assert replay.status_code == 400
    bad_password = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": "nope", "totp": code}, format="json")
    assert bad_password.status_code == 400 and "non_field_errors" in bad_password.json()
    recovered = api.post(TOKEN_URL, {"email": "alice@acme.test", "password": PASSWORD, "totp": codes[1]},
                         format="json")
    assert recovered.status_code == 200
    # Users without two-factor need no code.
    assert api.post(TOKEN_URL, {"email": "bob@acme.test", "password": PASSWORD}, format="json").status_code == 200
