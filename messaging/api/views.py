from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.views import check_query_params
from crm.models import Organization
from crm.permissions import Scope
from messaging import org_settings
from messaging.api.serializers import MessagingSettingsSerializer


class IsOrganizationAdmin(BasePermission):
    def has_permission(self, request, view):
        scope = Scope.of(request.user)
        if scope is None:
            raise PermissionDenied("Your account does not belong to an organization.")
        if not scope.is_admin:
            raise PermissionDenied("Only organization admins manage the messaging settings.")
        return True


class MessagingSettingsView(APIView):
    """The caller's organization's SMS backend, Twilio credentials (the auth token is write-only),
    HELP reply, quiet hours, rate and validity period, and the webhook URLs for Twilio's console.
    Org admins only."""

    permission_classes = [IsAuthenticated, IsOrganizationAdmin]

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
