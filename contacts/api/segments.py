"""/api/segments/ and /api/saved-views/: serializers and viewsets (routed in contacts/api/urls.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from contacts.filters import clean_view_filters, validate_ordering
from contacts.models import LIST_COLUMNS, SavedView, Segment, share_with_team
from contacts.segments import CriteriaError, validate_criteria
from crm.api.serializers import Expansion, OrgSerializer, UserSummarySerializer
from crm.api.views import OrgViewSet, sorts


class SharedSerializer(OrgSerializer):
    """Sharing: "private", "team" (the creator's team) or "organization"."""

    creator_field = ""

    def save_instance(self, instance, data):
        previous = instance.sharing if instance.pk else None
        for name, value in data.items():
            setattr(instance, name, value)
        if instance.pk is None:
            setattr(instance, self.creator_field, self.user)
        share_with_team(instance, previous, self.user)
        instance.full_clean()
        instance.save()
        return instance


class SegmentSerializer(SharedSerializer):
    creator_field = "created_by"
    criteria = serializers.JSONField(help_text="The and/or tree of rules (see contacts/segments.py).")
    expandable = {"created_by": Expansion(UserSummarySerializer, "created_by")}

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "sharing", "team", "criteria", "created_by", "created_at",
                  "updated_at"]
        read_only_fields = ["team"]

    def validate_criteria(self, value):
        try:
            return validate_criteria(value, self.scope.organization_id)
        except CriteriaError as exc:
            # Each error names its path: {"criteria": ["criteria.rules[1].value: Enter a number."]}
            raise serializers.ValidationError(exc.messages) from None


class SavedViewSerializer(SharedSerializer):
    creator_field = "user"
    filters = serializers.JSONField(required=False, help_text="The contact list's query parameters, e.g. "
                                                              '{"lifecycle_stage": ["lead"], "score_min": "50"}.')
    columns = serializers.ListField(child=serializers.ChoiceField(choices=LIST_COLUMNS), required=False,
                                    allow_empty=False)
    expandable = {"user": Expansion(UserSummarySerializer, "user")}

    class Meta:
        model = SavedView
        fields = ["id", "name", "sharing", "team", "filters", "columns", "ordering", "user", "created_at",
                  "updated_at"]
        read_only_fields = ["team"]

    def validate_filters(self, value):
        try:
            return clean_view_filters(value, self.context["request"])
        except DjangoValidationError as exc:
            # {"filters": {"score_min": ["Enter a number."]}}
            raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) \
                from None

    def validate_ordering(self, value):
        try:
            validate_ordering(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value


class SegmentViewSet(OrgViewSet):
    """Segments the caller may see: their own, their team's and the organization's (org admins:
    all). Only the creator or an org admin changes or deletes one. The contacts of a segment:
    `GET /api/contacts/?segment=<id>`."""

    queryset = Segment.objects.all()
    serializer_class = SegmentSerializer
    filterset_class = None
    orderings = sorts(name="name", created="created_at")
    default_ordering = "name"

    @extend_schema(responses=inline_serializer("SegmentCount", {"count": serializers.IntegerField()}))
    @action(detail=True, methods=["get"])
    def count(self, request, pk=None):
        """How many contacts the caller may see match the segment (one SQL query)."""
        segment = self.get_object()
        try:
            count = segment.contacts_for(request.user).count()
        except CriteriaError as exc:
            raise serializers.ValidationError({"criteria": exc.messages}) from None
        return Response({"count": count})


class SavedViewViewSet(OrgViewSet):
    """Saved contact-list views: filters (the list's query parameters), columns and sort.
    Apply one with `GET /api/contacts/?view=<id>` or `/contacts/?view=<id>`."""

    queryset = SavedView.objects.all()
    serializer_class = SavedViewSerializer
    filterset_class = None
    orderings = sorts(name="name", created="created_at")
    default_ordering = "name"
