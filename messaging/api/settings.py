from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.serializers import StrictInputMixin
from crm.api.views import IsOrganizationAdmin, check_query_params
from crm.models import Organization
from crm.permissions import Scope
from messaging import org_settings
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



class MessagingSettingsView(APIView):
    """The caller's organization's SMS backend, Twilio credentials (the auth token is write-only),
    HELP reply, quiet hours, rate and validity period, and the webhook URLs for Twilio's console.
    Org admins only."""

    permission_classes = [IsAuthenticated, IsOrganizationAdmin]
    admin_manages = "the messaging settings"

    def _render(self, request, row, status=200):
        organization = Organization.objects.get(pk=row.organization_id)
        context = {"request": request, "webhook_urls": org_settings.webhook_urls(organization, request)}
        return Response(MessagingSettingsSerializer(row, context=context).data, status=status)

    @extend_schema(responses=MessagingSettingsSerializer)
    def get(self, request):
        check_query_params(request, {"format"})
        return self._render(request, org_settings.settings_row(Scope.of(request.user).organization_id))

    @extend_schema(request=MessagingSettingsSerializer, responses=MessagingSettingsSerializer)
    def put(self, request):
        check_query_params(request, {"format"})
        organization_id = Scope.of(request.user).organization_id
        serializer = MessagingSettingsSerializer(org_settings.settings_row(organization_id), data=request.data,
                                                 partial=True)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        token = data.pop("twilio_auth_token", "")
        clear = data.pop("clear_twilio_auth_token", False)
        row = org_settings.save_settings(organization_id, data, auth_token=token, clear_auth_token=clear)
        return self._render(request, row)

    @extend_schema(request=MessagingSettingsSerializer, responses=MessagingSettingsSerializer)
    def patch(self, request):
        return self.put(request)
