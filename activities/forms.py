"""Quick-add forms of the timeline (note, call, meeting, task). Each builds the data of
one activity and saves it through activities.services, so the page, the API and imports
validate the same way; a service's ValidationError is shown on the field it names."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from activities.assignees import assignable_users
from activities.models import Activity
from activities.services import log_activity

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

CALL_OUTCOMES = [
    ("connected", "Connected"), ("voicemail", "Left voicemail"), ("no_answer", "No answer"),
    ("busy", "Busy"), ("wrong_number", "Wrong number"),
]


class QuickAddForm(forms.Form):
    """Base: `subject` is the contact or company the activity goes on; `user` logs it."""

    kind = ""
    label = ""

    def __init__(self, *args, subject, user, **kwargs):
        kwargs.setdefault("prefix", self.kind)
        super().__init__(*args, **kwargs)
        self.subject = subject
        self.user = user

    def activity_data(self) -> dict:
        raise NotImplementedError

    def save(self) -> Activity | None:
        """Log the activity; None (with the errors on the form) when the services refuse it."""
        data = self.activity_data()
        key = "contact" if self.subject._meta.model_name == "contact" else "company"
        data[key] = self.subject
        try:
            return log_activity(organization_id=self.subject.organization_id, data=data, actor=self.user)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                target = self.service_fields.get(name, name)
                self.add_error(target if target in self.fields else None, errors)
            return None

    # service field -> form field, where they differ
    service_fields: dict[str, str] = {}


class NoteForm(QuickAddForm):
    kind, label = "note", "Note"
    body = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}), max_length=10000)

    def activity_data(self):
        return {"type": Activity.Type.NOTE, "body": self.cleaned_data["body"]}


class CallForm(QuickAddForm):
    kind, label = "call", "Call"
    direction = forms.ChoiceField(choices=[("outbound", "Outbound"), ("inbound", "Inbound")], initial="outbound")
    outcome = forms.ChoiceField(choices=CALL_OUTCOMES)
    duration = forms.IntegerField(label="Duration (minutes)", min_value=0, max_value=24 * 60, required=False)
    occurred_at = forms.DateTimeField(label="When", widget=DATETIME_WIDGET, required=False,
                                      help_text="Leave empty for now.")
    body = forms.CharField(label="Notes", widget=forms.Textarea(attrs={"rows": 2}), max_length=10000, required=False)

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if value and value > timezone.now() + timezone.timedelta(minutes=5):
            raise ValidationError("A call that was made cannot be in the future.")
        return value

    def activity_data(self):
        data = self.cleaned_data
        outcome = dict(CALL_OUTCOMES)[data["outcome"]]
        return {"type": Activity.Type.CALL, "direction": data["direction"],
                "subject": f"{'Outgoing' if data['direction'] == 'outbound' else 'Incoming'} call: {outcome.lower()}",
                "body": data["body"], "occurred_at": data["occurred_at"] or timezone.now(),
                "metadata": {"outcome": data["outcome"],
                             **({"duration_minutes": data["duration"]} if data["duration"] is not None else {})}}


class _Refused(Exception):
    """The activity was refused (errors already on the form): roll back what came with it."""


class MeetingForm(QuickAddForm):
    kind, label = "meeting", "Meeting"
    subject = forms.CharField(label="Title", max_length=255)
    occurred_at = forms.DateTimeField(label="Date and time", widget=DATETIME_WIDGET)
    location = forms.CharField(label="Place", max_length=255, required=False)
    body = forms.CharField(label="Notes", widget=forms.Textarea(attrs={"rows": 2}), max_length=10000, required=False)

    reminder = forms.TypedChoiceField(
        label="Text a reminder", coerce=int, empty_value=None, required=False,
        choices=[("", "No reminder"), (60, "1 hour before"), (24 * 60, "24 hours before"),
                 (48 * 60, "2 days before")],
        help_text="An SMS with the time and place, moved or cancelled with the meeting.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.subject._meta.model_name != "contact":
            del self.fields["reminder"]

    def save(self) -> Activity | None:
        """The meeting and its reminder together: a reminder that cannot be sent (no consent, a
        landline, too soon) leaves no meeting behind, and its reason shows on the field."""
        minutes = self.cleaned_data.get("reminder")
        if not minutes:
            return super().save()
        from messaging.reminders import schedule_reminder

        try:
            with transaction.atomic():
                meeting = super().save()
                if meeting is None:
                    raise _Refused
                schedule_reminder(self.user, meeting, before=timedelta(minutes=minutes))
                return meeting
        except _Refused:
            return None
        except ValidationError as exc:
            self.add_error("reminder", exc.messages)
        except PermissionDenied as exc:
            self.add_error("reminder", str(exc))
        return None

    def activity_data(self):
        data = self.cleaned_data
        planned = data["occurred_at"] > timezone.now()
        return {"type": Activity.Type.MEETING_SCHEDULED if planned else Activity.Type.MEETING_HELD,
                "status": Activity.Status.PLANNED if planned else Activity.Status.DONE,
                "subject": data["subject"], "occurred_at": data["occurred_at"], "body": data["body"],
                "metadata": {"location": data["location"]} if data["location"] else {}}


class TaskForm(QuickAddForm):
    kind, label = "task", "Task"
    subject = forms.CharField(label="Title", max_length=255)
    due_at = forms.DateTimeField(label="Due", widget=DATETIME_WIDGET, required=False)
    assigned_to = forms.TypedChoiceField(label="Assignee", coerce=int, required=False, empty_value=None)
    done = forms.BooleanField(label="Done", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        contact = self.subject if self.subject._meta.model_name == "contact" else None
        self.assignees = assignable_users(self.subject.organization_id, contact)
        self.fields["assigned_to"].choices = [("", "Nobody")] + [(u.pk, u.get_full_name()) for u in self.assignees]
        self.fields["assigned_to"].initial = self.user.pk if any(u.pk == self.user.pk for u in self.assignees) else ""

    def activity_data(self):
        data = self.cleaned_data
        return {"type": Activity.Type.TASK, "subject": data["subject"], "due_at": data["due_at"],
                "assigned_to_id": data["assigned_to"],
                "completed_at": timezone.now() if data["done"] else None}


FORMS = {form.kind: form for form in (NoteForm, CallForm, MeetingForm, TaskForm)}


class PreferencesForm(forms.Form):
    """A member's own settings: time zone and the daily digest (activities.notifications.set_preferences)."""

    timezone = forms.CharField(label="Time zone", max_length=64, required=False,
                               widget=forms.TextInput(attrs={"list": "timezone-names", "autocomplete": "off"}),
                               help_text="An IANA name such as Europe/Berlin; empty for the site's.")

    @staticmethod
    def zone_names() -> list[str]:
        import zoneinfo

        return sorted(zoneinfo.available_timezones())
    email_digest = forms.BooleanField(label="Email me a daily digest of due tasks and unread notifications",
                                      required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def save(self):
        from activities.notifications import set_preferences

        try:
            return set_preferences(user=self.user, timezone_name=self.cleaned_data["timezone"],
                                   email_digest=self.cleaned_data["email_digest"])
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                self.add_error(name if name in self.fields else None, errors)
            return None
