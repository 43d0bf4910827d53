from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.serializers import StrictInputMixin
from messaging.models import MessagingSettings


class WebhookUrlsSerializer(serializers.Serializer):
    inbound = serializers.CharField(help_text="Twilio's \"A message comes in\" webhook (HTTP POST).")
    status = serializers.CharField(help_text="The status callback URL sent with every message.")


class MessagingSettingsSerializer(StrictInputMixin, serializers.ModelSerializer):
    """The organization's messaging settings. The auth token is write-only: give a new one to
    replace it, `clear_twilio_auth_token: true` to remove it; `twilio_auth_token_set` tells
    whether one is stored. Fields left out keep their value."""

    twilio_auth_token = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=128,
                                              style={"input_type": "password"})
    clear_twilio_auth_token = serializers.BooleanField(write_only=True, required=False, default=False)
    twilio_auth_token_set = serializers.SerializerMethodField()
    webhook_urls = serializers.SerializerMethodField()

    class Meta:
        model = MessagingSettings
        fields = ["backend", "twilio_account_sid", "twilio_auth_token", "clear_twilio_auth_token",
                  "twilio_auth_token_set", "twilio_messaging_service_sid", "twilio_from_number", "help_text",
                  "quiet_hours_start", "quiet_hours_end", "default_timezone", "messages_per_second",
                  "validity_seconds", "webhook_urls", "updated_at"]
        read_only_fields = ["updated_at"]

    def get_twilio_auth_token_set(self, row) -> bool:
        return bool(row.twilio_auth_token)

    @extend_schema_field(WebhookUrlsSerializer)
    def get_webhook_urls(self, row):
        return self.context["webhook_urls"]

    def validate(self, attrs):
        # Model-level validation is the service's (messaging.org_settings.save_settings).
        return attrs
