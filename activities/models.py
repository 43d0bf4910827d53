from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.models import OrgModel
from crm.permissions import VIEW, contact_visibility_q


# Lead scoring: a contact's activities are score inputs; every insert, change or delete of one
# queues the contact for a recompute (contacts.models.ScorePending, contacts.scoring), in one
# statement per statement, so bulk writers (imports, merges) pay one insert, not one per row.
_SCORE_QUEUE = ("INSERT INTO contacts_scorepending (contact_id, organization_id, queued_at) "
                "SELECT DISTINCT contact_id, organization_id, now() FROM {table} WHERE contact_id IS NOT NULL "
                "ON CONFLICT (contact_id) DO NOTHING;")


@pgtrigger.register(
    pgtrigger.Trigger(name="activity_score_inserted", when=pgtrigger.After, operation=pgtrigger.Insert,
                      level=pgtrigger.Statement, referencing=pgtrigger.Referencing(new="new_rows"),
                      func=_SCORE_QUEUE.format(table="new_rows") + " RETURN NULL;"),
    pgtrigger.Trigger(name="activity_score_updated", when=pgtrigger.After, operation=pgtrigger.Update,
                      level=pgtrigger.Statement, referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
                      func=_SCORE_QUEUE.format(table="old_rows") + " " + _SCORE_QUEUE.format(table="new_rows")
                      + " RETURN NULL;"),
    pgtrigger.Trigger(name="activity_score_deleted", when=pgtrigger.After, operation=pgtrigger.Delete,
                      level=pgtrigger.Statement, referencing=pgtrigger.Referencing(old="old_rows"),
                      func=_SCORE_QUEUE.format(table="old_rows") + " RETURN NULL;"),
)
class Activity(OrgModel):
    """One entry on the timeline of a contact and/or company."""

    class Type(models.TextChoices):
        EMAIL_SENT = "email_sent", "Email sent"
        EMAIL_RECEIVED = "email_received", "Email received"
        EMAIL_OPENED = "email_opened", "Email opened"
        EMAIL_CLICKED = "email_clicked", "Email link clicked"
        CALL = "call", "Call"
        MEETING_SCHEDULED = "meeting_scheduled", "Meeting scheduled"
        MEETING_HELD = "meeting_held", "Meeting held"
        NOTE = "note", "Note"
        TASK = "task", "Task"
        SMS_SENT = "sms_sent", "SMS sent"
        SMS_RECEIVED = "sms_received", "SMS received"
        STAGE_CHANGE = "stage_change", "Lifecycle stage changed"
        FIELD_CHANGE = "field_change", "Field changed"
        CUSTOM = "custom", "Custom"

    class Direction(models.TextChoices):
        INBOUND = "inbound", "Inbound"
        OUTBOUND = "outbound", "Outbound"
        INTERNAL = "internal", "Internal"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    # Types that count as reaching out to (or hearing from) the contact.
    CONTACT_TYPES = {
        Type.EMAIL_SENT, Type.EMAIL_RECEIVED, Type.CALL, Type.MEETING_HELD, Type.SMS_SENT, Type.SMS_RECEIVED,
    }

    # Indexed by the timeline indexes below.
    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="activities", db_index=False)
    company = models.ForeignKey("companies.Company", null=True, blank=True, on_delete=models.CASCADE,
                                related_name="activities", db_index=False)
    type = models.CharField(max_length=24, choices=Type.choices)
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INTERNAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DONE)
    occurred_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="activities")
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Tasks
    due_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="assigned_activities")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(contact__isnull=False) | Q(company__isnull=False),
                                   name="activity_has_subject",
                                   violation_error_message="An activity belongs to a contact or a company."),
        ]
        indexes = [
            models.Index(fields=["contact", "-occurred_at", "-id"], name="activity_contact_timeline"),
            models.Index(fields=["company", "-occurred_at", "-id"], name="activity_company_timeline"),
            models.Index(fields=["organization", "type", "-occurred_at"], name="activity_org_type"),
            models.Index(fields=["assigned_to", "due_at"], name="activity_open_tasks",
                         condition=Q(type="task", completed_at__isnull=True)),
        ]

    def __str__(self):
        return self.subject or self.get_type_display()

    @classmethod
    def visibility_q(cls, scope, action):
        # A contact's activities follow the contact; company-only activities follow the company
        # (every member sees them; writers change them).
        contact_q = contact_visibility_q(scope, action, "contact__")
        company_only = (Q(contact__isnull=True, company__deleted_at__isnull=True)
                        if (action == VIEW or scope.can_write) else None)
        if contact_q is None:
            return company_only
        return (Q(contact__isnull=False) & contact_q) | company_only if company_only is not None else contact_q

    def clean(self):
        super().clean()
        if not self.contact_id and not self.company_id:
            raise ValidationError({"contact": "An activity belongs to a contact or a company."})
        self._check_same_organization(contact=self.contact, company=self.company)


class Notification(OrgModel):
    """An in-app notification for one member: the bell in the header and /notifications/."""

    class Kind(models.TextChoices):
        TASK_ASSIGNED = "task_assigned", "Task assigned"
        TASK_DUE = "task_due", "Task due"
        SMS_RECEIVED = "sms_received", "SMS received"
        OTHER = "other", "Other"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    title = models.CharField(max_length=255)
    url = models.CharField(max_length=500, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Makes a notification idempotent: one per (recipient, key), e.g. "task_due:<activity id>".
    key = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "key"], condition=~Q(key=""),
                                    name="notification_once_per_key"),
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_inbox"),
            models.Index(fields=["recipient"], name="notification_unread", condition=Q(read_at__isnull=True)),
        ]

    def __str__(self):
        return self.title

    @classmethod
    def visibility_q(cls, scope, action):
        # Only the recipient sees (and marks read) their notifications, whatever their role.
        return Q(recipient_id=scope.user_id)
