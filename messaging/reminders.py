"""Appointment reminders: a scheduled SMS hanging off a meeting (Message.reminder_for), sent
`remind_before` ahead of it, re-timed (and re-worded) when the meeting moves, cancelled when the
meeting is cancelled or the contact withdraws SMS consent.

Hooked from activities.services.update_activity (sync_reminders) and
contacts.services.record_consent (consent_changed)."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from activities.models import Activity
from contacts.models import ConsentStatus, Contact
from messaging import services
from messaging.models import Message, SmsTemplate

DEFAULT_BEFORE = datetime.timedelta(hours=24)
DEFAULT_TEXT = ("Hi {{first_name}}, a reminder of our meeting on {{meeting_time}} at {{meeting_place}}. "
                "Reply STOP to opt out.")


def schedule_reminder(user, meeting: Activity, *, template: SmsTemplate | None = None,
                      before: datetime.timedelta = DEFAULT_BEFORE) -> Message:
    """A reminder SMS for a meeting (type meeting_scheduled, with a contact, still ahead), worded
    from the template (or DEFAULT_TEXT) with the meeting's time and place."""
    if meeting.type != Activity.Type.MEETING_SCHEDULED or meeting.status == Activity.Status.CANCELLED:
        raise ValidationError({"reminder_for": "Reminders are for scheduled meetings."})
    if meeting.contact_id is None:
        raise ValidationError({"reminder_for": "The meeting has no contact to remind."})
    when = meeting.occurred_at - before
    if when <= timezone.now():
        raise ValidationError({"remind_before": "That is already past: the meeting is too soon."})
    text = None if template is not None else DEFAULT_TEXT
    return services.send_sms(user, meeting.contact, body=text, template=template, scheduled_for=when,
                             reminder_for=meeting, remind_before=before)


def sync_reminders(meeting: Activity) -> None:
    """After a meeting changed: its pending reminders follow its time (and place), or are
    cancelled with it."""
    if meeting.type != Activity.Type.MEETING_SCHEDULED:
        return
    pending = list(Message.objects.select_for_update(of=("self",))
                   .filter(reminder_for=meeting, status=Message.Status.SCHEDULED).select_related("template"))
    if not pending:
        return
    if meeting.status == Activity.Status.CANCELLED:
        for message in pending:
            services.cancel_message(message, reason="The meeting was cancelled.")
        return
    contact = Contact.all_objects.select_related("owner").get(pk=meeting.contact_id)
    config = services.sms_config(meeting.organization_id)
    tz = services.contact_timezone(contact, config)
    for message in pending:
        when = meeting.occurred_at - (message.remind_before or DEFAULT_BEFORE)
        when = services.quiet_hours_end(when, tz, config.quiet_hours_start, config.quiet_hours_end) or when
        if when <= timezone.now():
            services.cancel_message(message, reason="The meeting moved too close to remind of it.")
            continue
        source = message.template.body if message.template_id else DEFAULT_TEXT
        message.body = services.render(source, contact, meeting)
        message.scheduled_for = when
        message.save(update_fields=["body", "scheduled_for", "updated_at"])
        if message.activity_id:
            Activity.objects.filter(pk=message.activity_id).update(occurred_at=when, body=message.body)


def consent_changed(contact: Contact, channel: str) -> None:
    """SMS consent withdrawn: every scheduled text to the contact (reminders included) is cancelled."""
    if channel != "sms" or contact.sms_consent == ConsentStatus.GRANTED:
        return
    with transaction.atomic():
        for message in Message.objects.filter(contact=contact, direction=Message.Direction.OUTBOUND,
                                              status=Message.Status.SCHEDULED):
            services.cancel_message(message, reason="The contact withdrew SMS consent.")
