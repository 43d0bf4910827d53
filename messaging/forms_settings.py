"""The messaging settings form (org admins). It collects input; messaging.org_settings
validates and saves, its errors land on the field they name."""

from __future__ import annotations

from django import forms

from crm.forms_settings import add_service_errors
from messaging import org_settings
from messaging.models import MessagingSettings


class MessagingSettingsForm(forms.ModelForm):
    twilio_auth_token = forms.CharField(
        label="Twilio auth token", required=False, strip=True, max_length=128,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current one.")
    clear_auth_token = forms.BooleanField(label="Clear the stored auth token", required=False)

    field_order = ["backend", "twilio_account_sid", "twilio_auth_token", "clear_auth_token"]

    class Meta:
        model = MessagingSettings
        fields = ["backend", "twilio_account_sid", "twilio_auth_token", "clear_auth_token",
                  "twilio_messaging_service_sid", "twilio_from_number", "help_text", "quiet_hours_start",
                  "quiet_hours_end", "default_timezone", "messages_per_second", "validity_seconds"]
        labels = {"twilio_account_sid": "Twilio account SID",
                  "twilio_messaging_service_sid": "Messaging service SID",
                  "twilio_from_number": "From number", "help_text": "HELP reply",
                  "validity_seconds": "Validity period (seconds)", "default_timezone": "Default time zone"}
        help_texts = {"twilio_messaging_service_sid": "MG…; when set, Twilio picks the sending number from it.",
                      "twilio_account_sid": "AC…, from the Twilio console. Empty: the platform's account."}
        widgets = {"quiet_hours_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                   "quiet_hours_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
                   "help_text": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.pop("twilio_auth_token", None)  # write-only: never sent to the browser
        if self.instance.twilio_auth_token:
            self.fields["twilio_auth_token"].widget.attrs["placeholder"] = "•••••••• (stored)"

    def _post_clean(self):
        # Validation is the service's (save_settings), not the model instance's.
        pass

    def save(self, commit=True):
        data = {name: self.cleaned_data[name] for name in org_settings.FIELDS if name in self.cleaned_data}
        try:
            return org_settings.save_settings(
                self.instance.organization_id, data, auth_token=self.cleaned_data.get("twilio_auth_token") or "",
                clear_auth_token=self.cleaned_data.get("clear_auth_token", False))
        except forms.ValidationError as exc:
            add_service_errors(self, exc)
            return None
