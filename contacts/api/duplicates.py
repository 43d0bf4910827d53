"""/api/duplicates/ (contact pairs) and /api/company-duplicates/ (company pairs): the review
queue, best first, keyset-paginated; POST …/{id}/dismiss/ ("not a duplicate", remembered);
POST /api/duplicates/scan/ starts the organization scan (contacts and companies), whose
progress is at /api/duplicate-scans/{id}/. The work is in contacts.duplicates."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from companies.api.serializers import CompanySummarySerializer
from contacts import duplicates
from contacts.api.serializers import ContactSummarySerializer
from contacts.models import CompanyDuplicate, ContactDuplicate, DuplicateStatus
from crm.api.serializers import OrgSerializer
from crm.api.views import OrgReadOnlyViewSet
from crm.models import Job
from crm.pagination import SortKey
from crm.permissions import CHANGE


class _PairSerializer(OrgSerializer):
    reasons = serializers.ListField(child=serializers.CharField(), read_only=True,
                                    help_text='Why the pair is likely one record, e.g. ["same phone", '
                                              '"similar name 0.91"].')
    reasons_text = serializers.CharField(read_only=True)
    merge_url = serializers.SerializerMethodField(help_text="The page that merges the two records.")
    kind = "contact"

    class Meta:
        fields = ["id", "first", "second", "score", "reasons", "reasons_text", "status", "merge_url",
                  "decided_by", "decided_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_merge_url(self, pair) -> str:
        return duplicates.merge_url(pair, self.kind)


class ContactDuplicateSerializer(_PairSerializer):
    first = ContactSummarySerializer(read_only=True)
    second = ContactSummarySerializer(read_only=True)

    class Meta(_PairSerializer.Meta):
        model = ContactDuplicate


class CompanyDuplicateSerializer(_PairSerializer):
    first = CompanySummarySerializer(read_only=True)
    second = CompanySummarySerializer(read_only=True)
    kind = "company"

    class Meta(_PairSerializer.Meta):
        model = CompanyDuplicate


class DuplicateScanSerializer(OrgSerializer):
    progress = serializers.IntegerField(read_only=True, help_text="Per cent done.")
    open_pairs = serializers.SerializerMethodField(help_text="Contact pairs left to review after the scan.")
    open_company_pairs = serializers.SerializerMethodField(help_text="Company pairs left to review after the scan.")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "status", "progress", "succeeded", "open_pairs", "open_company_pairs", "actor", "error",
                  "created_at", "started_at", "finished_at", "url"]
        read_only_fields = fields

    def get_open_pairs(self, job) -> int | None:
        return job.checkpoint.get("open")

    def get_open_company_pairs(self, job) -> int | None:
        return job.checkpoint.get("open_companies")

    def get_url(self, job) -> str:
        path = reverse("api:duplicate-scan-detail", args=[job.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class _PairViewSet(OrgReadOnlyViewSet):
    orderings = {"-score": SortKey("score", True)}
    default_ordering = "-score"
    filterset_class = None
    kind = "contact"

    def rows(self):
        rows = self.queryset.filter(status=DuplicateStatus.OPEN) if self.action == "list" else self.queryset.all()
        return rows.select_related("first", "second")

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], permission_action=CHANGE)
    def dismiss(self, request, pk=None):
        """Mark the pair "not a duplicate": later scans never reopen it. 404 unless the caller sees
        both records; 403 for read-only roles."""
        pair = duplicates.get_pair(request.user, self.kind, pk, CHANGE)
        if pair is None:
            from rest_framework.exceptions import NotFound

            raise NotFound()
        duplicates.dismiss(request.user, pair)
        return Response(self.get_serializer(pair).data)


class ContactDuplicateViewSet(_PairViewSet):
    """Pairs of contacts that are likely one person, best first, with the reasons. A pair is
    listed only when the caller may see both contacts; decided pairs are not listed."""

    queryset = ContactDuplicate.objects.all()
    serializer_class = ContactDuplicateSerializer

    @extend_schema(request=None, responses={200: DuplicateScanSerializer, 202: DuplicateScanSerializer})
    @action(detail=False, methods=["post"], serializer_class=DuplicateScanSerializer)
    def scan(self, request):
        """Scan the organization for duplicate contacts and companies. Small organizations are scanned
        now (200); larger ones in the background (202: poll `url`). A scan already running is
        returned instead of starting another."""
        job = duplicates.start_scan(request.user)
        return Response(DuplicateScanSerializer(job, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED if job.is_active else status.HTTP_200_OK)


class CompanyDuplicateViewSet(_PairViewSet):
    """Pairs of companies that are likely one (same domain, same name without legal suffix)."""

    queryset = CompanyDuplicate.objects.all()
    serializer_class = CompanyDuplicateSerializer
    kind = "company"


class DuplicateScanViewSet(OrgReadOnlyViewSet):
    """Duplicate scans, newest first: status and progress. Seen by the person who ran one and org admins."""

    queryset = Job.objects.filter(kind=duplicates.KIND)
    serializer_class = DuplicateScanSerializer
    filterset_class = None
