"""Appointment reminders follow their meeting: re-timed when it moves, cancelled when it is
cancelled or the contact opts out."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from activities.models import Activity
from activities.services import log_activity, update_activity
from contacts.models import ConsentStatus
from contacts.services import record_consent
from messaging import reminders
from messaging.models import Message, SmsTemplate

pytestmark = pytest.mark.django_db

UTC = zoneinfo.ZoneInfo("UTC")


@pytest.fixture
def meeting(world, tess):
    tess.timezone = "UTC"
    tess.save(update_fields=["timezone"])
    when = (timezone.now() + datetime.timedelta(days=3)).astimezone(UTC).replace(hour=15, minute=0, second=0,
                                                                                  microsecond=0)
    return log_activity(organization_id=world.org.pk, actor=world.alice, data={
        "contact": tess, "type": "meeting_scheduled", "status": "planned", "occurred_at": when,
        "subject": "Demo", "metadata": {"place": "Main St 1"}})


@pytest.fixture
def template(world):
    return SmsTemplate.objects.create(organization=world.org, name="Reminder", kind="reminder",
                                      body="Hi {{first_name}}, see you {{meeting_time}} at {{meeting_place}}.")


def test_reminder_is_scheduled_before_the_meeting(world, meeting, template):
    message = reminders.schedule_reminder(world.alice, meeting, template=template)
    assert message.status == "scheduled" and message.reminder_for == meeting
    assert message.scheduled_for == meeting.occurred_at - datetime.timedelta(hours=24)
    local = meeting.occurred_at
    assert message.body == f"Hi Tess, see you {local:%a}, {local:%b} {local.day} at 3:00 PM at Main St 1."
    assert message.activity.subject == "Appointment reminder" and message.activity.status == "planned"


def test_default_text(world, meeting):
    message = reminders.schedule_reminder(world.alice, meeting, before=datetime.timedelta(hours=2))
    assert "Main St 1" in message.body and message.scheduled_for == meeting.occurred_at - datetime.timedelta(hours=2)


def test_reminder_moves_with_the_meeting(world, meeting, template):
    message = reminders.schedule_reminder(world.alice, meeting, template=template)
    moved = meeting.occurred_at + datetime.timedelta(days=1, hours=1)
    update_activity(activity=meeting, data={"occurred_at": moved, "metadata": {"place": "Cafe Blue"}})
    message.refresh_from_db()
    assert message.status == "scheduled" and message.scheduled_for == moved - datetime.timedelta(hours=24)
    assert "4:00 PM at Cafe Blue" in message.body
    assert message.activity.occurred_at == message.scheduled_for and "Cafe Blue" in message.activity.body


def test_reminder_moved_into_quiet_hours_goes_out_when_they_end(world, meeting, template):
    message = reminders.schedule_reminder(world.alice, meeting, template=template)
    update_activity(activity=meeting, data={"occurred_at": meeting.occurred_at.replace(hour=22)})
    message.refresh_from_db()
    assert message.scheduled_for == (meeting.occurred_at - datetime.timedelta(days=1)).replace(hour=22) + (
        datetime.timedelta(hours=10))  # 22:00 the day before is quiet: 08:00 the meeting's day


def test_reminder_cancelled_with_the_meeting(world, meeting, template):
    message = reminders.schedule_reminder(world.alice, meeting, template=template)
    update_activity(activity=meeting, data={"status": "cancelled"})
    message.refresh_from_db()
    assert message.status == "cancelled" and message.activity.status == "cancelled"


def test_reminder_cancelled_on_opt_out(world, tess, meeting, template):
    message = reminders.schedule_reminder(world.alice, meeting, template=template)
    other = Message.objects.get(pk=message.pk)
    record_consent(contact=tess, channel="email", status=ConsentStatus.REVOKED, source="email_link")
    other.refresh_from_db()
    assert other.status == "scheduled"  # another channel changes nothing
    record_consent(contact=tess, channel="sms", status=ConsentStatus.REVOKED, source="sms_keyword")
    message.refresh_from_db()
    assert message.status == "cancelled" and "withdrew" in message.error_message
    # a later meeting change does not bring it back
    update_activity(activity=meeting, data={"occurred_at": meeting.occurred_at + datetime.timedelta(hours=1)})
    message.refresh_from_db()
    assert message.status == "cancelled"


def test_sent_reminders_are_left_alone(world, meeting, template):
    message = reminders.schedule_reminder(world.alice, meeting, template=template)
    Message.objects.filter(pk=message.pk).update(status="sent", provider_sid="console-x")
    update_activity(activity=meeting, data={"status": "cancelled"})
    message.refresh_from_db()
    assert message.status == "sent"


def test_reminder_refusals(world, tess, meeting):
    note = log_activity(organization_id=world.org.pk, actor=world.alice,
                        data={"contact": tess, "type": "note", "body": "x"})
    with pytest.raises(ValidationError, match="scheduled meetings"):
        reminders.schedule_reminder(world.alice, note)
    with pytest.raises(ValidationError, match="too soon"):
        reminders.schedule_reminder(world.alice, meeting, before=datetime.timedelta(days=5))
    assert not Message.objects.exists()
    assert Activity.objects.filter(type="sms_sent").count() == 0
