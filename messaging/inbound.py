"""What Twilio's webhooks do (messaging/webhooks.py only checks signatures and answers):

- status callbacks move an outbound Message forward (never backwards: Message.STATUS_RANK),
  with its timeline Activity kept in step;
- inbound texts land on the matching contact's timeline (or a new lead), idempotent by
  MessageSid; opt-out / opt-in keywords change the contact's SMS consent in the ledger and
  HELP answers with the organization's help text."""

from __future__ import annotations

import dataclasses
import logging

import phonenumbers
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from activities import services as activity_services
from activities.notifications import notify
from activities.models import Activity
from contacts.phones import phone_q
from contacts.models import Channel, ConsentEvent, ConsentStatus, Contact, Source
from contacts.services import create_contact, record_consent
from contacts import privacy
from crm.models import Organization
from messaging.config import sms_config
from messaging.models import Backend, Message

from crm.logmask import mask_phone  # noqa: E402

logger = logging.getLogger("kith.sms")

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

# Twilio's MessageStatus values as ours ("accepted"/"scheduled" by Twilio are still queued for us).
TWILIO_STATUS = {
    "accepted": Message.Status.QUEUED, "scheduled": Message.Status.QUEUED, "queued": Message.Status.QUEUED,
    "sending": Message.Status.SENDING, "sent": Message.Status.SENT, "delivered": Message.Status.DELIVERED,
    "read": Message.Status.DELIVERED, "undelivered": Message.Status.UNDELIVERED,
    "failed": Message.Status.FAILED, "canceled": Message.Status.CANCELLED,
}
FAILED_STATUSES = {Message.Status.UNDELIVERED, Message.Status.FAILED}


class MalformedWebhook(ValueError):
    """The body lacks a field Twilio always sends, or has a value we do not know."""


def keyword(body: str) -> str:
    """The body as a keyword: surrounding spaces and punctuation trimmed, upper case
    ("  stop! " -> "STOP"). Only a body that is nothing but the keyword counts."""
    return body.strip().strip(".,;:!?¡¿\"'()[]-_*~ \t\r\n").upper()


def _required(params, *names) -> list[str]:
    values = []
    for name in names:
        value = (params.get(name) or "").strip()
        if not value:
            raise MalformedWebhook(f"{name} is missing.")
        values.append(value)
    return values


# ---------------------------------------------------------------------------
# Status callbacks


def apply_status_callback(organization: Organization, params) -> Message | None:
    """Move the organization's message with this MessageSid to the reported status when that is
    a step forward; a replayed or late callback changes nothing. Returns the message (None when
    no message has this sid: logged, and the caller answers 200 so Twilio stops retrying).
    The row is locked while it changes, so concurrent callbacks apply one after the other."""
    sid, reported = _required(params, "MessageSid", "MessageStatus")
    status = TWILIO_STATUS.get(reported.lower())
    if status is None:
        raise MalformedWebhook(f"MessageStatus {reported!r} is not a message status Twilio sends.")
    error_code = (params.get("ErrorCode") or "").strip()[:16]
    error_message = (params.get("ErrorMessage") or "").strip()[:500]
    with transaction.atomic():
        message = (Message.objects.select_for_update()
                   .filter(organization=organization, provider_sid=sid).first())
        if message is None:
            logger.warning("Status callback for unknown MessageSid %s (organization %s, status %s)",
                           sid, organization.pk, reported)
            return None
        if Message.STATUS_RANK[status] <= Message.STATUS_RANK.get(message.status, 0):
            return message  # late or replayed: statuses never move backwards
        now = timezone.now()
        message.status = status
        message.status_changed_at = now
        fields = ["status", "status_changed_at", "updated_at"]
        if status == Message.Status.DELIVERED:
            message.delivered_at = now
            fields.append("delivered_at")
        if status in (Message.Status.SENT, Message.Status.DELIVERED) and message.sent_at is None:
            message.sent_at = now
            fields.append("sent_at")
        if status in FAILED_STATUSES:
            message.error_code = error_code
            message.error_message = error_message
            fields += ["error_code", "error_message"]
        message.save(update_fields=fields)
        _sync_activity(message)
    return message


def _sync_activity(message: Message) -> None:
    """The timeline entry shows the message's status; a failed text is a failed activity."""
    if not message.activity_id:
        return
    activity = Activity.objects.filter(pk=message.activity_id).first()
    if activity is None:
        return
    metadata = {**(activity.metadata or {}), "status": message.status}
    if message.error_code:
        metadata["error_code"] = message.error_code
    data = {"metadata": metadata}
    if message.status in FAILED_STATUSES:
        data["status"] = Activity.Status.FAILED
    elif message.status != Message.Status.CANCELLED and activity.status == Activity.Status.PLANNED:
        data["status"] = Activity.Status.DONE
    activity_services.update_activity(activity=activity, data=data)


# ---------------------------------------------------------------------------
# Inbound messages


@dataclasses.dataclass
class InboundResult:
    message: Message
    created: bool          # False: a replay of a MessageSid already stored
    reply: str = ""        # the text to answer with (HELP), empty for none


def e164(number: str) -> str:
    """The sender as E.164, or "" (short codes, alphanumeric senders, garbage)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def match_contact(organization_id: int, number: str) -> Contact | None:
    """The live contact of the organization with this mobile or phone number; with several,
    the most recently active one."""
    if not number:
        return None
    return (Contact.objects.filter(organization_id=organization_id)
            .filter(phone_q(number))  # plain or encrypted (blind index), exact number
            .order_by(F("last_activity_at").desc(nulls_last=True), "-created_at", "-id").first())


def _reply_for(organization_id: int, body: str) -> str:
    if keyword(body) in HELP_WORDS:
        return sms_config(organization_id).help_text
    return ""


def receive_message(organization: Organization, params) -> InboundResult:
    """Store an inbound text on its contact's timeline (a new lead for an unknown number) and act
    on STOP / START / HELP. A MessageSid already stored changes nothing (Twilio retries)."""
    sid, sender = _required(params, "MessageSid", "From")
    body = params.get("Body") or ""
    existing = Message.objects.filter(organization=organization, provider_sid=sid).first()
    if existing is not None:
        return InboundResult(existing, created=False, reply=_reply_for(organization.pk, existing.body))
    try:
        with transaction.atomic():
            message = _store_inbound(organization, params, sid, sender, body)
    except IntegrityError:
        # The same MessageSid stored by a concurrent request: that one did the work.
        existing = Message.objects.filter(organization=organization, provider_sid=sid).first()
        if existing is None:
            raise
        return InboundResult(existing, created=False, reply=_reply_for(organization.pk, existing.body))
    return InboundResult(message, created=True, reply=_reply_for(organization.pk, body))


def _store_inbound(organization, params, sid, sender, body) -> Message:
    number = e164(sender)
    contact = match_contact(organization.pk, number)
    parsed = phonenumbers.parse(number, None) if contact is None and number else None
    if parsed is not None and phonenumbers.is_valid_number(parsed) and not privacy.blocked(
            organization.pk, phones=[("mobile", number)]):
        # A number whose owner was erased at their request gets no new lead (contacts.privacy):
        # the text is kept unmatched, as from any unknown sender.
        contact = create_contact(organization=organization, data={
            "first_name": phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            "mobile": number, "source": Source.INBOUND_SMS, "source_detail": "First text to the SMS number",
        })
    try:
        segments = max(1, int(params.get("NumSegments") or 1))
    except ValueError:
        segments = 1
    now = timezone.now()
    message = Message.objects.create(
        organization=organization, contact=contact, direction=Message.Direction.INBOUND,
        status=Message.Status.RECEIVED, to_number=(params.get("To") or "")[:20], from_number=sender[:20],
        body=body, segments=min(segments, 32767), provider_sid=sid, backend=Backend.TWILIO,
        status_changed_at=now)
    if contact is None:
        logger.info("Inbound SMS %s from %s matches no contact and is no phone number", sid, mask_phone(sender))
        return message
    message.activity = activity_services.log_activity(organization_id=organization.pk, data={
        "contact": contact, "type": Activity.Type.SMS_RECEIVED, "direction": Activity.Direction.INBOUND,
        "status": Activity.Status.DONE, "occurred_at": now, "subject": f"SMS from {sender}"[:255], "body": body,
        "metadata": {"message_id": message.pk, "provider_sid": sid, "from": sender,
                     "status": Message.Status.RECEIVED, "segments": message.segments},
    })
    message.save(update_fields=["activity", "updated_at"])
    if contact.owner_id:
        notify(contact.owner_id, "sms_received", f"Text from {contact}: {body[:80]}",
               reverse("contacts:detail", args=[contact.pk]), organization.pk, key=f"sms:{message.pk}")
    word = keyword(body)
    if word in STOP_WORDS or word in START_WORDS:
        record_consent(contact=contact, channel=Channel.SMS,
                       status=ConsentStatus.REVOKED if word in STOP_WORDS else ConsentStatus.GRANTED,
                       source=ConsentEvent.Source.SMS_KEYWORD, evidence=body)
    return message
