"""send_sms: consent, number, body and template checks; quiet hours; the timeline entry; the
console and Twilio backends (Twilio faked at its HTTP layer); retries; the beat task."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from activities.models import Activity
from contacts.models import ConsentStatus, Contact
from contacts.services import record_consent
from messaging import services
from messaging.models import Message, MessagingSettings, SmsTemplate
from messaging.tasks import send_due_messages, send_message
from tests.messaging.conftest import LANDLINE, MOBILE, SID, TOKEN, error_json, message_json, texting_contact

pytestmark = pytest.mark.django_db


def nothing_stored():
    return not Message.objects.exists() and not Activity.objects.filter(type="sms_sent").exists()


# ---------------------------------------------------------------------------
# Refusals: nothing stored, nothing sent


@pytest.mark.parametrize("consent,words", [(ConsentStatus.UNKNOWN, "has not agreed"),
                                           (ConsentStatus.REVOKED, "opted out")])
def test_no_consent_is_refused(world, twilio, consent, words, django_capture_on_commit_callbacks):
    contact = texting_contact(world, consent=consent)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as exc:
        services.send_sms(world.alice, contact, body="Hello")
    assert words in exc.value.message_dict["contact"][0]
    assert nothing_stored() and twilio.requests == []


def test_revoked_after_granted_is_refused(world, twilio, tess):
    record_consent(contact=tess, channel="sms", status=ConsentStatus.REVOKED, source="sms_keyword")
    with pytest.raises(ValidationError, match="opted out"):
        services.send_sms(world.alice, Contact.objects.get(pk=tess.pk), body="Hello")
    assert nothing_stored()


def test_landline_is_refused(world, twilio):
    contact = texting_contact(world, number="")
    Contact.objects.filter(pk=contact.pk).update(phone=LANDLINE)
    contact.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        services.send_sms(world.alice, contact, body="Hello")
    assert "landline" in exc.value.message_dict["to"][0]
    assert nothing_stored()


def test_no_number_is_refused(world, twilio):
    contact = texting_contact(world, number="")
    with pytest.raises(ValidationError, match="no mobile number"):
        services.send_sms(world.alice, contact, body="Hello")
    assert nothing_stored()


@pytest.mark.parametrize("body,words", [("", "Write a message"), ("   \n", "Write a message"),
                                        ("a" * 1531, "11 segments")])
def test_empty_or_too_long_body_is_refused(world, twilio, tess, body, words):
    with pytest.raises(ValidationError) as exc:
        services.send_sms(world.alice, tess, body=body)
    assert words in exc.value.message_dict["body"][0]
    assert nothing_stored()


def test_unknown_template_field_is_named(world, twilio, tess):
    template = SmsTemplate.objects.create(organization=world.org, name="Bad", body="Hi {{first_name}} {{ nickname }}")
    with pytest.raises(ValidationError) as exc:
        services.send_sms(world.alice, tess, template=template)
    assert "{{nickname}}" in exc.value.message_dict["body"][0]
    assert nothing_stored()


@pytest.mark.parametrize("who", ["rita", "viewer_a", "charlie", "manager_b"])
def test_only_writers_of_the_contact_may_text(world, twilio, tess, who):
    with pytest.raises(PermissionDenied):
        services.send_sms(getattr(world, who), tess, body="Hello")
    assert nothing_stored()


# ---------------------------------------------------------------------------
# Sending


def test_console_send_stores_prints_and_logs_on_the_timeline(world, tess, no_quiet_hours, capsys,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_sms(world.alice, tess, body="Hi {{first_name}}, see you at {{company}}!")
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_sid.startswith("console-")
    assert message.body == "Hi Tess, see you at !" and message.to_number == MOBILE
    assert (message.encoding, message.segments, message.attempts) == ("GSM-7", 1, 1)
    assert "Hi Tess" in capsys.readouterr().out
    activity = message.activity
    assert (activity.type, activity.direction, activity.status) == ("sms_sent", "outbound", "done")
    assert activity.contact_id == tess.pk and activity.actor_id == world.alice.pk
    assert Contact.objects.get(pk=tess.pk).last_contacted_at == activity.occurred_at == message.sent_at


def test_merge_fields(world, tess, no_quiet_hours):
    template = SmsTemplate.objects.create(
        organization=world.org, name="Intro", body="{{full_name}} / {{last_name}} / {{owner_name}}")
    message = services.send_sms(world.alice, tess, template=template)
    assert message.body == "Tess Texter / Texter / Alice Rep" and message.template == template


def test_twilio_request(world, twilio, tess, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_sms(world.alice, tess, body="Hello there")
    assert len(twilio.requests) == 1
    request = twilio.requests[0]
    assert request["method"] == "POST"
    assert request["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    assert request["auth"] == (SID, TOKEN)
    assert request["data"] == {
        "To": MOBILE, "Body": "Hello there", "MessagingServiceSid": "MG" + "b" * 32,
        "StatusCallback": f"https://crm.example.com/webhooks/twilio/{world.org.public_id}/status/",
        "ValidityPeriod": 3600}
    message.refresh_from_db()
    assert (message.status, message.provider_sid, message.backend) == ("queued", "SM" + "1" * 32, "twilio")
    assert message.activity.status == "done"


def test_twilio_from_number_and_no_public_url(world, twilio, tess, settings, django_capture_on_commit_callbacks):
    settings.KITH_PUBLIC_URL = ""
    MessagingSettings.objects.filter(organization=world.org).update(
        twilio_messaging_service_sid="", twilio_from_number="+15005550006")
    with django_capture_on_commit_callbacks(execute=True):
        services.send_sms(world.alice, tess, body="Hello")
    data = twilio.requests[0]["data"]
    assert data["From"] == "+15005550006" and "MessagingServiceSid" not in data and "StatusCallback" not in data


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retryable_errors_are_retried(world, twilio, tess, status, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(services, "enqueue", lambda pk, countdown=None: queued.append((pk, countdown)))
    twilio.responses = [(status, error_json(status, 20429, "Too Many Requests")),
                        (status, error_json(status, 20429, "Too Many Requests")),
                        (201, message_json(sid="SM" + "2" * 32))]
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_sms(world.alice, tess, body="Hello")
    # the inline try failed: the message stays queued and goes to the task with a backoff
    message.refresh_from_db()
    assert message.status == "queued" and message.attempts == 1 and queued == [(message.pk, 30)]
    result = send_message.apply(args=[message.pk])
    assert result.get() == "queued"
    message.refresh_from_db()
    assert (message.status, message.provider_sid, message.attempts) == ("queued", "SM" + "2" * 32, 3)
    assert len(twilio.requests) == 3
    # a replayed task sends nothing again
    send_message.apply(args=[message.pk])
    assert len(twilio.requests) == 3


def test_retries_run_out(world, twilio, tess, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda pk, countdown=None: None)
    twilio.responses = [(503, error_json(503, 20503, "Service unavailable"))] * 20
    message = services.send_sms(world.alice, tess, body="Hello")
    send_message.apply(args=[message.pk])
    message.refresh_from_db()
    assert message.status == "failed" and message.error_code == "20503"
    assert message.attempts == send_message.max_retries + 1 and message.activity.status == "failed"


def test_final_error_is_not_retried(world, twilio, tess, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(services, "enqueue", lambda pk, countdown=None: queued.append(pk))
    twilio.responses = [(400, error_json(400, 21211, "The 'To' number is not a valid phone number."))]
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_sms(world.alice, tess, body="Hello")
    message.refresh_from_db()
    assert message.status == "failed" and queued == [] and len(twilio.requests) == 1
    assert message.error_code == "21211" and "not a valid phone number" in message.error_message
    assert message.activity.status == "failed"
    assert Contact.objects.get(pk=tess.pk).last_contacted_at is None
    send_message.apply(args=[message.pk])
    assert len(twilio.requests) == 1


def test_consent_revoked_while_queued_cancels(world, twilio, tess, monkeypatch):
    monkeypatch.setattr(services, "enqueue", lambda pk, countdown=None: None)
    message = services.send_sms(world.alice, tess, body="Hello")  # on_commit not run: still queued
    record_consent(contact=tess, channel="sms", status=ConsentStatus.REVOKED, source="sms_keyword")
    send_message.apply(args=[message.pk])
    message.refresh_from_db()
    assert message.status == "cancelled" and twilio.requests == []


def test_auth_token_is_encrypted_at_rest(world, twilio):
    with connection.cursor() as cursor:
        cursor.execute("SELECT twilio_auth_token FROM messaging_messagingsettings WHERE organization_id = %s",
                       [world.org.pk])
        raw = cursor.fetchone()[0]
    assert raw and TOKEN not in raw
    assert MessagingSettings.objects.get(organization=world.org).twilio_auth_token == TOKEN


# ---------------------------------------------------------------------------
# Quiet hours and scheduled messages


def test_quiet_hours_schedule_for_their_end(world, tess, monkeypatch):
    monkeypatch.setattr(services.timezone, "now",
                        lambda: datetime.datetime(2026, 3, 10, 23, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York")))
    Contact.objects.filter(pk=tess.pk).update(timezone="America/New_York")
    tess.refresh_from_db()
    message = services.send_sms(world.alice, tess, body="Late thought")
    assert message.status == "scheduled"
    assert message.scheduled_for == datetime.datetime(2026, 3, 11, 8, 0, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    assert message.activity.status == "planned" and message.activity.occurred_at == message.scheduled_for


def test_quiet_hours_use_the_organizations_time_zone_by_default(world, tess):
    MessagingSettings.objects.create(organization=world.org, default_timezone="Europe/Berlin")
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    wanted = datetime.datetime.now(berlin).replace(hour=6, minute=30, second=0, microsecond=0) + datetime.timedelta(days=2)
    message = services.send_sms(world.alice, tess, body="Morning", scheduled_for=wanted)
    assert message.scheduled_for == wanted.replace(hour=8, minute=0)
    assert services.quiet_hours_end(wanted.replace(hour=12), berlin, datetime.time(21), datetime.time(8)) is None
    assert services.quiet_hours_end(wanted.replace(hour=21), berlin, datetime.time(21), datetime.time(8)) == (
        (wanted + datetime.timedelta(days=1)).replace(hour=8, minute=0))


def test_scheduled_in_the_past_is_refused(world, tess):
    with pytest.raises(ValidationError, match="future"):
        services.send_sms(world.alice, tess, body="Hi", scheduled_for=timezone.now() - datetime.timedelta(hours=1))
    assert nothing_stored()


def test_beat_task_sends_due_messages(world, tess, no_quiet_hours, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(services, "enqueue", lambda pk, countdown=None: queued.append(pk))
    soon = timezone.now() + datetime.timedelta(hours=1)
    due = services.send_sms(world.alice, tess, body="Due", scheduled_for=soon)
    later = services.send_sms(world.alice, tess, body="Later", scheduled_for=soon + datetime.timedelta(days=1))
    Message.objects.filter(pk=due.pk).update(scheduled_for=timezone.now() - datetime.timedelta(seconds=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert send_due_messages.apply().get() == 1
    assert queued == [due.pk]
    send_message.apply(args=[due.pk])
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == "sent" and due.activity.status == "done" and later.status == "scheduled"
    with django_capture_on_commit_callbacks(execute=True):
        assert send_due_messages.apply().get() == 0
