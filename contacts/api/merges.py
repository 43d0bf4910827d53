"""Merge API: merge contacts or companies, read a merge, undo it, bulk merges in Celery.
All the work is in contacts.merge; records and merges are fetched through the visibility gate
(another organization's or team's → 404)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts import merge as merging
from contacts.models import Merge
from crm.models import Job, JobItem
from crm.permissions import CHANGE, VIEW, Scope


class MergeRequestSerializer(serializers.Serializer):
    survivor = serializers.IntegerField(help_text="The record that stays.")
    merged = serializers.ListField(child=serializers.IntegerField(), help_text="Records merged into it.")
    fields = serializers.DictField(child=serializers.IntegerField(), required=False,
                                   help_text='Field -> id of the record to take its value from, e.g. '
                                             '{"email": 12, "custom_fields.budget": 13}; other fields take the '
                                             'newest non-empty value.')


class MergeSerializer(serializers.ModelSerializer):
    conflicts = serializers.SerializerMethodField(help_text="What changed since (an undo is refused while "
                                                            "any is listed).")
    url = serializers.SerializerMethodField()

    class Meta:
        model = Merge
        fields = ["id", "kind", "survivor_id", "merged_ids", "fields", "summary", "actor", "job", "created_at",
                  "undone_at", "undone_by", "conflicts", "url"]
        read_only_fields = fields

    def get_conflicts(self, merge) -> list[str]:
        return [] if merge.undone_at else merging.conflicts(merge)

    def get_url(self, merge) -> str:
        app = "contacts" if merge.kind == Merge.Kind.CONTACT else "companies"
        return reverse(f"{app}:merge_detail", args=[merge.pk])


class BulkMergeRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Merge.Kind.choices, default=Merge.Kind.CONTACT)
    groups = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()),
                                   help_text="Groups of ids; each is merged into its most recently updated record.")


class BulkMergeSerializer(serializers.ModelSerializer):
    progress = serializers.IntegerField(read_only=True)
    results = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = ["id", "status", "progress", "total", "processed", "succeeded", "failed", "error", "created_at",
                  "finished_at", "results", "url"]
        read_only_fields = fields

    def get_results(self, job) -> list[dict]:
        return [{"group": item.before.get("group"), "ids": item.before.get("ids"), "result": item.outcome,
                 "merge": item.after.get("merge"), "message": item.message}
                for item in JobItem.objects.filter(job=job).order_by("id")]

    def get_url(self, job) -> str:
        return reverse("contacts:bulk_merge_detail", args=[job.pk])


class IsMember(BasePermission):
    message = "Your account does not belong to an organization."

    def has_permission(self, request, view):
        return Scope.of(request.user) is not None


class _Base(APIView):
    permission_classes = [IsAuthenticated, IsMember]


class MergeCreateView(_Base):
    """Merge records into a survivor (201 with the merge). Another organization's or team's
    record → 404; one the user sees but may not change → 403; bad ids or choices → 400."""

    kind = Merge.Kind.CONTACT

    @extend_schema(request=MergeRequestSerializer, responses={201: MergeSerializer})
    def post(self, request):
        data = MergeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = merging.merge(request.user, self.kind, data.validated_data["survivor"],
                               data.validated_data["merged"], data.validated_data.get("fields"), source="api")
        return Response(MergeSerializer(record).data, status=status.HTTP_201_CREATED)


class MergeDetailView(_Base):
    """One merge: what was merged, the values chosen, and what changed since."""

    @extend_schema(responses=MergeSerializer)
    def get(self, request, pk):
        record = get_object_or_404(Merge.objects.visible_to(request.user, VIEW), pk=pk)
        return Response(MergeSerializer(record).data)


class MergeUndoView(_Base):
    """Undo a merge: both records and every moved row back exactly. Refused with 409 and the
    list of conflicts when something changed since; 400 when already undone."""

    @extend_schema(request=None, responses={200: MergeSerializer, 409: inline_serializer(
        "MergeConflicts", {"detail": serializers.CharField(), "conflicts": serializers.ListField(
            child=serializers.CharField())})})
    def post(self, request, pk):
        record = get_object_or_404(Merge.objects.visible_to(request.user, CHANGE), pk=pk)
        try:
            record = merging.undo(request.user, record, source="api")
        except merging.MergeConflict as exc:
            return Response({"detail": "The merge cannot be undone: these changed since.",
                             "conflicts": exc.conflicts}, status=status.HTTP_409_CONFLICT)
        return Response(MergeSerializer(record).data)


class BulkMergeView(_Base):
    """Merge many groups in a background job (202): each group all-or-nothing, a group that fails
    is reported with its reason and the others go on."""

    @extend_schema(request=BulkMergeRequestSerializer, responses={202: BulkMergeSerializer})
    def post(self, request):
        data = BulkMergeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = merging.start_bulk_merge(request.user, data.validated_data["groups"], data.validated_data["kind"])
        return Response(BulkMergeSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class BulkMergeDetailView(_Base):
    """A bulk merge's progress and, per group, its result."""

    @extend_schema(responses=BulkMergeSerializer)
    def get(self, request, pk):
        job = get_object_or_404(Job.objects.visible_to(request.user, VIEW).filter(kind=merging.BULK_KIND), pk=pk)
        return Response(BulkMergeSerializer(job).data)
