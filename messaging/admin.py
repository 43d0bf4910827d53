from django.contrib import admin

from crm.admin_base import OrgAdmin, ReadOnlyAdminMixin
from messaging.models import Message, MessagingSettings, SmsTemplate


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(OrgAdmin):
    list_display = ["organization", "backend", "twilio_account_sid", "twilio_from_number", "messages_per_second"]
    # The auth token is write-only here: shown as a password field, never echoed back.
    fields = ["organization", "backend", "twilio_account_sid", "twilio_auth_token", "twilio_messaging_service_sid",
              "twilio_from_number", "help_text", "quiet_hours_start", "quiet_hours_end", "default_timezone",
              "messages_per_second", "validity_seconds"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "twilio_auth_token":
            from django import forms

            kwargs["widget"] = forms.PasswordInput(render_value=False)
            kwargs["required"] = False
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(SmsTemplate)
class SmsTemplateAdmin(OrgAdmin):
    list_display = ["name", "kind", "body"]
    list_filter = ["kind"]
    search_fields = ["name", "body"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, OrgAdmin):
    list_display = ["created_at", "direction", "status", "to_number", "from_number", "contact", "segments",
                    "error_code"]
    list_select_related = ["contact"]
    list_filter = ["direction", "status"]
    search_fields = ["to_number", "from_number", "provider_sid", "contact__display_name"]
