from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from messaging import segments, services
from messaging.models import SmsTemplate


def add_errors(form, exc: ValidationError) -> None:
    for field, messages in exc.message_dict.items():
        for message in messages:
            form.add_error(field if field in form.fields else None, message)


class SendSmsForm(forms.Form):
    """The contact page's SMS panel; the service does the checking."""

    template = forms.ModelChoiceField(queryset=SmsTemplate.objects.none(), required=False, empty_label="No template")
    body = forms.CharField(required=False, max_length=5000, label="Message",
                           widget=forms.Textarea(attrs={"rows": 4, "placeholder": "Hi {{first_name}}, …"}))
    scheduled_for = forms.DateTimeField(
        required=False, label="Send at", input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty to send now. In the contact's time zone.")

    def __init__(self, *args, contact, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.contact, self.user = contact, user
        self.fields["template"].queryset = SmsTemplate.objects.visible_to(user).filter(kind=SmsTemplate.Kind.MESSAGE)
        self.fields["body"].widget.attrs["data-sms-counter"] = f"sms-counter-{contact.pk}"
        self.tz = services.contact_timezone(contact)

    def clean_scheduled_for(self):
        value = self.cleaned_data.get("scheduled_for")
        if value is None:
            return None
        # The browser sends a wall-clock time: the contact's.
        return value.replace(tzinfo=None).replace(tzinfo=self.tz) if isinstance(value, datetime.datetime) else value

    def save(self):
        data = self.cleaned_data
        try:
            return services.send_sms(self.user, self.contact, body=data.get("body"), template=data.get("template"),
                                     scheduled_for=data.get("scheduled_for"))
        except ValidationError as exc:
            add_errors(self, exc)
        except PermissionDenied as exc:
            self.add_error(None, str(exc))
        return None

    def preview(self) -> tuple[str, segments.SegmentInfo | None]:
        """The merged text and its segments (errors added to the form)."""
        data = self.cleaned_data
        text = data.get("body") if (data.get("body") or "").strip() else (
            data["template"].body if data.get("template") else "")
        try:
            services.check_body(text)
            text = services.render(text, self.contact)
            return text, services.check_body(text)
        except ValidationError as exc:
            add_errors(self, exc)
            return text, None


class SmsTemplateForm(forms.ModelForm):
    class Meta:
        model = SmsTemplate
        fields = ["name", "kind", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 5, "data-sms-counter": "template-counter"})}
        help_texts = {"body": "Merge fields: " + ", ".join("{{%s}}" % name for name in services.MERGE_FIELDS)}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if self.instance.created_by_id is None and self.instance.pk is None:
            self.instance.created_by = user

    def clean_body(self):
        body = self.cleaned_data["body"]
        try:
            services.check_template_text(body)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["body"]) from None
        if segments.count(body).too_long:
            raise ValidationError(f"Too long: more than {segments.MAX_SEGMENTS} segments.")
        return body
