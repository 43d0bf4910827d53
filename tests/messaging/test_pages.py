"""Pages: the contact page's SMS panel (send, schedule, preview, cancel) and the SMS templates."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from contacts.models import ConsentStatus
from messaging.models import Message, SmsTemplate
from tests.messaging.conftest import LANDLINE, texting_contact

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def login(client, user):
    client.force_login(user)
    return client


def test_panel_on_the_contact_page(client, world, tess, no_quiet_hours):
    SmsTemplate.objects.create(organization=world.org, name="Hello", body="Hi {{first_name}}!")
    html = login(client, world.alice).get(f"/contacts/{tess.pk}/").content.decode()
    assert 'id="sms-panel"' in html and 'data-sms-counter="sms-counter-' in html
    assert 'data-body="Hi Tess!"' in html and "sms-disabled" not in html


@pytest.mark.parametrize("consent,number,reason", [
    (ConsentStatus.UNKNOWN, "+14155550123", "has not agreed to receive text messages"),
    (ConsentStatus.REVOKED, "+14155550123", "has opted out"),
    (ConsentStatus.GRANTED, "", "has no mobile number"),
])
def test_panel_is_disabled_with_the_reason(client, world, consent, number, reason):
    contact = texting_contact(world, consent=consent, number=number)
    html = login(client, world.alice).get(f"/contacts/{contact.pk}/").content.decode()
    assert 'id="sms-disabled"' in html and reason in html and "<fieldset disabled" in html


def test_panel_for_a_viewer_is_read_only(client, world, tess):
    html = login(client, world.viewer_a).get(f"/contacts/{tess.pk}/").content.decode()
    assert "not text them" in html and "<fieldset disabled" in html


def test_send_from_the_page(client, world, tess, no_quiet_hours, django_capture_on_commit_callbacks):
    login(client, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/messages/contact/{tess.pk}/send/", {"body": "See you soon, {{first_name}}"}, **HTMX)
    assert response.status_code == 200 and response["HX-Redirect"] == f"/contacts/{tess.pk}/"
    message = Message.objects.get()
    assert message.status == "sent" and message.body == "See you soon, Tess" and message.actor == world.alice
    html = client.get(f"/contacts/{tess.pk}/").content.decode()
    assert "See you soon, Tess" in html and "Text sent to Tess Texter" in html


def test_send_without_htmx_redirects(client, world, tess, no_quiet_hours):
    response = login(client, world.alice).post(f"/messages/contact/{tess.pk}/send/", {"body": "Hi"})
    assert response.status_code == 302 and response["Location"] == f"/contacts/{tess.pk}/"


def test_schedule_from_the_page_in_the_contacts_time_zone(client, world, tess, no_quiet_hours):
    tess.timezone = "Asia/Tokyo"
    tess.save(update_fields=["timezone"])
    day = (timezone.now() + datetime.timedelta(days=2)).date()
    login(client, world.alice).post(f"/messages/contact/{tess.pk}/send/",
                                    {"body": "Later", "scheduled_for": f"{day}T09:30"}, **HTMX)
    message = Message.objects.get()
    assert message.status == "scheduled"
    assert message.scheduled_for.astimezone(datetime.timezone(datetime.timedelta(hours=9))).strftime(
        "%Y-%m-%d %H:%M") == f"{day} 09:30"
    html = client.get(f"/contacts/{tess.pk}/").content.decode()
    assert "Scheduled the text" in html
    response = client.post(f"/messages/{message.pk}/cancel/")
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == "cancelled"


@pytest.mark.parametrize("data,error", [
    ({"body": ""}, "Write a message."),
    ({"body": "Hi {{nick}}"}, "Unknown merge field {{nick}}"),
    ({"body": "x" * 1531}, "11 segments"),
    ({"body": "Hi", "scheduled_for": "yesterday"}, "Enter a valid date/time."),
])
def test_bad_input_is_shown_and_nothing_stored(client, world, tess, data, error):
    response = login(client, world.alice).post(f"/messages/contact/{tess.pk}/send/", data, **HTMX)
    assert response.status_code == 200 and error in response.content.decode()
    assert not Message.objects.exists()
    response = client.post(f"/messages/contact/{tess.pk}/send/", data)
    assert response.status_code == 400 and error in response.content.decode()


def test_landline_is_refused_on_the_page(client, world):
    contact = texting_contact(world, number=LANDLINE)
    response = login(client, world.alice).post(f"/messages/contact/{contact.pk}/send/", {"body": "Hi"}, **HTMX)
    assert "landline" in response.content.decode() and not Message.objects.exists()


def test_preview(client, world, tess):
    template = SmsTemplate.objects.create(organization=world.org, name="Hello", body="Hi {{first_name}} 👋")
    login(client, world.alice)
    html = client.post(f"/messages/contact/{tess.pk}/preview/", {"template": template.pk}).content.decode()
    assert "Hi Tess 👋" in html and "1 segment · 10/70 UCS-2" in html
    html = client.post(f"/messages/contact/{tess.pk}/preview/", {"body": "{{ company }} {{bogus}}"}).content.decode()
    assert "Unknown merge field {{bogus}}" in html
    assert not Message.objects.exists()


@pytest.mark.parametrize("who,status", [("rita", 404), ("manager_b", 404), ("charlie", 404), ("other_rep", 404),
                                        ("viewer_a", 403)])
def test_send_and_preview_visibility(client, world, tess, who, status):
    login(client, getattr(world, who))
    assert client.post(f"/messages/contact/{tess.pk}/send/", {"body": "Hi"}).status_code == status
    assert client.post(f"/messages/contact/{tess.pk}/preview/", {"body": "Hi"}).status_code == status
    assert not Message.objects.exists()


@pytest.mark.parametrize("who,status", [("rita", 404), ("charlie", 404), ("viewer_a", 403)])
def test_cancel_visibility(client, world, tess, who, status, no_quiet_hours):
    from messaging.services import send_sms

    message = send_sms(world.alice, tess, body="Later", scheduled_for=timezone.now() + datetime.timedelta(days=1))
    assert login(client, getattr(world, who)).post(f"/messages/{message.pk}/cancel/").status_code == status
    message.refresh_from_db()
    assert message.status == "scheduled"


# -- templates

def test_template_pages(client, world):
    login(client, world.alice)
    assert client.get("/messages/templates/").status_code == 200
    response = client.post("/messages/templates/new/", {"name": "Follow-up", "kind": "message",
                                                         "body": "Thanks {{first_name}}!"})
    assert response.status_code == 302
    template = SmsTemplate.objects.get()
    assert template.created_by == world.alice and template.organization == world.org
    assert "Follow-up" in client.get("/messages/templates/").content.decode()
    response = client.post(f"/messages/templates/{template.pk}/", {"name": "Follow-up", "kind": "message",
                                                                    "body": "Thanks {{ nickname }}"})
    assert response.status_code == 400 and "Unknown merge field {{nickname}}" in response.content.decode()
    response = client.post("/messages/templates/new/", {"name": "follow-UP", "kind": "message", "body": "x"})
    assert response.status_code == 400 and "already exists" in response.content.decode()
    assert client.post(f"/messages/templates/{template.pk}/delete/").status_code == 302
    assert not SmsTemplate.objects.exists()


def test_template_page_visibility(client, world):
    template = SmsTemplate.objects.create(organization=world.org, name="Ours", body="Hi")
    login(client, world.charlie)
    assert "Ours" not in client.get("/messages/templates/").content.decode()
    assert client.get(f"/messages/templates/{template.pk}/").status_code == 404
    assert client.post(f"/messages/templates/{template.pk}/delete/").status_code == 404
    login(client, world.viewer_a)
    html = client.get("/messages/templates/").content.decode()
    assert "Ours" in html and "New template" not in html
    assert client.get("/messages/templates/new/").status_code == 403
    assert client.get(f"/messages/templates/{template.pk}/").status_code == 403
    assert client.post(f"/messages/templates/{template.pk}/delete/").status_code == 403
    assert SmsTemplate.objects.count() == 1
