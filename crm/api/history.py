"""`GET /api/<contacts|companies>/{id}/history/` and
`POST /api/<contacts|companies>/{id}/history/{event_id}/revert/` (`{"field": name, "confirm": false}`),
added to a viewset by HistoryMixin. The work is crm.audit.describe_history and
crm.history.revert_change, shared with the pages."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from crm.api.serializers import StrictInputMixin
from crm.audit import describe_history, describe_value
from crm.history import EventNotFound, RevertConflict, revert_change, stored_json
from crm.permissions import CHANGE

HISTORY_LENGTH = 100


class HistoryChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    old = serializers.CharField(help_text="The earlier value as people read it.")
    new = serializers.CharField(help_text="The value set by this change as people read it.")
    old_value = serializers.JSONField(help_text="The earlier value as stored (ids for related rows).")
    new_value = serializers.JSONField()
    revertable = serializers.BooleanField(help_text="The caller may revert this change of this field.")


class HistoryActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField(source="get_full_name")


class HistoryEntrySerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    when = serializers.DateTimeField()
    summary = serializers.CharField()
    actor = HistoryActorSerializer(allow_null=True)
    source = serializers.CharField()
    note = serializers.CharField()
    changes = HistoryChangeSerializer(many=True)


class RevertRequestSerializer(StrictInputMixin, serializers.Serializer):
    field = serializers.CharField(help_text="The field of the change to set back to its earlier value.")
    confirm = serializers.BooleanField(default=False,
                                       help_text="Revert even if the field changed again since this change.")


RevertResult = inline_serializer("RevertResult", {
    "event_id": serializers.IntegerField(), "field": serializers.CharField(),
    "reverted": serializers.BooleanField(help_text="False when the field already had the earlier value."),
    "value": serializers.JSONField(help_text="The field's value now, as stored."),
})
RevertConflictResult = inline_serializer("RevertConflict", {
    "detail": serializers.CharField(), "field": serializers.CharField(),
    "current_value": serializers.JSONField(), "expected_value": serializers.JSONField(),
    "old_value": serializers.JSONField(),
})


class HistoryMixin:
    """Adds the history and revert endpoints to an OrgViewSet of a tracked model."""

    @extend_schema(responses=HistoryEntrySerializer(many=True))
    @action(detail=True, methods=["get"], serializer_class=HistoryEntrySerializer, pagination_class=None,
            filter_backends=[])
    def history(self, request, pk=None):
        """The newest 100 recorded changes (who, when, field, old → new), newest first."""
        obj = self.get_object()
        can_change = type(obj)._default_manager.visible_to(request.user, CHANGE).filter(pk=obj.pk).exists()
        entries = describe_history(obj, limit=HISTORY_LENGTH)
        for entry in entries:
            for change in entry["changes"]:
                change["revertable"] = change["revertable"] and can_change
        return Response(HistoryEntrySerializer(entries, many=True).data)

    @extend_schema(request=RevertRequestSerializer, responses={
        200: RevertResult, 400: OpenApiResponse(description="The field cannot be reverted, or its old value is "
                                                            "no longer valid (errors name the field)."),
        409: RevertConflictResult})
    @action(detail=True, methods=["post"], url_path=r"history/(?P<event_id>[0-9]+)/revert",
            permission_action=CHANGE, serializer_class=RevertRequestSerializer, filter_backends=[])
    def revert(self, request, pk=None, event_id=None):
        """Set one field back to the value it had before the change `event_id` (through the normal
        update, audited with source "revert"). 409 when the field changed again since, unless `confirm`."""
        obj = self.get_object()
        body = RevertRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        field = body.validated_data["field"]
        try:
            obj, changed = revert_change(obj, event_id=event_id, field=field, actor=request.user,
                                         confirm=body.validated_data["confirm"])
        except EventNotFound:
            raise NotFound("No such change of this record.") from None
        except RevertConflict as conflict:
            model_field = type(obj)._meta.get_field(field)
            return Response({
                "detail": str(conflict), "field": field, "current_value": conflict.current,
                "expected_value": conflict.expected, "old_value": conflict.old,
                "current": describe_value(model_field, conflict.current),
            }, status=status.HTTP_409_CONFLICT)
        return Response({"event_id": int(event_id), "field": field, "reverted": bool(changed),
                         "value": stored_json(obj, type(obj)._meta.get_field(field))})
