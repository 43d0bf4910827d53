"""Exports over the API: POST /api/exports/ starts one (contacts.exports), GET lists and polls
them (each seen by the member who ran it and by org admins), …/download/<token>/ sends the
file while its link is valid, and GET /api/contacts/{id}/vcard/ one contact's vCard."""

from __future__ import annotations

import json

from django.core import signing
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from contacts import exports
from contacts.api.serializers import ContactSelectionSerializer
from contacts.filters import BulkOperationFilter
from crm.api.serializers import OrgSerializer
from crm.api.views import IsOrganizationMember, OrgReadOnlyViewSet
from crm.models import Job


class FileRenderer(BaseRenderer):
    """Lets a client ask for the file's own type (Accept: text/csv …); errors still come as JSON."""

    media_type = "*/*"
    format = "file"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        # An error (or any data) is JSON and says so, not "*/*" or the file type the client asked for.
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()


FILE_RENDERERS = [JSONRenderer, FileRenderer]


class Gone(APIException):
    status_code = status.HTTP_410_GONE
    default_detail = "This download link has expired and the file was deleted; export again for a fresh file."
    default_code = "expired"


class ExportRequestSerializer(ContactSelectionSerializer):
    """What to export (`ids` or `filters`), in which format, with which columns."""

    format = serializers.ChoiceField(choices=[(k, v[0]) for k, v in exports.FORMATS.items()])
    columns = serializers.ListField(child=serializers.CharField(), required=False, help_text=(
        "Column keys of contacts.columns (first_name, email, company, tags …) or \"custom:<key>\" for a custom "
        "field, in the order wanted. Required for csv and xlsx; vcf ignores them."))


class ExportSerializer(OrgSerializer):
    format = serializers.SerializerMethodField()
    columns = serializers.SerializerMethodField()
    selection = serializers.SerializerMethodField(help_text="{\"ids\": [...]} or {\"filters\": {...}}.")
    progress = serializers.IntegerField(read_only=True, help_text="Per cent done.")
    rows = serializers.SerializerMethodField(help_text="Contacts in the file, once done.")
    size = serializers.SerializerMethodField(help_text="File size in bytes, once done.")
    filename = serializers.SerializerMethodField()
    downloads = serializers.SerializerMethodField()
    expires_at = serializers.SerializerMethodField()
    expired = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField(help_text="While the file is there (done, not expired).")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "format", "columns", "selection", "status", "progress", "total", "processed", "rows",
                  "size", "filename", "downloads", "actor", "error", "created_at", "started_at", "finished_at",
                  "expires_at", "expired", "download_url", "url"]
        read_only_fields = fields

    def get_format(self, job) -> str:
        return job.params.get("format", "")

    def get_columns(self, job) -> list[str]:
        return job.params.get("columns", [])

    def get_selection(self, job) -> dict:
        return {key: job.params[key] for key in ("ids", "filters") if key in job.params}

    def get_rows(self, job) -> int | None:
        return job.params.get("rows")

    def get_size(self, job) -> int | None:
        return job.params.get("size")

    def get_filename(self, job) -> str:
        return job.params.get("filename", "")

    def get_downloads(self, job) -> int:
        return job.params.get("downloads", 0)

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_expires_at(self, job) -> str | None:
        at = exports.expires_at(job)
        return at.isoformat() if at else None

    def get_expired(self, job) -> bool:
        return job.status == Job.Status.DONE and exports.is_expired(job)

    def _absolute(self, path):
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_download_url(self, job) -> str | None:
        if not exports.downloadable(job):
            return None
        return self._absolute(reverse("api:export-download", args=[job.pk, job.params["token"]]))

    def get_url(self, job) -> str:
        return self._absolute(reverse("api:export-detail", args=[job.pk]))


class MayExport(IsOrganizationMember):
    """Every member may export what they see, viewers too: an export changes nothing."""

    def has_permission(self, request, view):
        from crm.permissions import Scope

        return Scope.of(request.user) is not None


class ExportViewSet(OrgReadOnlyViewSet):
    """Exports of contacts, newest first. POST starts one: up to 1,000 rows it runs at once and
    answers 201 with the finished export (its `download_url`); more run in the background and
    it answers 202 with the export to poll at `url`. Rows are only what the caller sees."""

    queryset = Job.objects.filter(kind=exports.KIND)
    serializer_class = ExportSerializer
    filterset_class = BulkOperationFilter  # ?status=
    permission_classes = [*OrgReadOnlyViewSet.permission_classes[:-1], MayExport]

    @extend_schema(request=ExportRequestSerializer, responses={201: ExportSerializer, 202: ExportSerializer})
    def create(self, request):
        body = ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        job = exports.start_export(request.user, format=data["format"], columns=data.get("columns"),
                                   ids=data.get("ids"), filters=data.get("filters"))
        code = status.HTTP_202_ACCEPTED if job.is_active else status.HTTP_201_CREATED
        return Response(ExportSerializer(job, context={"request": request}).data, status=code)

    @extend_schema(request=None, responses={
        (200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
        404: OpenApiResponse(description="Not this export's link, or not an export you can see."),
        410: OpenApiResponse(description="The link has expired (the file was deleted).")})
    @action(detail=True, methods=["get"], url_path=r"download/(?P<token>[^/]+)", renderer_classes=FILE_RENDERERS)
    def download(self, request, pk=None, token=None):
        """The export's file (Content-Disposition: attachment); each download is logged and counted."""
        job = self.get_object()
        try:
            handle = exports.open_download(request.user, job, token)
        except exports.Expired:
            raise Gone() from None
        except signing.BadSignature:
            raise Http404("No such download.") from None
        return FileResponse(handle, as_attachment=True, filename=job.params["filename"],
                            content_type=exports.content_type(job))

    @extend_schema(request=None, responses=ExportSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a queued or running export before its next chunk."""
        job = self.get_object()
        if not exports.cancel(job):
            raise ValidationError({"status": [f"This export has already stopped ({job.status})."]})
        return Response(ExportSerializer(job, context={"request": request}).data)


class VCardMixin:
    """GET /api/contacts/{id}/vcard/ on the contact viewset."""

    @extend_schema(responses={(200, "text/vcard"): OpenApiResponse(OpenApiTypes.BINARY, description="vCard 4.0")})
    @action(detail=True, methods=["get"], renderer_classes=FILE_RENDERERS)
    def vcard(self, request, pk=None):
        """The contact as a vCard 4.0 file (name, email, phones, company, title, birthday, website,
        address, notes, tags)."""
        return exports.vcard_response(request.user, pk)
