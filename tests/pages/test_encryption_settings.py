"""Settings → Encryption (page) and /api/settings/encryption/ (API): org admins turn phone
encryption on and off (a conversion job with progress); everyone else is refused; each
organization sees only its own settings. Also: Twilio credentials are ciphertext in SQL and in
their history, and `manage.py reencrypt_fields` rotates the key."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from contacts.models import Contact
from contacts.phones import phone_q
from contacts.services import apply_preset, create_contact
from crm.models import Job, Organization
from messaging.models import MessagingSettings
from tests.conftest import fresh

URL = "/settings/encryption/"
API = "/api/settings/encryption/"
NUMBER = "+14155550123"


def api(user):
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def test_admin_turns_phone_encryption_on_from_the_page(client, world):
    contact = create_contact(organization=world.org, data={"first_name": "Pia", "phone": NUMBER})
    client.force_login(world.admin)
    page = client.get(URL).content.decode()
    assert "Encryption at rest" in page and 'name="encrypt_phone_numbers"' in page and "stored in plain" in page
    assert 'href="/settings/encryption/"' in page  # in the settings navigation
    response = client.post(URL, {"encrypt_phone_numbers": "on"})
    assert response.status_code == 302 and response["Location"] == URL
    assert Organization.objects.get(pk=world.org.pk).encrypt_phone_numbers
    job = Job.objects.get(organization=world.org, kind="contacts.phone_encryption")
    assert job.total == 1 and job.actor == world.admin and job.params == {"encrypt": True}
    from contacts import reseal  # the worker's part, run here

    reseal.run(job.pk)
    assert raw("SELECT phone FROM contacts_contact WHERE id = %s", [contact.pk]) == [("",)]
    page = client.get(URL).content.decode()
    assert "stored <strong>encrypted</strong>" in page and "Done" in page and "1 of 1" in page
    partial = client.get(URL, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="phone-encryption"' in partial and "<html" not in partial


def test_page_lists_sensitive_fields(client, world):
    apply_preset(world.org, "healthcare")
    client.force_login(world.admin)
    page = client.get(URL).content.decode()
    assert "Medical notes" in page and "Insurance provider" in page


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a", "rita"])
def test_only_org_admins_see_the_page(client, world, who):
    client.force_login(getattr(world, who))
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"encrypt_phone_numbers": "on"}).status_code == 403
    assert not Organization.objects.get(pk=world.org.pk).encrypt_phone_numbers


def test_other_organization_admin_changes_only_their_own(client, world):
    client.force_login(world.charlie)
    client.post(URL, {"encrypt_phone_numbers": "on"})
    assert Organization.objects.get(pk=world.other_org.pk).encrypt_phone_numbers
    assert not Organization.objects.get(pk=world.org.pk).encrypt_phone_numbers
    assert "stored in plain" not in client.get(URL).content.decode()


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get(URL).status_code == 302


def test_api_reads_and_changes_the_setting(world):
    apply_preset(world.org, "legal")
    create_contact(organization=world.org, data={"first_name": "Pia", "mobile": NUMBER})
    data = api(world.admin).get(API).json()
    assert data == {"encrypt_phone_numbers": False, "sensitive_custom_fields": ["contact.attorney_notes"],
                    "job": None}
    response = api(world.admin).patch(API, {"encrypt_phone_numbers": True}, format="json")
    assert response.status_code in (200, 202)
    data = response.json()
    assert data["encrypt_phone_numbers"] is True and data["job"]["encrypt"] is True and data["job"]["total"] == 1
    assert api(world.charlie).get(API).json()["encrypt_phone_numbers"] is False  # another organization
    assert api(world.admin).patch(API, {"encrypt_phone_numbers": True}, format="json").status_code == 200


def test_api_bad_input_names_the_field(world):
    response = api(world.admin).patch(API, {"encrypt_phone_numbers": "perhaps"}, format="json")
    assert response.status_code == 400 and "encrypt_phone_numbers" in response.json()
    response = api(world.admin).patch(API, {"sensitive_custom_fields": ["x"]}, format="json")
    assert response.status_code == 400 and "sensitive_custom_fields" in response.json()
    assert not Organization.objects.get(pk=world.org.pk).encrypt_phone_numbers


@pytest.mark.parametrize("who", ["manager_a", "alice", "viewer_a", "other_rep"])
def test_api_is_for_org_admins_only(world, who):
    assert api(getattr(world, who)).get(API).status_code == 403
    assert api(getattr(world, who)).patch(API, {"encrypt_phone_numbers": True}, format="json").status_code == 403
    assert not Organization.objects.filter(encrypt_phone_numbers=True).exists()


def test_twilio_auth_token_is_ciphertext_in_the_table_and_its_history(world):
    token = "0123456789abcdef0123456789abcdef"
    row = MessagingSettings.objects.create(organization=world.org, backend="twilio", twilio_account_sid="AC1",
                                           twilio_auth_token=token)
    row.help_text = "changed"
    row.save()
    stored = raw("SELECT twilio_auth_token FROM messaging_messagingsettings WHERE id = %s", [row.pk])[0][0]
    history = raw("SELECT row_to_json(e)::text FROM messaging_messagingsettingsevent e WHERE pgh_obj_id = %s",
                  [row.pk])
    assert stored.startswith("gAAAAA") and token not in stored
    assert len(history) == 2 and all(token not in text and "twilio_auth_token" not in text for (text,) in history)
    assert MessagingSettings.objects.get(pk=row.pk).twilio_auth_token == token


def test_reencrypt_rotates_to_a_new_key(world, settings):
    apply_preset(world.org, "healthcare")
    Organization.objects.filter(pk=world.org.pk).update(encrypt_phone_numbers=True)
    contact = create_contact(organization=world.org, data={
        "first_name": "Pia", "phone": NUMBER, "industry": "Healthcare",
        "custom_fields": {"date_of_birth": "1980-02-03", "insurance_provider": "Blue Harbor"}})
    before = raw("SELECT custom_fields_sealed, phone_sealed, phone_hash FROM contacts_contact WHERE id = %s",
                 [contact.pk])[0]
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-brand-new-secret-key-" + "x" * 40, [old_key]
    out = io.StringIO()
    call_command("reencrypt_fields", stdout=out)
    assert "contacts: 1 row(s) re-encrypted" in out.getvalue()
    after = raw("SELECT custom_fields_sealed, phone_sealed, phone_hash FROM contacts_contact WHERE id = %s",
                [contact.pk])[0]
    assert after[0] != before[0] and after[1] != before[1]
    assert after[2] != before[2]  # the blind index key is derived from SECRET_KEY when not set
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: the new one opens everything
    loaded = Contact.objects.get(pk=contact.pk)
    assert loaded.custom_fields["insurance_provider"] == "Blue Harbor" and str(loaded.phone) == NUMBER
    assert Contact.objects.filter(pk=contact.pk).filter(phone_q(NUMBER)).exists()
