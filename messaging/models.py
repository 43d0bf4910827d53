"""SMS: per-organization settings (backend, Twilio credentials), templates and messages.

Every outbound and inbound text is a Message; its timeline entry is an Activity of type
sms_sent / sms_received linked through `Message.activity`."""

from __future__ import annotations

import datetime

import pghistory
import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from encrypted_fields.fields import EncryptedCharField

from crm.models import OrgModel
from crm.permissions import VIEW, contact_visibility_q, organization_wide_q


class Backend(models.TextChoices):
    PLATFORM = "", "Platform default"
    CONSOLE = "console", "Console (stored and printed, nothing sent)"
    TWILIO = "twilio", "Twilio"


# Changes are audited (who changed the backend, the account, the sender …); the auth token is left
# out of the history tables, encrypted or not.
@pghistory.track(
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(condition=pghistory.AnyChange(exclude=["twilio_auth_token"], exclude_auto=True)),
    pghistory.DeleteEvent(),
    exclude=["twilio_auth_token"],
)
class MessagingSettings(OrgModel):
    """One row per organization; empty values fall back to the platform's TWILIO_* settings."""

    backend = models.CharField(max_length=10, choices=Backend.choices, blank=True, default=Backend.PLATFORM)
    twilio_account_sid = models.CharField(max_length=64, blank=True)
    # Encrypted at rest (Fernet, key derived from SECRET_KEY and SALT_KEY).
    twilio_auth_token = EncryptedCharField(max_length=128, blank=True, null=True)
    twilio_messaging_service_sid = models.CharField(max_length=64, blank=True)
    twilio_from_number = models.CharField(max_length=20, blank=True, help_text="E.164, e.g. +14155550100")
    help_text = models.CharField(
        max_length=320, blank=True,
        default="Reply STOP to unsubscribe. For help contact us by email.",
        help_text="The answer to an inbound HELP.")
    quiet_hours_start = models.TimeField(default=datetime.time(21, 0),
                                         help_text="No texts from this time (contact's time zone) …")
    quiet_hours_end = models.TimeField(default=datetime.time(8, 0), help_text="… until this time.")
    default_timezone = models.CharField(max_length=64, blank=True, default="",
                                        help_text="For contacts without a time zone (empty: the server's).")
    messages_per_second = models.FloatField(default=1.0, help_text="Per sending number, across all workers.")
    validity_seconds = models.PositiveIntegerField(default=4 * 3600,
                                                   help_text="Twilio drops a message queued longer than this.")

    class Meta:
        verbose_name_plural = "messaging settings"
        constraints = [models.UniqueConstraint(fields=["organization"], name="messaging_settings_one_per_org")]

    def __str__(self):
        return f"Messaging settings of {self.organization}"

    @classmethod
    def visibility_q(cls, scope, action):
        # Members read them (the send form needs the quiet hours); org admins change them.
        return organization_wide_q(scope, action)


class SmsTemplate(OrgModel):
    """A reusable text with merge fields such as {{first_name}} or {{company}}."""

    constraint_error_fields = {"duplicate_name": "name"}

    class Kind(models.TextChoices):
        MESSAGE = "message", "Message"
        REMINDER = "reminder", "Appointment reminder"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MESSAGE)
    body = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="sms_template_name_unique_per_org",
                                    violation_error_code="duplicate_name",
                                    violation_error_message="A template with this name already exists."),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visibility_q(cls, scope, action):
        if action == VIEW:
            return Q()
        return Q() if scope.can_write else None


@pgtrigger.register(
    # Lead scoring: a failed or undelivered text is a negative signal of its contact.
    pgtrigger.Trigger(
        name="message_score_status_changed", when=pgtrigger.After, operation=pgtrigger.Update,
        condition=pgtrigger.AnyChange("status", "contact"),
        func="IF NEW.contact_id IS NOT NULL THEN INSERT INTO contacts_scorepending "
             "(contact_id, organization_id, queued_at) VALUES (NEW.contact_id, NEW.organization_id, now()) "
             "ON CONFLICT (contact_id) DO NOTHING; END IF; RETURN NULL;",
    ),
)
class Message(OrgModel):
    """One SMS, outbound or inbound. Status only moves forward (see STATUS_RANK)."""

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", "Outbound"
        INBOUND = "inbound", "Inbound"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        UNDELIVERED = "undelivered", "Undelivered"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        RECEIVED = "received", "Received"

    # A status callback may only move a message to a higher rank (late or replayed callbacks
    # change nothing); final states share the top rank.
    STATUS_RANK = {
        Status.SCHEDULED: 0, Status.QUEUED: 1, Status.SENDING: 2, Status.SENT: 3,
        Status.DELIVERED: 4, Status.UNDELIVERED: 4, Status.FAILED: 4, Status.CANCELLED: 4, Status.RECEIVED: 4,
    }
    FINAL = {Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELLED, Status.RECEIVED}

    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="messages", db_index=False)
    direction = models.CharField(max_length=8, choices=Direction.choices, default=Direction.OUTBOUND)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    to_number = models.CharField(max_length=20)
    from_number = models.CharField(max_length=20, blank=True)
    body = models.TextField()
    encoding = models.CharField(max_length=5, blank=True, help_text="GSM-7 or UCS-2")
    segments = models.PositiveSmallIntegerField(default=1)
    # Twilio's MessageSid (SM…), or a console-… id; unique so replays find the same row.
    provider_sid = models.CharField(max_length=64, blank=True)
    backend = models.CharField(max_length=10, blank=True)
    error_code = models.CharField(max_length=16, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True,
                                         help_text="Not sent before this time (scheduled texts, quiet hours).")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Set (and committed) before the provider is called, cleared when the provider answered that
    # nothing went out: still set on a queued message without provider_sid, it says an attempt
    # may have reached the provider without its answer being saved (messaging.services.deliver).
    send_started_at = models.DateTimeField(null=True, blank=True)
    validity_seconds = models.PositiveIntegerField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    template = models.ForeignKey(SmsTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The timeline entry (sms_sent / sms_received).
    activity = models.OneToOneField("activities.Activity", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="message")
    # An appointment reminder: the meeting it reminds of (re-timed or cancelled with it).
    reminder_for = models.ForeignKey("activities.Activity", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="reminders")
    # How long before the meeting a reminder goes out (kept when the meeting moves).
    remind_before = models.DurationField(null=True, blank=True)
    # A bulk send (crm.Job) this message belongs to.
    job = models.ForeignKey("crm.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "provider_sid"], condition=~Q(provider_sid=""),
                                    name="message_provider_sid_unique_per_org"),
        ]
        indexes = [
            models.Index(fields=["contact", "-created_at", "-id"], name="message_contact_idx"),
            models.Index(fields=["organization", "-created_at"], name="message_org_created_idx"),
            models.Index(fields=["scheduled_for"], name="message_due_idx",
                         condition=Q(status="scheduled")),
            # The sweeper's look for queued messages left without a sender (services.requeue_stale).
            models.Index(fields=["updated_at"], name="message_queued_idx",
                         condition=Q(status="queued", provider_sid="")),
            models.Index(fields=["reminder_for"], name="message_reminder_idx",
                         condition=Q(reminder_for__isnull=False)),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} SMS to {self.to_number}" if self.direction == "outbound" else (
            f"SMS from {self.from_number}")

    @classmethod
    def visibility_q(cls, scope, action):
        # A message follows its contact; inbound texts from unknown numbers are seen by org admins.
        contact_q = contact_visibility_q(scope, action, "contact__")
        unmatched = Q(contact__isnull=True) if scope.is_admin else None
        if contact_q is None:
            return unmatched
        return (Q(contact__isnull=False) & contact_q) | unmatched if unmatched is not None else (
            Q(contact__isnull=False) & contact_q)

    def clean(self):
        super().clean()
        self._check_same_organization(contact=self.contact)
        if self.direction == self.Direction.OUTBOUND and not self.body.strip():
            raise ValidationError({"body": "Write a message."})
