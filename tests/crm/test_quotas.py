"""Limits on the expensive flows (OWASP API4): hourly quotas on imports, exports and SMS sends per
member and per organization (429 + Retry-After, a message naming the quota, nothing started or
stored), upload size (413), page size (400), request body size (no 500) and the API rate per
token (429 + Retry-After). Each limit is set small here through settings."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from activities.models import Activity
from contacts.models import Contact, ContactImport
from crm import quotas
from crm.models import Job
from messaging.models import Message
from tests.api.conftest import api  # noqa: F401  (the API client fixture)
from tests.messaging.conftest import texting_contact

pytestmark = pytest.mark.django_db

CSV = b"First Name,Email\r\nAnn,ann@example.com\r\n"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _clean(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    cache.clear()  # API rate counters live in the shared cache
    yield
    cache.clear()


def stored_files(settings) -> int:
    return sum(len(files) for _, _, files in os.walk(settings.MEDIA_ROOT))


def upload(client, name="people.csv", content=CSV):
    return client.post("/api/imports/", {"file": SimpleUploadedFile(name, content)}, format="multipart")


def retry_after(response) -> int:
    value = int(response["Retry-After"])
    assert 0 < value <= 3600, value
    return value


def snapshot():
    """What a refused request must leave as it was."""
    return (ContactImport.objects.count(), Job.objects.count(), Message.objects.count(), Activity.objects.count())


# -- imports ---------------------------------------------------------------------------------------

def test_import_quota_per_member_on_the_api(world, api, settings):
    settings.KITH_QUOTA_IMPORTS_PER_HOUR = 2
    client = api(world.manager_a)
    assert upload(client).status_code == 201 and upload(client).status_code == 201
    before, files = snapshot(), stored_files(settings)
    response = upload(client)
    assert response.status_code == 429
    assert response.json() == {"detail": "Import limit reached: 2 per hour. Try again in 60 minutes."}
    assert retry_after(response) > 3500
    assert snapshot() == before and stored_files(settings) == files  # nothing started, nothing stored
    # Another member has a quota of their own.
    assert upload(api(world.manager_b)).status_code == 201


def test_the_window_slides_and_retry_after_counts_down_to_the_oldest(world, api, settings):
    settings.KITH_QUOTA_IMPORTS_PER_HOUR = 2
    client = api(world.manager_a)
    first, second = (upload(client).json()["id"] for _ in range(2))
    now = timezone.now()
    ContactImport.objects.filter(pk=first).update(created_at=now - timedelta(minutes=50))
    ContactImport.objects.filter(pk=second).update(created_at=now - timedelta(minutes=20))
    response = upload(client)
    assert response.status_code == 429
    assert 595 <= retry_after(response) <= 600  # the first one leaves the hour in 10 minutes
    assert response.json()["detail"].endswith("Try again in 10 minutes.")
    ContactImport.objects.filter(pk=first).update(created_at=now - timedelta(minutes=61))
    assert upload(client).status_code == 201


def test_import_quota_per_organization(world, api, settings):
    settings.KITH_QUOTA_IMPORTS_PER_HOUR_ORG = 2
    assert upload(api(world.manager_a)).status_code == 201
    assert upload(api(world.manager_b)).status_code == 201
    response = upload(api(world.admin))
    assert response.status_code == 429 and retry_after(response)
    assert response.json()["detail"] == ("Import limit reached for your organization: 2 per hour. "
                                         "Try again in 60 minutes.")
    assert ContactImport.objects.filter(organization=world.org).count() == 2
    assert upload(api(world.charlie)).status_code == 201  # another organization counts its own


def test_import_quota_on_the_page(client, world, settings):
    settings.KITH_QUOTA_IMPORTS_PER_HOUR = 1
    client.force_login(world.manager_a)
    assert client.post("/contacts/imports/new/", {"file": SimpleUploadedFile("a.csv", CSV)}).status_code == 302
    before, files = snapshot(), stored_files(settings)
    response = client.post("/contacts/imports/new/", {"file": SimpleUploadedFile("b.csv", CSV)})
    assert response.status_code == 429 and retry_after(response)
    html = response.content.decode()
    assert "Import limit reached: 1 per hour. Try again in 60 minutes." in html
    assert 'type="file"' in html  # the form again
    assert snapshot() == before and stored_files(settings) == files


def test_a_limit_of_zero_is_no_limit(world, api, settings):
    settings.KITH_QUOTA_IMPORTS_PER_HOUR = 0
    settings.KITH_QUOTA_IMPORTS_PER_HOUR_ORG = 0
    client = api(world.manager_a)
    assert all(upload(client).status_code == 201 for _ in range(3))


# -- exports ---------------------------------------------------------------------------------------

def export(client, **body):
    return client.post("/api/exports/", {"format": "csv", "columns": ["first_name"], "filters": {}, **body}, format="json")


def test_export_quota_on_the_api(world, api, settings):
    settings.KITH_QUOTA_EXPORTS_PER_HOUR = 2
    client = api(world.alice)
    assert export(client).status_code in (201, 202) and export(client).status_code in (201, 202)
    before = snapshot()
    response = export(client)
    assert response.status_code == 429 and retry_after(response)
    assert response.json() == {"detail": "Export limit reached: 2 per hour. Try again in 60 minutes."}
    assert snapshot() == before


def test_export_quota_per_organization(world, api, settings):
    settings.KITH_QUOTA_EXPORTS_PER_HOUR_ORG = 1
    assert export(api(world.alice)).status_code in (201, 202)
    response = export(api(world.bob))
    assert response.status_code == 429 and "for your organization: 1 per hour" in response.json()["detail"]
    assert export(api(world.charlie)).status_code in (201, 202)


def test_bad_input_is_reported_before_the_quota_and_uses_none(world, api, settings):
    settings.KITH_QUOTA_EXPORTS_PER_HOUR = 1
    client = api(world.alice)
    response = export(client, format="pdf")
    assert response.status_code == 400 and "format" in response.json()
    assert export(client).status_code in (201, 202)  # the refused request used nothing


def test_export_quota_on_the_page(client, world, settings):
    settings.KITH_QUOTA_EXPORTS_PER_HOUR = 1
    client.force_login(world.alice)
    data = {"format": "csv", "columns": ["first_name"], "filters": ""}
    assert client.post("/contacts/export/", data).status_code == 302
    before = snapshot()
    response = client.post("/contacts/export/", data)
    assert response.status_code == 429 and retry_after(response)
    html = response.content.decode()
    assert "Export limit reached: 1 per hour. Try again in 60 minutes." in html and 'id="export-form"' in html
    assert snapshot() == before


# -- SMS -------------------------------------------------------------------------------------------

@pytest.fixture
def textable(world, no_quiet_hours):
    return [texting_contact(world, name) for name in ("Ann", "Ben", "Cid")]


def text(client, contact, body="Hi {{first_name}}"):
    return client.post("/api/messages/", {"contact": contact.pk, "body": body}, format="json")


def bulk_text(client, contacts, body="Offer for {{first_name}}"):
    return client.post("/api/contacts/bulk/", {"action": "send_sms", "params": {"body": body},
                                               "ids": [c.pk for c in contacts]}, format="json")


@pytest.fixture
def no_quiet_hours(world):
    from messaging.models import MessagingSettings

    MessagingSettings.objects.update_or_create(organization=world.org, defaults={
        "messages_per_second": 1000, "quiet_hours_start": "00:00", "quiet_hours_end": "00:00"})


def test_sms_quota_on_single_sends(world, api, settings, textable):
    settings.KITH_QUOTA_SMS_PER_HOUR = 2
    client = api(world.alice)
    assert text(client, textable[0]).status_code == 201 and text(client, textable[1]).status_code == 201
    before = snapshot()
    response = text(client, textable[2])
    assert response.status_code == 429 and retry_after(response)
    assert response.json() == {"detail": "SMS limit reached: 2 messages per hour. Try again in 60 minutes."}
    assert snapshot() == before  # no message, no timeline entry


def test_a_bulk_send_counts_its_recipients(world, api, settings, textable):
    settings.KITH_QUOTA_SMS_PER_HOUR = 3
    client = api(world.alice)
    assert text(client, textable[0]).status_code == 201
    before = snapshot()
    response = bulk_text(client, textable)  # 1 + 3 > 3
    assert response.status_code == 429 and retry_after(response)
    assert response.json()["detail"] == ("SMS limit reached: 3 messages per hour (1 used, this would add 3). "
                                         "Try again in 60 minutes.")
    assert snapshot() == before  # no job, no texts
    response = bulk_text(client, textable[:2])  # 1 + 2 = 3: allowed
    assert response.status_code == 200, response.content
    assert Message.objects.count() == 3
    # The bulk send's texts are counted once, as recipients: the quota is used up.
    response = text(client, textable[2])
    assert response.status_code == 429


def test_a_bulk_send_larger_than_the_quota_says_so(world, api, settings, textable):
    settings.KITH_QUOTA_SMS_PER_HOUR = 2
    response = bulk_text(api(world.alice), textable)
    assert response.status_code == 429 and retry_after(response) == 3600
    assert response.json()["detail"] == ("SMS limit: 2 messages per hour (your limit), and this would send 3. "
                                         "Choose fewer contacts.")
    assert not Job.objects.exists() and not Message.objects.exists()


def test_a_bulk_send_by_filter_counts_what_the_filter_matches(world, api, settings, textable):
    settings.KITH_QUOTA_SMS_PER_HOUR = 2
    response = api(world.alice).post("/api/contacts/bulk/", {
        "action": "send_sms", "params": {"body": "Hi"}, "filters": {"q": "Texter"}}, format="json")
    assert response.status_code == 429 and "this would send 3" in response.json()["detail"]
    assert not Job.objects.exists()


def test_sms_quota_per_organization(world, api, settings, textable):
    settings.KITH_QUOTA_SMS_PER_HOUR_ORG = 1
    assert text(api(world.alice), textable[0]).status_code == 201
    bobs = texting_contact(world, "Dan", owner=world.bob)
    response = text(api(world.bob), bobs)
    assert response.status_code == 429 and "for your organization: 1 messages per hour" in response.json()["detail"]


def test_sms_quota_on_the_pages(client, world, settings, textable):
    settings.KITH_QUOTA_SMS_PER_HOUR = 1
    client.force_login(world.alice)
    ann, ben, cid = textable
    assert client.post(f"/messages/contact/{ann.pk}/send/", {"body": "Hi"}).status_code == 302
    before = snapshot()
    for headers in ({}, HTMX):  # the whole page, and the panel swapped in place
        response = client.post(f"/messages/contact/{ben.pk}/send/", {"body": "Hi"}, **headers)
        assert response.status_code == 429 and retry_after(response)
        html = response.content.decode()
        assert "SMS limit reached: 1 messages per hour. Try again in 60 minutes." in html and 'id="sms-form"' in html
    response = client.post("/contacts/bulk/", {"action": "send_sms", "sms_body": "Hi", "ids": [ben.pk, cid.pk]})
    assert response.status_code == 429 and retry_after(response)
    assert "SMS limit" in response.content.decode()
    assert snapshot() == before


def test_reminders_are_counted_but_not_refused(world, settings, textable):
    """Appointment reminders come with the meeting that asks for them: they use the quota (a later
    text is refused) but a meeting is never refused for it."""
    from messaging import services

    settings.KITH_QUOTA_SMS_PER_HOUR = 1
    services.send_sms(world.alice, textable[0], body="Hi")
    meeting = Activity.objects.create(organization=world.org, contact=textable[1], type="meeting_scheduled",
                                      actor=world.alice, subject="Demo",
                                      occurred_at=timezone.now() + timedelta(days=1))
    services.send_sms(world.alice, textable[1], body="See you", reminder_for=meeting,
                      scheduled_for=timezone.now() + timedelta(hours=20))
    with pytest.raises(quotas.QuotaExceeded):
        services.send_sms(world.alice, textable[2], body="Hi")


# -- upload and body size --------------------------------------------------------------------------

def test_an_oversized_import_is_413_on_the_api_and_the_page(client, world, api, settings):
    settings.KITH_IMPORT_MAX_BYTES = 1024
    big = b"First Name,Email\r\n" + b"Ann,ann@example.com\r\n" * 100  # 2.1 kB
    response = upload(api(world.manager_a), content=big)
    assert response.status_code == 413
    assert response.json() == {"file": ["people.csv is 2.1\xa0KB; the limit is 1.0\xa0KB."]}
    client.force_login(world.manager_a)
    response = client.post("/contacts/imports/new/", {"file": SimpleUploadedFile("people.csv", big)})
    assert response.status_code == 413 and "the limit is 1.0\xa0KB" in response.content.decode()
    assert snapshot() == (0, 0, 0, 0) and stored_files(settings) == 0


def test_a_body_over_the_memory_limit_is_not_a_500(client, world, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(world.alice)
    response = client.post("/contacts/new/", {"first_name": "A" * 2000})
    assert response.status_code == 413
    assert "The request is larger than 1000\xa0bytes" in response.content.decode()
    response = api(world.alice).post("/api/contacts/", {"first_name": "A" * 2000}, format="json")
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request is larger than 1000\xa0bytes")
    assert not Contact.objects.exists()


# -- page size -------------------------------------------------------------------------------------

def test_page_size_over_the_maximum_is_400_naming_it(client, world, api):
    response = api(world.alice).get("/api/contacts/", {"page_size": 201})
    assert response.status_code == 400
    assert response.json() == {"page_size": ["Use a whole number from 1 to 200."]}
    assert api(world.alice).get("/api/contacts/", {"page_size": "lots"}).status_code == 400
    assert api(world.alice).get("/api/contacts/", {"page_size": 200}).status_code == 200
    client.force_login(world.alice)
    response = client.get("/companies/", {"per_page": 500})
    assert response.status_code == 400 and "per_page" in response.content.decode()


# -- API rate per token ----------------------------------------------------------------------------

def test_api_rate_is_per_token(world, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "token": "3/hour"}}
    first, second = Token.objects.create(user=world.alice), Token.objects.create(user=world.bob)
    one, two = APIClient(), APIClient()
    one.credentials(HTTP_AUTHORIZATION=f"Token {first.key}")
    two.credentials(HTTP_AUTHORIZATION=f"Token {second.key}")
    assert [one.get("/api/contacts/").status_code for _ in range(3)] == [200, 200, 200]
    before = snapshot()
    response = one.post("/api/contacts/", {"first_name": "Late"}, format="json")
    assert response.status_code == 429 and 3500 < retry_after(response) <= 3600
    assert re.search(r"Expected available in \d+ seconds", response.json()["detail"])
    assert snapshot() == before and not Contact.objects.filter(first_name="Late").exists()
    assert two.get("/api/contacts/").status_code == 200  # another token: its own count
    session = APIClient()
    session.force_login(world.alice)  # the same person signed in through the session: counted apart
    assert session.get("/api/contacts/").status_code == 200


def test_the_token_is_not_put_in_the_cache_key(world):
    from crm.api.throttling import TokenRateThrottle

    token = Token.objects.create(user=world.alice)

    class Request:
        user, auth = world.alice, token

    key = TokenRateThrottle().get_cache_key(Request(), None)
    assert key.startswith("throttle_token_t") and token.key not in key


def test_too_many_fields_is_413_and_other_bad_requests_stay_400(client, world, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    client.force_login(world.alice)
    response = client.post("/contacts/new/", {f"f{i}": "x" for i in range(10)})
    assert response.status_code == 413 and "too many fields" in response.content.decode()
    assert not Contact.objects.exists()
    response = client.get("/contacts/", HTTP_HOST="not-ours.example")
    assert response.status_code == 400 and "error-code\">400" in response.content.decode()
