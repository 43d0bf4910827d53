"""Privacy over the API (contacts.privacy): POST /api/contacts/{id}/privacy-export/ and
/api/contacts/{id}/erase/ (org admins; others who see the contact get 403, everyone else 404),
GET/POST /api/contacts/{id}/consent/ (the consent ledger), GET /api/privacy-requests/ (the
30-day request log, org admins) with …/{id}/download/ for a finished export, and
POST /api/privacy-tombstones/lift/ to record an erased person's consent to be added again."""

from __future__ import annotations

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from contacts import privacy
from contacts.api.exports import FILE_RENDERERS
from contacts.models import Channel, ConsentEvent, ConsentStatus, PrivacyRequest
from contacts.services import record_consent
from crm.api.serializers import OrgSerializer
from crm.api.views import IsOrganizationMember, OrgReadOnlyViewSet
from crm.pages import get_visible_or_404
from crm.permissions import CHANGE, VIEW


class PrivacyRequestSerializer(OrgSerializer):
    reference = serializers.CharField(read_only=True, help_text="Opaque reference to the subject.")
    requested_by = serializers.SerializerMethodField()
    expires_at = serializers.SerializerMethodField(help_text="Exports: when the file is deleted.")
    download_url = serializers.SerializerMethodField(help_text="Exports: while the file can be downloaded.")
    url = serializers.SerializerMethodField()

    class Meta:
        model = PrivacyRequest
        fields = ["id", "kind", "reference", "contact_id", "requested_by", "status", "created_at", "finished_at",
                  "error", "expires_at", "download_url", "url"]
        read_only_fields = fields

    def get_requested_by(self, obj) -> str | None:
        return obj.requested_by.email if obj.requested_by_id else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, obj):
        at = privacy.export_expires_at(obj.job) if obj.kind == PrivacyRequest.Kind.EXPORT else None
        return at.isoformat() if at else None

    def _absolute(self, path):
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_download_url(self, obj) -> str | None:
        return self._absolute(reverse("api:privacy-request-download", args=[obj.pk])) if privacy.downloadable(
            obj) else None

    def get_url(self, obj) -> str:
        return self._absolute(reverse("api:privacy-request-detail", args=[obj.pk]))


class ConsentEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentEvent
        fields = ["id", "channel", "status", "source", "occurred_at", "actor", "ip_address", "evidence"]
        read_only_fields = ["id", "occurred_at", "actor", "ip_address"]
        extra_kwargs = {"status": {"choices": [ConsentStatus.GRANTED, ConsentStatus.REVOKED]},
                        "channel": {"choices": Channel.choices}}


class PrivacyMixin:
    """Actions on the contact viewset."""

    def _privacy_response(self, request, privacy_request):
        data = PrivacyRequestSerializer(privacy_request, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: PrivacyRequestSerializer,
                                            403: OpenApiResponse(description="Not an org admin."),
                                            404: OpenApiResponse(description="No such contact you can see.")})
    @action(detail=True, methods=["post"], url_path="privacy-export", filter_backends=[])
    def privacy_export(self, request, pk=None):
        """Start a subject access export (zip of JSON + CSVs) in the background; poll the request at
        `url`, download at `download_url` once done. Org admins only."""
        return self._privacy_response(request, privacy.request_export(request.user, pk))

    @extend_schema(request=None, responses={202: PrivacyRequestSerializer,
                                            403: OpenApiResponse(description="Not an org admin."),
                                            404: OpenApiResponse(description="No such contact you can see.")})
    @action(detail=True, methods=["post"], filter_backends=[])
    def erase(self, request, pk=None):
        """Erase the person for good (GDPR right to erasure), within minutes, in the background:
        the contact, records merged into it and every copy of their data; a tombstone refuses
        re-creating them until their consent is recorded. Org admins only."""
        return self._privacy_response(request, privacy.request_erasure(request.user, pk))

    @extend_schema(methods=["GET"], request=None, responses=ConsentEventSerializer(many=True))
    @extend_schema(methods=["POST"], request=ConsentEventSerializer, responses={201: ConsentEventSerializer})
    @action(detail=True, methods=["get", "post"], filter_backends=[], pagination_class=None)
    def consent(self, request, pk=None):
        """The contact's consent ledger, newest first; POST appends an event (granted or revoked on
        email, sms or call) and updates the current status of the channel."""
        if request.method == "GET":
            contact = get_visible_or_404(request.user, self.rows(), pk, VIEW, perms=())
            events = ConsentEvent.objects.filter(contact=contact).order_by("-occurred_at", "-id")
            return Response(ConsentEventSerializer(events, many=True).data)
        contact = get_visible_or_404(request.user, self.rows(), pk, CHANGE, perms=())
        body = ConsentEventSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event = record_consent(contact=contact, actor=request.user, ip_address=request.META.get("REMOTE_ADDR"),
                               **body.validated_data)
        return Response(ConsentEventSerializer(event).data, status=status.HTTP_201_CREATED)


class PrivacyRequestViewSet(OrgReadOnlyViewSet):
    """The privacy request log (exports and erasures of the last 30 days), newest first. Org
    admins only: others see an empty list."""

    queryset = PrivacyRequest.objects.select_related("requested_by", "job")
    serializer_class = PrivacyRequestSerializer
    filterset_class = None

    @extend_schema(request=None, responses={
        (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The export (zip)."),
        404: OpenApiResponse(description="Not a finished export you can see, or expired.")})
    @action(detail=True, methods=["get"], renderer_classes=FILE_RENDERERS)
    def download(self, request, pk=None):
        """The subject access export's zip, while it is kept (KITH_PRIVACY_EXPORT_TTL_SECONDS)."""
        privacy_request = self.get_object()
        handle, name = privacy.open_download(request.user, privacy_request)
        return FileResponse(handle, as_attachment=True, filename=name, content_type="application/zip")


class LiftSerializer(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(required=False, allow_blank=True, default="")
    evidence = serializers.CharField(help_text="How the person gave their consent.")


class LiftResultSerializer(serializers.Serializer):
    lifted = serializers.IntegerField()


class TombstoneViewSet(viewsets.ViewSet):
    """Erased people's tombstones (keyed hashes, nothing readable)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=LiftSerializer, responses={200: LiftResultSerializer})
    @action(detail=False, methods=["post"])
    def lift(self, request):
        """Record that an erased person consented to be added again: the tombstones of `email`
        and/or `phone` are lifted, with `evidence`. Org admins only."""
        body = LiftSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        lifted = privacy.lift_tombstones(request.user, **body.validated_data)
        return Response({"lifted": lifted})


__all__ = ["IsOrganizationMember", "PrivacyMixin", "PrivacyRequestViewSet", "TombstoneViewSet"]
