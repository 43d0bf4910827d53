"""/api/messages/ and /api/sms-templates/."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from activities.services import log_activity
from contacts.models import ConsentStatus
from contacts.services import create_contact, record_consent
from messaging.models import Message, SmsTemplate
from messaging.services import send_sms
from tests.messaging.conftest import texting_contact

pytestmark = pytest.mark.django_db

URL = "/api/messages/"
TEMPLATES = "/api/sms-templates/"


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def messages(world, tess, no_quiet_hours):
    """One message per owner: alice's contact (team A), rita's (team B), the other organization's."""
    ritas = texting_contact(world, "Rina", owner=world.rita, team=world.team_b)
    foreign = create_contact(organization=world.other_org, data={"first_name": "Fay", "mobile": "+14155550123",
                                                                  "owner": world.other_rep})
    record_consent(contact=foreign, channel="sms", status="granted", source="manual")
    return {"alice": send_sms(world.alice, tess, body="To Tess"), "rita": send_sms(world.rita, ritas, body="To Rina"),
            "other": send_sms(world.other_rep, foreign, body="To Fay")}


def test_send(world, api, tess, no_quiet_hours, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(world.alice).post(URL, {"contact": tess.pk, "body": "Hello {{first_name}}"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["body"] == "Hello Tess" and data["status"] == "queued" and data["actor"] == world.alice.pk
    assert data["segments"] == 1 and data["encoding"] == "GSM-7" and data["activity"]
    assert Message.objects.get().status == "sent"


def test_schedule(world, api, tess, no_quiet_hours):
    when = timezone.now() + datetime.timedelta(days=1)
    response = api(world.alice).post(URL, {"contact": tess.pk, "body": "Later", "scheduled_for": when.isoformat()},
                                     format="json")
    assert response.status_code == 201 and response.json()["status"] == "scheduled"
    pk = response.json()["id"]
    response = api(world.alice).post(f"{URL}{pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_reminder(world, api, tess):
    meeting = log_activity(organization_id=world.org.pk, actor=world.alice, data={
        "contact": tess, "type": "meeting_scheduled", "status": "planned", "subject": "Demo",
        "occurred_at": timezone.now() + datetime.timedelta(days=3)})
    response = api(world.alice).post(URL, {"reminder_for": meeting.pk, "remind_before_minutes": 120}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["reminder_for"] == meeting.pk and data["status"] == "scheduled" and "Demo" in data["body"]


@pytest.mark.parametrize("consent,number,payload,field,words", [
    (ConsentStatus.UNKNOWN, "+14155550123", {"body": "Hi"}, "contact", "not agreed"),
    (ConsentStatus.REVOKED, "+14155550123", {"body": "Hi"}, "contact", "opted out"),
    (ConsentStatus.GRANTED, "+442079460958", {"body": "Hi"}, "to", "landline"),
    (ConsentStatus.GRANTED, "+14155550123", {"body": ""}, "body", "Write a message"),
    (ConsentStatus.GRANTED, "+14155550123", {"body": "x" * 1600}, "body", "segments"),
    (ConsentStatus.GRANTED, "+14155550123", {"body": "{{shoe_size}}"}, "body", "{{shoe_size}}"),
    (ConsentStatus.GRANTED, "+14155550123", {"body": "Hi", "colour": "red"}, "colour", ""),
    (ConsentStatus.GRANTED, "+14155550123", {"body": "Hi", "scheduled_for": "soon"}, "scheduled_for", ""),
])
def test_bad_input(world, api, consent, number, payload, field, words):
    contact = texting_contact(world, consent=consent, number=number)
    response = api(world.alice).post(URL, {"contact": contact.pk, **payload}, format="json")
    assert response.status_code == 400 and words in str(response.json()[field])
    assert not Message.objects.exists()


@pytest.mark.parametrize("who,status", [("rita", 400), ("charlie", 400), ("viewer_a", 403)])
def test_send_to_a_contact_that_is_not_yours(world, api, tess, who, status):
    response = api(getattr(world, who)).post(URL, {"contact": tess.pk, "body": "Hi"}, format="json")
    assert response.status_code == status
    if status == 400:
        assert "contact" in response.json()
    assert not Message.objects.exists()


@pytest.mark.parametrize("who,expected", [
    ("admin", {"alice", "rita"}), ("alice", {"alice"}), ("viewer_a", {"alice"}), ("manager_b", {"rita"}),
    ("rita", {"rita"}), ("charlie", {"other"}),
])
def test_list_visibility(world, api, messages, who, expected):
    assert ids(api(getattr(world, who)).get(URL)) == {messages[name].pk for name in expected}


@pytest.mark.parametrize("who,status", [("rita", 404), ("charlie", 404), ("manager_b", 404)])
def test_retrieve_and_cancel_of_another_owner_or_org(world, api, messages, who, status):
    pk = messages["alice"].pk
    assert api(getattr(world, who)).get(f"{URL}{pk}/").status_code == status
    assert api(getattr(world, who)).post(f"{URL}{pk}/cancel/").status_code == status


def test_viewer_cannot_cancel(world, api, messages):
    assert api(world.viewer_a).post(f"{URL}{messages['alice'].pk}/cancel/").status_code == 403


def test_filters(world, api, messages, tess):
    alice = api(world.admin)
    assert ids(alice.get(URL, {"contact": tess.pk})) == {messages["alice"].pk}
    assert ids(alice.get(URL, {"status": "queued", "direction": "outbound"})) == {messages["alice"].pk,
                                                                                 messages["rita"].pk}
    assert ids(alice.get(URL, {"status": "sent"})) == set()
    response = alice.get(URL, {"contact": messages["other"].contact_id})
    assert response.status_code == 400 and "contact" in response.json()
    assert alice.get(URL, {"colour": "red"}).status_code == 400


def test_list_query_count(world, api, tess, no_quiet_hours, django_assert_max_num_queries):
    for i in range(3):
        send_sms(world.alice, tess, body=f"Text {i}")
    client = api(world.alice)
    with django_assert_max_num_queries(8) as captured:
        assert len(ids(client.get(URL))) == 3
    small = len(captured)
    for i in range(20):
        send_sms(world.alice, tess, body=f"More {i}")
    with django_assert_max_num_queries(small):
        assert len(ids(client.get(URL, {"expand": "contact,actor"}))) == 23


def test_preview(world, api, tess):
    template = SmsTemplate.objects.create(organization=world.org, name="Hi", body="Hi {{first_name}} €")
    response = api(world.alice).post(f"{URL}preview/", {"contact": tess.pk, "template": template.pk}, format="json")
    assert response.status_code == 200
    assert response.json() == {"text": "Hi Tess €", "encoding": "GSM-7", "units": 10, "segments": 1, "limit": 160,
                               "label": "1 segment · 10/160 GSM-7"}
    response = api(world.alice).post(f"{URL}preview/", {"contact": tess.pk, "body": "{{nope}}"}, format="json")
    assert response.status_code == 400 and "{{nope}}" in str(response.json()["body"])
    response = api(world.charlie).post(f"{URL}preview/", {"contact": tess.pk, "body": "Hi"}, format="json")
    assert response.status_code == 400 and "contact" in response.json()


# -- templates

def test_template_crud(world, api):
    alice = api(world.alice)
    response = alice.post(TEMPLATES, {"name": "Hello", "body": "Hi {{first_name}}"}, format="json")
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert response.json()["created_by"] == world.alice.pk and response.json()["kind"] == "message"
    response = alice.patch(f"{TEMPLATES}{pk}/", {"body": "Hi {{ surname }}"}, format="json")
    assert response.status_code == 400 and "{{surname}}" in str(response.json()["body"])
    response = alice.post(TEMPLATES, {"name": "HELLO", "body": "x"}, format="json")
    assert response.status_code == 400 and "name" in response.json()
    assert alice.patch(f"{TEMPLATES}{pk}/", {"name": "Howdy"}, format="json").status_code == 200
    assert alice.delete(f"{TEMPLATES}{pk}/").status_code == 204
    assert not SmsTemplate.objects.exists()


def test_template_visibility(world, api):
    template = SmsTemplate.objects.create(organization=world.org, name="Ours", body="Hi")
    assert ids(api(world.viewer_a).get(TEMPLATES)) == {template.pk}
    assert ids(api(world.charlie).get(TEMPLATES)) == set()
    assert api(world.charlie).get(f"{TEMPLATES}{template.pk}/").status_code == 404
    assert api(world.charlie).delete(f"{TEMPLATES}{template.pk}/").status_code == 404
    assert api(world.viewer_a).post(TEMPLATES, {"name": "X", "body": "x"}, format="json").status_code == 403
    assert api(world.viewer_a).patch(f"{TEMPLATES}{template.pk}/", {"name": "Y"}, format="json").status_code == 403
    assert api(world.viewer_a).delete(f"{TEMPLATES}{template.pk}/").status_code == 403
    assert SmsTemplate.objects.get().name == "Ours"
