"""Contact imports over the API: upload a file, confirm the mapping (which starts the dry
run), import, follow the progress, download the rejected rows, cancel, revert. The work is
contacts.imports'; these are thin wrappers."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from contacts import imports
from contacts.import_mapping import targets
from contacts.models import ContactImport, ImportMapping
from crm.api.serializers import OrgSerializer, StrictInputMixin
from crm.api.views import OrgReadOnlyViewSet, OrgViewSet
from crm.custom_fields import definitions_for
from crm.filters import OrgScopedFilterSet
from crm.permissions import CHANGE


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "file_too_large"


class ImportProgressSerializer(serializers.Serializer):
    step = serializers.CharField(allow_null=True, help_text="preview, run or revert.")
    status = serializers.CharField(allow_null=True)
    processed = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField()
    rate = serializers.IntegerField(allow_null=True, help_text="Rows per second.")
    eta_seconds = serializers.IntegerField(allow_null=True)
    active = serializers.BooleanField()


class ContactImportSerializer(OrgSerializer):
    progress = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = ContactImport
        fields = ["id", "file_name", "file_size", "format", "stage", "error", "counts", "progress", "created_by",
                  "created_at", "updated_at", "errors_url", "url"]
        read_only_fields = fields

    @classmethod
    def optimize(cls, queryset, fields=None, expand=frozenset()):
        return super().optimize(queryset, fields, expand).select_related("preview_job", "run_job", "revert_job")

    @extend_schema_field(ImportProgressSerializer)
    def get_progress(self, imp) -> dict:
        return imports.progress(imp)

    def _absolute(self, path):
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_errors_url(self, imp) -> str | None:
        from django.urls import reverse

        if not imp.run_job_id:
            return None
        return self._absolute(reverse("api:contact-import-errors", args=[imp.pk]))

    def get_url(self, imp) -> str:
        from django.urls import reverse

        return self._absolute(reverse("api:contact-import-detail", args=[imp.pk]))


class ContactImportDetailSerializer(ContactImportSerializer):
    """One import in full: what was read of the file, the mapping and options, the dry run."""

    targets = serializers.SerializerMethodField(help_text="The values `mapping` accepts, with their labels.")
    enrichment = serializers.SerializerMethodField(
        help_text="The job enriching the contacts this import wrote (status, total, processed, succeeded, failed, "
                  "percent), once the import finished; null before.")

    class Meta(ContactImportSerializer.Meta):
        fields = [*ContactImportSerializer.Meta.fields[:4], "encoding", "delimiter", "headers", "sample", "mapping",
                  "options", "targets", "preview", *ContactImportSerializer.Meta.fields[4:], "enrichment"]
        read_only_fields = fields

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_enrichment(self, imp) -> dict | None:
        from contacts.enrichment import import_progress

        return import_progress(imp)

    def get_targets(self, imp) -> list[list[str]]:
        return [list(t) for t in targets(definitions_for(imp.organization_id, "contact"))]


class ImportUploadSerializer(StrictInputMixin, serializers.Serializer):
    # Empty files reach the service, whose message names the file.
    file = serializers.FileField(allow_empty_file=True, help_text="CSV (any common encoding and delimiter), XLSX, XLS or vCard (.vcf).")
    mapping = serializers.JSONField(required=False, help_text=(
        "One target per column (see `targets`; null: not imported). Given here, the dry run starts at once."))
    options = serializers.JSONField(required=False, help_text=(
        "match_by (email, phone, external_id), mode (create_only, update, update_empty), duplicates (merge, report), "
        "invalid (skip, all_or_nothing), plus_tags (bool), region (e.g. US), date_order (mdy, dmy)."))
    save_as = serializers.CharField(required=False, allow_blank=True, max_length=120,
                                    help_text="Save the mapping under this name for next time.")


class ImportConfigureSerializer(StrictInputMixin, serializers.Serializer):
    mapping = serializers.JSONField()
    options = serializers.JSONField(required=False)
    save_as = serializers.CharField(required=False, allow_blank=True, max_length=120)


class ContactImportFilter(OrgScopedFilterSet):
    class Meta:
        model = ContactImport
        fields = ["stage"]


class ContactImportViewSet(OrgReadOnlyViewSet):
    """Contact imports, newest first. Each is seen by the person who uploaded it and by org admins.

    `POST /api/imports/` (multipart: `file`, optionally `mapping`, `options`, `save_as`) stores the
    file and answers its headers, first rows and guessed `mapping`; `POST …/configure/` confirms the
    mapping and starts the dry run (`preview`: counts per outcome and the first rows as they would
    be imported); `POST …/run/` imports; follow `progress`; `GET …/errors/` downloads the rows not
    imported with an error column; `POST …/cancel/` and `POST …/revert/`."""

    queryset = ContactImport.objects.all()
    serializer_class = ContactImportSerializer
    filterset_class = ContactImportFilter
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_serializer_class(self):
        return ContactImportSerializer if self.action == "list" else ContactImportDetailSerializer

    def _respond(self, imp, code=status.HTTP_200_OK):
        imp = ContactImportSerializer.optimize(ContactImport.objects.filter(pk=imp.pk)).get()
        data = ContactImportDetailSerializer(imp, context=self.get_serializer_context()).data
        progress = data["progress"]
        return Response(data, status=status.HTTP_202_ACCEPTED if progress["active"] else code)

    @extend_schema(request={"multipart/form-data": ImportUploadSerializer},
                   responses={201: ContactImportDetailSerializer, 202: ContactImportDetailSerializer})
    def create(self, request):
        serializer = ImportUploadSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            imp = imports.upload(request.user, data["file"])
        except imports.FileTooLarge as exc:
            raise PayloadTooLarge(exc.message_dict) from None
        if "mapping" in data:
            imp = imports.configure(imp, request.user, mapping=data["mapping"], options=data.get("options"),
                                    save_as=data.get("save_as", ""))
        elif "options" in data:
            imp.options = imports.clean_options(data["options"])
            imp.save(update_fields=["options", "updated_at"])
        return self._respond(imp, status.HTTP_201_CREATED)

    @extend_schema(request=ImportConfigureSerializer, responses={200: ContactImportDetailSerializer,
                                                                 202: ContactImportDetailSerializer})
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=ImportConfigureSerializer)
    def configure(self, request, pk=None):
        """Confirm the mapping and options; starts the dry run over the whole file."""
        imp = self.get_object()
        serializer = ImportConfigureSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        imp = imports.configure(imp, request.user, mapping=data["mapping"], options=data.get("options"),
                                save_as=data.get("save_as", ""))
        return self._respond(imp)

    @extend_schema(request=None, responses={200: ContactImportDetailSerializer, 202: ContactImportDetailSerializer})
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=ContactImportDetailSerializer)
    def run(self, request, pk=None):
        """Import the checked file (in Celery for all but small files: poll the import)."""
        return self._respond(imports.start_import(self.get_object(), request.user))

    @extend_schema(request=None, responses={200: ContactImportDetailSerializer, 202: ContactImportDetailSerializer})
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=ContactImportDetailSerializer)
    def revert(self, request, pk=None):
        """Undo the import: created contacts removed, updated ones restored; later changes are kept
        and reported as conflicts."""
        return self._respond(imports.start_revert(self.get_object(), request.user))

    @extend_schema(request=None, responses=ContactImportDetailSerializer)
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=ContactImportDetailSerializer)
    def cancel(self, request, pk=None):
        """Stop the running dry run, import or revert after its current batch."""
        imp = self.get_object()
        if not imports.cancel(imp, request.user):
            raise serializers.ValidationError({"stage": [f"Nothing is running ({imp.get_stage_display().lower()})."]})
        return self._respond(imp)

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"], serializer_class=ContactImportSerializer)
    def errors(self, request, pk=None):
        """The rows that were not imported: the file's columns plus an "Errors" column (CSV)."""
        return error_file_response(self.get_object())


def error_file_response(imp: ContactImport) -> StreamingHttpResponse:
    from crm import rls

    response = StreamingHttpResponse(rls.bind(imports.error_file(imp)), content_type="text/csv; charset=utf-8")
    stem = imp.file_name.rsplit(".", 1)[0] or "import"
    response["Content-Disposition"] = f'attachment; filename="{stem[:80]}-errors.csv"'
    return response


class ImportMappingSerializer(OrgSerializer):
    class Meta:
        model = ImportMapping
        fields = ["id", "name", "columns", "options", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "created_by", "created_at", "updated_at"]

    def validate_options(self, value):
        return imports.clean_options(value)

    def validate_columns(self, value):
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise serializers.ValidationError('Give an object of "normalized header": "target".')
        return value


class ImportMappingFilter(OrgScopedFilterSet):
    class Meta:
        model = ImportMapping
        fields: list[str] = []


class ImportMappingViewSet(OrgViewSet):
    """Saved column mappings: an upload whose headers fit one uses it instead of the guesses."""

    queryset = ImportMapping.objects.all()
    serializer_class = ImportMappingSerializer
    filterset_class = ImportMappingFilter
    http_method_names = ["get", "patch", "delete", "head", "options"]



