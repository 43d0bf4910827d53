"""/api/settings/encryption/: the organization's encryption-at-rest settings (org admins)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.serializers import StrictInputMixin
from crm.api.views import IsOrganizationAdmin, check_query_params
from crm.models import CustomFieldDefinition, Organization
from crm.permissions import Scope



class ConversionJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    encrypt = serializers.BooleanField(source="params.encrypt", default=False)
    total = serializers.IntegerField(allow_null=True)
    processed = serializers.IntegerField()
    progress = serializers.IntegerField(help_text="Per cent done.")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class EncryptionSettingsSerializer(StrictInputMixin, serializers.Serializer):
    encrypt_phone_numbers = serializers.BooleanField(
        help_text="Store contact phone and mobile numbers encrypted (found by the exact number only). "
                  "Changing it converts the stored numbers in a job (`job`).")
    sensitive_custom_fields = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="Keys of the custom fields whose values are encrypted (\"contact.medical_notes\").")
    job = ConversionJobSerializer(read_only=True, allow_null=True,
                                  help_text="The latest phone conversion job, to poll while it runs.")


class EncryptionSettingsView(APIView):
    """What the caller's organization encrypts at rest; PUT/PATCH `encrypt_phone_numbers` to
    turn phone encryption on or off (202 with the conversion job while it runs). Org admins only."""

    permission_classes = [IsAuthenticated, IsOrganizationAdmin]
    admin_manages = "the encryption settings"

    def _render(self, organization_id, status=200):
        from contacts import reseal

        organization = Organization.objects.get(pk=organization_id)
        sensitive = [f"{model}.{key}" for model, key in CustomFieldDefinition.objects.filter(
            organization_id=organization_id, sensitive=True).order_by("model", "position", "key")
            .values_list("model", "key")]
        data = {"encrypt_phone_numbers": organization.encrypt_phone_numbers, "sensitive_custom_fields": sensitive,
                "job": reseal.latest(organization_id, reseal.PHONES_KIND)}
        return Response(EncryptionSettingsSerializer(data).data, status=status)

    @extend_schema(responses=EncryptionSettingsSerializer)
    def get(self, request):
        check_query_params(request, {"format"})
        return self._render(Scope.of(request.user).organization_id)

    @extend_schema(request=EncryptionSettingsSerializer, responses={200: EncryptionSettingsSerializer,
                                                                   202: EncryptionSettingsSerializer})
    def put(self, request):
        from contacts.services import set_phone_encryption

        check_query_params(request, {"format"})
        organization_id = Scope.of(request.user).organization_id
        serializer = EncryptionSettingsSerializer(data=request.data, partial=request.method == "PATCH")
        serializer.is_valid(raise_exception=True)
        job = None
        if "encrypt_phone_numbers" in serializer.validated_data:
            job = set_phone_encryption(organization_id, encrypt=serializer.validated_data["encrypt_phone_numbers"],
                                       actor=request.user)
        return self._render(organization_id, status=202 if job is not None and job.is_active else 200)

    @extend_schema(request=EncryptionSettingsSerializer, responses={200: EncryptionSettingsSerializer,
                                                                   202: EncryptionSettingsSerializer})
    def patch(self, request):
        return self.put(request)
