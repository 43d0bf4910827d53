"""/settings/messaging/ and /api/messaging-settings/: org admins only, the auth token write-only
and encrypted at rest, another organization's settings never shown or changed."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from messaging.config import sms_config
from messaging.models import MessagingSettings
from tests.pages.conftest import body

pytestmark = pytest.mark.django_db

URL = "/settings/messaging/"
API = "/api/messaging-settings/"
SECRET = "s3cr3t-token-0123456789abcdef"
SID = "AC" + "0123456789abcdef" * 2


def form_data(**overrides):
    data = {"backend": "twilio", "twilio_account_sid": SID, "twilio_auth_token": SECRET,
            "twilio_messaging_service_sid": "", "twilio_from_number": "+1 415 555 0100",
            "help_text": "Acme: reply STOP to opt out.", "quiet_hours_start": "21:00", "quiet_hours_end": "08:00",
            "default_timezone": "America/New_York", "messages_per_second": "2", "validity_seconds": "3600"}
    data.update(overrides)
    return data


def raw_token(organization_id):
    with connection.cursor() as cursor:
        cursor.execute("SELECT twilio_auth_token FROM messaging_messagingsettings WHERE organization_id = %s",
                       [organization_id])
        return cursor.fetchone()[0]


# -- page

def test_admin_saves_the_settings_and_the_token_is_never_echoed(client, world):
    client.force_login(world.admin)
    page = body(client.get(URL))
    assert "Messaging" in page and 'href="/settings/messaging/"' in page
    assert f"/webhooks/twilio/{world.org.public_id}/inbound/" in page
    assert f"/webhooks/twilio/{world.org.public_id}/status/" in page
    response = client.post(URL, form_data())
    assert response.status_code == 302 and response["Location"] == URL
    row = MessagingSettings.objects.get(organization=world.org)
    assert (row.backend, row.twilio_account_sid, row.twilio_from_number, row.messages_per_second,
            row.validity_seconds, row.default_timezone) == ("twilio", SID, "+14155550100", 2.0, 3600,
                                                            "America/New_York")
    assert row.twilio_auth_token == SECRET and sms_config(world.org.pk).auth_token == SECRET
    stored = raw_token(world.org.pk)
    assert stored and SECRET not in stored  # encrypted at rest
    page = body(client.get(URL))
    assert SECRET not in page and "An auth token is stored." in page and 'name="clear_auth_token"' in page
    assert 'type="password"' in page


def test_empty_token_keeps_it_and_clear_removes_it(client, world):
    client.force_login(world.admin)
    client.post(URL, form_data())
    assert client.post(URL, form_data(twilio_auth_token="", help_text="New help")).status_code == 302
    row = MessagingSettings.objects.get(organization=world.org)
    assert row.twilio_auth_token == SECRET and row.help_text == "New help"
    response = client.post(URL, form_data(backend="console", twilio_auth_token="", clear_auth_token="on"))
    assert response.status_code == 302
    row.refresh_from_db()
    assert not row.twilio_auth_token and row.backend == "console"
    assert "No auth token stored" in body(client.get(URL))


@pytest.mark.parametrize("overrides, field", [
    ({"twilio_from_number": "555-0100"}, "twilio_from_number"),
    ({"twilio_from_number": "+1 555 0100"}, "twilio_from_number"),
    ({"twilio_account_sid": "XX123"}, "twilio_account_sid"),
    ({"twilio_messaging_service_sid": "MG1"}, "twilio_messaging_service_sid"),
    ({"messages_per_second": "0"}, "messages_per_second"),
    ({"validity_seconds": "999999"}, "validity_seconds"),
    ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
    ({"backend": "carrier-pigeon"}, "backend"),
    ({"quiet_hours_start": "25:00"}, "quiet_hours_start"),
    ({"clear_auth_token": "on"}, "twilio_auth_token"),
])
def test_bad_input_is_400_naming_the_field_and_nothing_changes(client, world, overrides, field):
    client.force_login(world.admin)
    client.post(URL, form_data())
    before = list(MessagingSettings.objects.values())
    response = client.post(URL, form_data(help_text="changed", **overrides))
    assert response.status_code == 400
    page = body(response)
    assert re.search(rf'<div class="field has-error[^"]*">\s*<label for="id_{field}"', page), page
    assert SECRET not in page
    assert list(MessagingSettings.objects.values()) == before


def test_twilio_backend_needs_credentials(client, world, settings):
    settings.TWILIO_AUTH_TOKEN = settings.TWILIO_ACCOUNT_SID = ""
    settings.TWILIO_FROM_NUMBER = settings.TWILIO_MESSAGING_SERVICE_SID = ""
    client.force_login(world.admin)
    response = client.post(URL, form_data(twilio_auth_token="", twilio_from_number=""))
    assert response.status_code == 400
    assert "Twilio needs the auth token." in body(response) and not MessagingSettings.objects.exists()


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_non_admins_get_403(client, world, who):
    client.force_login(getattr(world, who))
    assert client.get(URL).status_code == 403
    assert client.post(URL, form_data()).status_code == 403
    assert not MessagingSettings.objects.exists()
    assert 'href="/settings/messaging/"' not in body(client.get("/"))


def test_anonymous_goes_to_login(client, world):
    assert client.get(URL).status_code == 302


def test_other_organization_is_isolated(client, world):
    MessagingSettings.objects.create(organization=world.other_org, backend="twilio", twilio_account_sid=SID,
                                     twilio_auth_token="globex-token", help_text="Globex help line")
    client.force_login(world.admin)
    page = body(client.get(URL))
    assert "Globex help line" not in page and SID not in page and str(world.other_org.public_id) not in page
    client.post(URL, form_data(help_text="Acme help"))
    other = MessagingSettings.objects.get(organization=world.other_org)
    assert other.help_text == "Globex help line" and other.twilio_auth_token == "globex-token"
    client.force_login(world.charlie)
    page = body(client.get(URL))
    assert "Globex help line" in page and "Acme help" not in page


def test_webhook_urls_use_kith_public_url(client, world, settings):
    settings.KITH_PUBLIC_URL = "https://crm.example.com"
    client.force_login(world.admin)
    page = body(client.get(URL))
    assert f"https://crm.example.com/webhooks/twilio/{world.org.public_id}/inbound/" in page


# -- API

def test_api_admin_reads_and_writes_token_write_only(world, api):
    client = api(world.admin)
    data = client.get(API).json()
    assert data["backend"] == "" and data["twilio_auth_token_set"] is False and "twilio_auth_token" not in data
    assert data["webhook_urls"]["inbound"].endswith(f"/webhooks/twilio/{world.org.public_id}/inbound/")
    response = client.put(API, {"backend": "twilio", "twilio_account_sid": SID, "twilio_auth_token": SECRET,
                                "twilio_from_number": "+14155550100", "messages_per_second": 1.5}, format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["twilio_auth_token_set"] is True and SECRET not in response.content.decode()
    assert data["messages_per_second"] == 1.5 and data["twilio_from_number"] == "+14155550100"
    assert SECRET not in raw_token(world.org.pk)
    # leaving the token out keeps it; clearing removes it
    response = client.put(API, {"help_text": "Text HELP anytime"}, format="json")
    assert response.status_code == 200 and response.json()["twilio_auth_token_set"] is True
    assert sms_config(world.org.pk).auth_token == SECRET
    response = client.patch(API, {"backend": "console", "clear_twilio_auth_token": True}, format="json")
    assert response.status_code == 200 and response.json()["twilio_auth_token_set"] is False


@pytest.mark.parametrize("payload, field", [
    ({"twilio_from_number": "12345"}, "twilio_from_number"),
    ({"validity_seconds": 0}, "validity_seconds"),
    ({"backend": "pigeon"}, "backend"),
    ({"twilio_auth_token_set": True}, "twilio_auth_token_set"),
    ({"organization": 2}, "organization"),
    ({"quiet_hours_start": "noon"}, "quiet_hours_start"),
])
def test_api_bad_input_names_the_field(world, api, payload, field):
    response = api(world.admin).put(API, payload, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert not MessagingSettings.objects.exists()


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a"])
def test_api_non_admins_get_403(world, api, who):
    client = api(getattr(world, who))
    assert client.get(API).status_code == 403
    assert client.put(API, {"help_text": "x"}, format="json").status_code == 403
    assert not MessagingSettings.objects.exists()


def test_api_anonymous_is_refused(world, api):
    assert api().get(API).status_code in (401, 403)


def test_api_other_organization_is_isolated(world, api):
    MessagingSettings.objects.create(organization=world.other_org, help_text="Globex help line")
    data = api(world.admin).get(API).json()
    assert data["help_text"] != "Globex help line"
    api(world.admin).put(API, {"help_text": "Acme"}, format="json")
    assert MessagingSettings.objects.get(organization=world.other_org).help_text == "Globex help line"
    assert api(world.charlie).get(API).json()["help_text"] == "Globex help line"


def test_changes_are_audited_without_the_token(client, world):
    from crm.audit import history_for

    client.force_login(world.admin)
    client.post(URL, form_data())
    client.post(URL, form_data(twilio_auth_token="", help_text="New help"))
    row = MessagingSettings.objects.get(organization=world.org)
    events = list(history_for(row).order_by("pgh_created_at", "pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events[1].pgh_diff["help_text"] == ["Acme: reply STOP to opt out.", "New help"]
    assert all(e.pgh_context["user"] == world.admin.pk for e in events)
    assert all("twilio_auth_token" not in e.pgh_data and SECRET not in str(e.pgh_data) for e in events)
