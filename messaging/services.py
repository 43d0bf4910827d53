"""Outbound SMS: checks (visibility, consent, number, body), templates with merge fields,
quiet hours, the message and its timeline entry, and delivery through the organization's
backend (messaging.backends). Pages, API, reminders and tasks all come through here."""

from __future__ import annotations

import datetime
import logging
import re
import zoneinfo

import phonenumbers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import dateformat, timezone

from activities.models import Activity
from activities import services as activity_services
from contacts.models import ConsentStatus, Contact
from crm import quotas
from crm.permissions import CHANGE
from messaging import ratelimit, segments
from messaging.backends import SendError, Throttled, backend_for
from messaging.config import sms_config
from messaging.models import Message, SmsTemplate

logger = logging.getLogger("kith.sms")

MERGE_FIELD = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
MERGE_FIELDS = {
    "first_name": "The contact's first name",
    "last_name": "The contact's last name",
    "full_name": "The contact's full name",
    "company": "The contact's primary company",
    "job_title": "The contact's job title",
    "owner_name": "The contact owner's name",
    "meeting_time": "The meeting's date and time (contact's time zone; reminders)",
    "meeting_place": "The meeting's place (reminders)",
}
MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
                phonenumbers.PhoneNumberType.VOIP}
RETRY_BACKOFF_BASE = 30        # seconds; doubled on every retry
RETRY_BACKOFF_MAX = 3600


# ---------------------------------------------------------------------------
# Checks


def writable_contact(user, contact: Contact) -> None:
    if not Contact.objects.visible_to(user, CHANGE).filter(pk=contact.pk).exists():
        raise PermissionDenied("You cannot text this contact.")


def consent_problem(contact: Contact) -> str:
    if contact.sms_consent == ConsentStatus.GRANTED:
        return ""
    if contact.sms_consent == ConsentStatus.REVOKED:
        return f"{contact} has opted out of text messages."
    return f"{contact} has not agreed to receive text messages."


def sms_number(contact: Contact) -> str:
    """The contact's number to text in E.164 (mobile, else phone); ValidationError("to") if none fits."""
    number = contact.mobile or contact.phone
    if not number:
        raise ValidationError({"to": f"{contact} has no mobile number."})
    if not number.is_valid():
        raise ValidationError({"to": f"{number} is not a valid phone number."})
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        raise ValidationError({"to": f"{number.as_international} is a landline: it cannot receive text messages."})
    if kind not in MOBILE_TYPES:
        raise ValidationError({"to": f"{number.as_international} cannot receive text messages."})
    return number.as_e164


def send_problem(contact: Contact) -> str:
    """Why the contact cannot be texted ("" when it can): what the send form shows."""
    problem = consent_problem(contact)
    if problem:
        return problem
    try:
        sms_number(contact)
    except ValidationError as exc:
        return exc.message_dict["to"][0]
    return ""


def check_body(body: str) -> segments.SegmentInfo:
    if not (body or "").strip():
        raise ValidationError({"body": "Write a message."})
    info = segments.count(body)
    if info.too_long:
        raise ValidationError({"body": f"The message takes {info.segments} segments; "
                                       f"the most is {segments.MAX_SEGMENTS}. Shorten it."})
    return info


# ---------------------------------------------------------------------------
# Templates


def contact_timezone(contact: Contact, config=None) -> zoneinfo.ZoneInfo:
    config = config or sms_config(contact.organization_id)
    for name in (contact.timezone, config.default_timezone, "UTC"):
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


def unknown_fields(text: str) -> list[str]:
    return sorted({name for name in MERGE_FIELD.findall(text) if name not in MERGE_FIELDS})


def check_template_text(text: str, field: str = "body") -> None:
    unknown = unknown_fields(text)
    if unknown:
        names = ", ".join("{{%s}}" % name for name in unknown)
        known = ", ".join("{{%s}}" % name for name in MERGE_FIELDS)
        raise ValidationError({field: f"Unknown merge field {names}. Known fields: {known}."})


def merge_values(contact: Contact, meeting: Activity | None = None) -> dict[str, str]:
    owner = contact.owner
    values = {
        "first_name": contact.first_name, "last_name": contact.last_name,
        "full_name": contact.display_name or contact.first_name, "company": contact.company_name,
        "job_title": contact.job_title, "owner_name": owner.get_full_name() if owner else "",
        "meeting_time": "", "meeting_place": "",
    }
    if meeting is not None:
        local = meeting.occurred_at.astimezone(contact_timezone(contact))
        values["meeting_time"] = dateformat.format(local, "D, M j \\a\\t g:i A")
        metadata = meeting.metadata or {}
        # The timeline's meeting form stores "location"; the API may send "place".
        values["meeting_place"] = metadata.get("place") or metadata.get("location") or meeting.subject
    return values


def render(text: str, contact: Contact, meeting: Activity | None = None, field: str = "body") -> str:
    """The text with its merge fields filled in; ValidationError naming an unknown field."""
    check_template_text(text, field)
    values = merge_values(contact, meeting)
    return MERGE_FIELD.sub(lambda m: values[m.group(1)], text)


# ---------------------------------------------------------------------------
# Quiet hours


def quiet_hours_end(when: datetime.datetime, tz, start: datetime.time, end: datetime.time):
    """The end of the quiet hours `when` falls into (an aware datetime), or None outside them."""
    if start == end:
        return None
    local = when.astimezone(tz)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, end, tzinfo=tz)


# ---------------------------------------------------------------------------
# Sending


def send_sms(user, contact: Contact, body: str | None = None, template: SmsTemplate | None = None,
             scheduled_for: datetime.datetime | None = None, *, reminder_for: Activity | None = None,
             remind_before: datetime.timedelta | None = None, validity_seconds: int | None = None,
             job=None) -> Message:
    """Store an outbound SMS with its timeline entry and send it (after commit) or schedule it.

    Raises PermissionDenied (the user may not write the contact) or ValidationError naming the
    field at fault (contact: no consent; to: no mobile number; body: empty, too long, unknown
    merge field; template; scheduled_for). Nothing is stored then."""
    writable_contact(user, contact)
    problem = consent_problem(contact)
    if problem:
        raise ValidationError({"contact": problem})
    to_number = sms_number(contact)
    if template is not None and template.organization_id != contact.organization_id:
        raise ValidationError({"template": "Pick one of your organization's templates."})
    text = body if (body or "").strip() else (template.body if template is not None else "")
    check_body(text)  # an empty body is reported before merge-field errors
    text = render(text, contact, reminder_for, field="body")
    info = check_body(text)
    now = timezone.now()
    if scheduled_for is not None and scheduled_for < now - datetime.timedelta(minutes=1):
        raise ValidationError({"scheduled_for": "Pick a time in the future."})
    config = sms_config(contact.organization_id)
    when = scheduled_for or now
    quiet_end = quiet_hours_end(when, contact_timezone(contact, config), config.quiet_hours_start,
                                config.quiet_hours_end)
    if quiet_end is not None:
        when = scheduled_for = quiet_end
    status = Message.Status.SCHEDULED if scheduled_for is not None else Message.Status.QUEUED
    if job is None and reminder_for is None:
        # A bulk send counted its recipients when it started (contacts.bulk.start); reminders
        # come with the meetings they belong to and are counted, never refused.
        quotas.check(user, quotas.SMS)
    with transaction.atomic():
        message = Message(
            organization_id=contact.organization_id, contact=contact, direction=Message.Direction.OUTBOUND,
            status=status, to_number=to_number, from_number=config.from_number, body=text,
            encoding=info.encoding, segments=info.segments, scheduled_for=scheduled_for,
            validity_seconds=validity_seconds or config.validity_seconds, actor=user, template=template,
            reminder_for=reminder_for, remind_before=remind_before, job=job, backend=config.backend,
            status_changed_at=now)
        message.full_clean()
        message.save()
        message.activity = activity_services.log_activity(organization_id=contact.organization_id, actor=user, data={
            "contact": contact, "type": Activity.Type.SMS_SENT, "direction": Activity.Direction.OUTBOUND,
            "status": Activity.Status.PLANNED, "occurred_at": when,
            "subject": "Appointment reminder" if reminder_for else ("Scheduled SMS" if scheduled_for else "SMS"),
            "body": text, "metadata": {"message_id": message.pk, "segments": info.segments}})
        message.save(update_fields=["activity"])
        if status == Message.Status.QUEUED:
            transaction.on_commit(lambda: send_now(message.pk))
    return message


def enqueue(message_id: int, countdown: float | None = None) -> None:
    """Hand a queued message to the Celery task (messaging.tasks.send_message)."""
    from messaging.tasks import send_message

    send_message.apply_async((message_id,), countdown=countdown)


def send_now(message_id: int) -> None:
    """A single send right after commit: tried here once; a retryable failure goes to the task."""
    try:
        deliver(message_id)
    except Throttled as exc:
        enqueue(message_id, countdown=exc.wait)
    except SendError:
        enqueue(message_id, countdown=backoff(0))


def backoff(retries: int) -> int:
    return min(RETRY_BACKOFF_BASE * 2 ** retries, RETRY_BACKOFF_MAX)


def _finish_activity(message: Message, status: str, when=None) -> None:
    if message.activity_id:
        activity = Activity.objects.get(pk=message.activity_id)
        data = {"status": status}
        if when is not None:
            data["occurred_at"] = when
        activity_services.update_activity(activity=activity, data=data)


def _close(message: Message, status: str, *, code: str = "", error: str = "") -> Message:
    message.status = status
    message.error_code = code[:16]
    message.error_message = error[:500]
    message.status_changed_at = timezone.now()
    message.save(update_fields=["status", "error_code", "error_message", "status_changed_at", "attempts",
                                "send_started_at", "updated_at"])
    _finish_activity(message, Activity.Status.CANCELLED if status == Message.Status.CANCELLED
                     else Activity.Status.FAILED)
    return message


def _record_sent(message: Message, result) -> Message:
    now = timezone.now()
    message.provider_sid = result.sid
    message.status = result.status
    message.from_number = result.from_number or message.from_number
    message.sent_at = now
    message.status_changed_at = now
    message.error_code = message.error_message = ""
    message.save()
    _finish_activity(message, Activity.Status.DONE, now)
    return message


def _sendable(message: Message | None) -> bool:
    return (message is not None and message.direction == Message.Direction.OUTBOUND and not message.provider_sid
            and message.status == Message.Status.QUEUED)


def deliver(message_id: int) -> Message | None:
    """Send one queued message through its organization's backend, exactly once, within the
    sender's rate (messaging.ratelimit; Throttled says how long to wait).

    Two transactions, so that a worker killed (or cut off from the database) while the provider
    is answering does not make the next attempt send the text again:
    1. claim: the row is locked, checked (queued, no provider sid; consent, which may have been
       revoked since it was queued) and stamped `send_started_at` with a new attempt number;
       committed before the provider is called;
    2. send: the row is locked again and, if the claim is still ours (same attempt, still
       unsent), the backend is called and its answer saved in the same transaction.
    A claim found still stamped means an earlier attempt may have reached the provider without
    its answer being saved: the provider is asked for that text (TwilioBackend.find_sent) and
    its sid recorded instead of sending again. The window left: a provider whose message list
    does not show the text yet, or a backend that cannot be asked (console), sends again.
    A second runner waits on the row lock and finds the message sent (or its claim taken).
    A retryable failure (Twilio 429/5xx, connection) leaves it queued and raises SendError;
    a final one marks it failed with the provider's error code and message."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if not _sendable(message):
            return message
        contact = Contact.all_objects.filter(pk=message.contact_id).first()
        if contact is None or contact.deleted_at is not None or consent_problem(contact):
            return _close(message, Message.Status.CANCELLED, code="no_consent",
                          error=consent_problem(contact) if contact else "The contact was deleted.")
        config = sms_config(message.organization_id)
        backend = backend_for(config)
        if message.send_started_at is not None:
            found = backend.find_sent(message, since=message.send_started_at)  # SendError: retried later
            if found is not None:
                logger.warning("SMS %s: an attempt that stopped before saving the answer had sent it (%s)",
                               message.pk, found.sid)
                return _record_sent(message, found)
        wait = ratelimit.acquire(f"{message.organization_id}:{config.sender}", config.messages_per_second)
        if wait:
            raise Throttled(wait)  # nothing changed: the row lock goes with the transaction
        message.attempts += 1
        message.backend = config.backend
        message.send_started_at = timezone.now()
        message.save(update_fields=["attempts", "backend", "send_started_at", "updated_at"])
        attempt = message.attempts

    retry = None
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if not _sendable(message) or message.attempts != attempt:
            return message  # sent, cancelled or claimed again meanwhile
        try:
            result = backend.send(message)
        except SendError as exc:
            if exc.status is not None:
                message.send_started_at = None  # the provider answered: nothing went out
            if not exc.retryable:
                logger.warning("SMS %s failed: %s %s", message.pk, exc.code, exc)
                return _close(message, Message.Status.FAILED, code=exc.code, error=str(exc))
            message.error_code, message.error_message = exc.code[:16], str(exc)[:500]
            message.save(update_fields=["send_started_at", "error_code", "error_message", "updated_at"])
            retry = exc
        else:
            _record_sent(message, result)
    if retry is not None:
        raise retry
    return message


def give_up(message_id: int, exc: SendError) -> None:
    """The task ran out of retries: the message failed with the last error."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        if message is not None and message.status == Message.Status.QUEUED and not message.provider_sid:
            _close(message, Message.Status.FAILED, code=exc.code, error=str(exc))


def release_due(now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Scheduled messages whose time has come are queued (rows locked with SKIP LOCKED, so two
    beat runs never take the same one) and handed to the task after commit."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(status=Message.Status.SCHEDULED, scheduled_for__lte=now)
                   .order_by("scheduled_for", "id").values_list("pk", flat=True)[:limit])
        Message.objects.filter(pk__in=ids).update(status=Message.Status.QUEUED, status_changed_at=now)
        for pk in ids:
            transaction.on_commit(lambda pk=pk: enqueue(pk))
    return ids


def requeue_stale(now: datetime.datetime | None = None, limit: int = 500) -> list[int]:
    """Queued messages that nothing has touched for KITH_SMS_STALE_SECONDS go to the task again:
    their sender died before sending them (a worker killed while sending a bulk SMS after its
    batch committed) or their task was lost. Sending twice is what `deliver` prevents, so a
    message whose task is merely waiting (a retry's backoff) only gets a second, idle task.
    Rows being sent right now are locked and skipped; the ones re-queued are touched so the
    next sweep leaves them alone for another period."""
    from django.conf import settings

    now = now or timezone.now()
    stale = now - datetime.timedelta(seconds=settings.KITH_SMS_STALE_SECONDS)
    with transaction.atomic():
        ids = list(Message.objects.select_for_update(skip_locked=True)
                   .filter(direction=Message.Direction.OUTBOUND, status=Message.Status.QUEUED, provider_sid="",
                           updated_at__lt=stale)
                   .order_by("updated_at", "id").values_list("pk", flat=True)[:limit])
        Message.objects.filter(pk__in=ids).update(updated_at=now)
        for pk in ids:
            transaction.on_commit(lambda pk=pk: enqueue(pk))
    if ids:
        logger.warning("Re-queued %s SMS left queued for %ss", len(ids), settings.KITH_SMS_STALE_SECONDS)
    return ids


def cancel_message(message: Message, *, reason: str = "") -> Message:
    """A scheduled (or still queued, unsent) message is cancelled; others are left alone."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message.pk)
        if message.status in (Message.Status.SCHEDULED, Message.Status.QUEUED) and not message.provider_sid:
            _close(message, Message.Status.CANCELLED, error=reason)
    return message
