from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from activities import timeline
from activities.api.serializers import ActivitySerializer, NotificationSerializer
from activities.filters import ActivityFilter, NotificationFilter
from activities.models import Activity, Notification
from activities.notifications import mark_read
from activities.services import delete_activity
from crm.api.history import HistoryActorSerializer
from crm.api.views import OrgReadOnlyViewSet, OrgViewSet, check_query_params, sorts
from crm.pages import get_visible_or_404
from crm.permissions import CHANGE, Scope


class ActivityViewSet(OrgViewSet):
    """The timeline: a contact's activities follow the contact's visibility; company-only
    activities are visible to every member and writable by every writer."""

    queryset = Activity.objects.all()
    serializer_class = ActivitySerializer
    filterset_class = ActivityFilter
    orderings = sorts(occurred="occurred_at", created="created_at")
    default_ordering = "-occurred"

    def perform_destroy(self, instance):
        delete_activity(instance)  # the contact's dates fall back to the remaining activities


class IsMember(BasePermission):
    message = "Your account does not belong to an organization."

    def has_permission(self, request, view):
        return Scope.of(request.user) is not None


class TimelineChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    old = serializers.CharField()
    new = serializers.CharField()


class TimelineEntryChangeSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    title = serializers.CharField()
    summary = serializers.CharField()
    actor = HistoryActorSerializer(allow_null=True)
    source = serializers.CharField()
    operation = serializers.IntegerField(allow_null=True, help_text="The bulk operation (job) it was part of.")
    import_id = serializers.IntegerField(source="import", allow_null=True, help_text="The import it came from.")
    note = serializers.CharField()
    changes = TimelineChangeSerializer(many=True)


class TimelineView(APIView):
    """`GET /api/contacts/{id}/timeline/` and `/api/companies/{id}/timeline/`: activities and
    recorded changes, newest first, in keyset pages (`next` link). `?type=` is one of
    all, notes, calls, meetings, tasks, sms, emails, changes; `?page_size=` 1–100 (25)."""

    permission_classes = [IsAuthenticated, IsMember]
    model = "contact"
    allowed = {"type", "cursor", "page_size", "format"}

    @extend_schema(parameters=[
        OpenApiParameter("type", str, enum=list(timeline.GROUPS), description="Kind of entries (default all)."),
        OpenApiParameter("cursor", str, description="The `next` link's cursor; start without one."),
        OpenApiParameter("page_size", int, description="Entries per page (1–100, default 25)."),
    ], responses=inline_serializer("TimelinePage", {
        "next": serializers.URLField(allow_null=True),
        "results": serializers.ListField(child=serializers.DictField()),
    }))
    def get(self, request, pk):
        check_query_params(request, self.allowed)
        size = request.query_params.get("page_size") or str(timeline.PAGE_SIZE)
        if not size.isdigit() or not 1 <= int(size) <= timeline.MAX_PAGE_SIZE:
            raise ValidationError({"page_size": [f"Use a whole number from 1 to {timeline.MAX_PAGE_SIZE}."]})
        if self.model == "contact":
            from contacts.models import Contact

            subject = get_visible_or_404(request.user, Contact.objects.all(), pk, perms=())
        else:
            from companies.models import Company

            subject = get_visible_or_404(request.user, Company.objects.all(), pk, perms=())
        try:
            page = timeline.page(request.user, subject, group=request.query_params.get("type", "all"),
                                 cursor=request.query_params.get("cursor"), page_size=int(size))
        except timeline.TimelineError as exc:
            raise ValidationError({exc.field: [exc.message]}) from None
        context = {"request": request, "fields": None, "expand": frozenset()}
        results = []
        for entry in page.entries:
            row = {"kind": entry.kind, "id": entry.id, "occurred_at": serializers.DateTimeField().to_representation(
                entry.when)}
            if entry.activity is not None:
                row["type"] = entry.activity.type
                row["activity"] = ActivitySerializer(entry.activity, context=context).data
            else:
                row["type"] = "change"
                row["change"] = TimelineEntryChangeSerializer(entry.change).data
            results.append(row)
        next_link = (replace_query_param(request.build_absolute_uri(), "cursor", page.next_cursor)
                     if page.next_cursor else None)
        return Response({"next": next_link, "results": results})


class NotificationViewSet(OrgReadOnlyViewSet):
    """`/api/notifications/`: the caller's own notifications, newest first (`?unread=true`,
    `?kind=`); `POST …/{id}/read/` and `POST …/read-all/` mark them read."""

    queryset = Notification.objects.all()
    serializer_class = NotificationSerializer
    filterset_class = NotificationFilter

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"], permission_action=CHANGE, filter_backends=[])
    def read(self, request, pk=None):
        notification = self.get_object()
        mark_read(request.user, [notification.pk])
        notification.refresh_from_db()
        return Response(NotificationSerializer(notification, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses=inline_serializer("ReadAll", {"marked": serializers.IntegerField()}))
    @action(detail=False, methods=["post"], url_path="read-all", filter_backends=[])
    def read_all(self, request):
        return Response({"marked": mark_read(request.user)})
