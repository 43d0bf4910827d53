"""Lead scoring in the API: the organization's weights (GET/PUT /api/scoring-model/), and each
contact's score breakdown with its history and insights (GET /api/contacts/{id}/score/ and
/api/contacts/{id}/insights/, through the contact's visibility: 404 when it is not yours to see)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts import insights, scoring
from contacts.models import ScoreHistory, ScoringModel
from crm.api.serializers import StrictInputMixin
from crm.api.views import check_query_params
from crm.permissions import Scope


class ScoringJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField(source="params.reason", default="")
    total = serializers.IntegerField(allow_null=True)
    processed = serializers.IntegerField()
    succeeded = serializers.IntegerField(help_text="Contacts whose score changed.")
    progress = serializers.IntegerField(help_text="Per cent done.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ScoringModelSerializer(StrictInputMixin, serializers.ModelSerializer):
    """Points per signal (0–100 each) and the half-life of behaviour points in days (at least 1).
    Fields left out of a PUT keep their value."""

    target_industries = serializers.ListField(child=serializers.CharField(max_length=120), required=False,
                                              help_text="Industries you sell to (matched case-insensitively).")
    recompute_job = serializers.SerializerMethodField()
    # None until an admin first saves the model (the defaults apply until then).
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = ScoringModel
        fields = [*ScoringModel.WEIGHT_FIELDS, "target_industries", "updated_at", "recompute_job"]
        read_only_fields = ["updated_at"]
        # The model's own wording (DRF would otherwise say "greater than or equal to 0").
        extra_kwargs = {name: {"error_messages": {
            "min_value": ("The half-life must be at least 1 day." if name == "half_life_days"
                          else "Points cannot be negative (penalties are subtracted already)."),
            "max_value": ("The half-life can be at most 3,650 days." if name == "half_life_days"
                          else "At most 100 points."),
            "invalid": "Give a number."}} for name in ScoringModel.WEIGHT_FIELDS}

    @extend_schema_field(ScoringJobSerializer(allow_null=True))
    def get_recompute_job(self, row):
        job = scoring.latest_job(row.organization_id)
        return ScoringJobSerializer(job).data if job is not None else None


class ScoringModelView(APIView):
    """The organization's lead-scoring weights (contacts.scoring documents the rules). Every member
    reads them; org admins change them, which rescores every contact in a background job
    (`recompute_job` shows its progress)."""

    permission_classes = [IsAuthenticated]

    def _scope(self, request, *, write: bool):
        scope = Scope.of(request.user)
        if scope is None:
            raise PermissionDenied("Your account does not belong to an organization.")
        if write and not scope.is_admin:
            raise PermissionDenied("Only organization admins change the scoring weights.")
        return scope

    @extend_schema(responses=ScoringModelSerializer)
    def get(self, request):
        check_query_params(request, {"format"})
        scope = self._scope(request, write=False)
        return Response(ScoringModelSerializer(ScoringModel.for_organization(scope.organization_id)).data)

    @extend_schema(request=ScoringModelSerializer, responses=ScoringModelSerializer)
    def put(self, request):
        check_query_params(request, {"format"})
        scope = self._scope(request, write=True)
        model = ScoringModel.for_organization(scope.organization_id)
        serializer = ScoringModelSerializer(model, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        for name, value in serializer.validated_data.items():
            setattr(model, name, value)
        try:
            model.full_clean(exclude=["organization"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        scoring.save_model(model, actor=request.user)
        return Response(ScoringModelSerializer(model).data)

    @extend_schema(request=ScoringModelSerializer, responses=ScoringModelSerializer)
    def patch(self, request):
        return self.put(request)


class ScoreComponentSerializer(serializers.Serializer):
    group = serializers.ChoiceField(choices=["fit", "behaviour", "negative"])
    component = serializers.CharField(help_text="title, company_size, industry, an activity type, opt_out, bounces.")
    label = serializers.CharField()
    points = serializers.FloatField()
    why = serializers.CharField()


class ScoreHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = ScoreHistory
        fields = ["score", "previous", "reason", "computed_at"]


class ContactScoreSerializer(serializers.Serializer):
    score = serializers.IntegerField()
    computed_at = serializers.DateTimeField(allow_null=True, help_text="When the breakdown was computed.")
    raw = serializers.FloatField(allow_null=True, help_text="The points before clamping to 0–100.")
    components = ScoreComponentSerializer(many=True)
    history = ScoreHistorySerializer(many=True, help_text="The latest changes, newest first.")


class EngagementSerializer(serializers.Serializer):
    trend = serializers.ChoiceField(choices=["rising", "steady", "falling"])
    last_30_days = serializers.IntegerField()
    previous_30_days = serializers.IntegerField()


class ScoreTrendSerializer(serializers.Serializer):
    trend = serializers.ChoiceField(choices=["rising", "steady", "falling"])
    score_30_days_ago = serializers.IntegerField()


class BestTimeSerializer(serializers.Serializer):
    enough = serializers.BooleanField(help_text="False: fewer replies than the rule needs.")
    replies = serializers.IntegerField()
    timezone = serializers.CharField()
    label = serializers.CharField()
    weekday = serializers.CharField(required=False)
    start_hour = serializers.IntegerField(required=False)
    end_hour = serializers.IntegerField(required=False)


class NextActionSerializer(serializers.Serializer):
    rule = serializers.IntegerField(help_text="The number of the rule that matched (contacts.insights).")
    action = serializers.CharField()
    why = serializers.CharField()


class ContactInsightsSerializer(serializers.Serializer):
    engagement = EngagementSerializer()
    days_since_last_contact = serializers.IntegerField(allow_null=True)
    last_inbound_at = serializers.DateTimeField(allow_null=True)
    last_outbound_at = serializers.DateTimeField(allow_null=True)
    next_meeting_at = serializers.DateTimeField(allow_null=True)
    score_trend = ScoreTrendSerializer()
    best_time_to_reach = BestTimeSerializer()
    next_action = NextActionSerializer()


def score_payload(contact) -> dict:
    history = scoring.latest_history(contact, 20)
    latest = history[0] if history and history[0].score == contact.score else None
    return {"score": contact.score, "computed_at": latest.computed_at if latest else None,
            "raw": latest.breakdown.get("raw") if latest else None,
            "components": latest.breakdown.get("components", []) if latest else [],
            "history": ScoreHistorySerializer(history, many=True).data}


class ContactScoreMixin:
    """GET /api/contacts/{id}/score/ and /insights/ on the contact viewset."""

    @extend_schema(responses=ContactScoreSerializer)
    @action(detail=True, methods=["get"], serializer_class=ContactScoreSerializer, filterset_class=None)
    def score(self, request, pk=None):
        """The contact's lead score, the breakdown that explains it (each component with its points
        and why) and its latest changes."""
        return Response(ContactScoreSerializer(score_payload(self.get_object())).data)

    @extend_schema(responses=ContactInsightsSerializer)
    @action(detail=True, methods=["get"], serializer_class=ContactInsightsSerializer, filterset_class=None)
    def insights(self, request, pk=None):
        """Engagement trend, days since last contact, best time to reach, score trend and the
        suggested next action, by the rules documented in contacts.insights."""
        return Response(ContactInsightsSerializer(insights.as_json(insights.insights(self.get_object()))).data)
