"""/api/teams/ and /api/members/: every member reads their organization's teams and
members; org admins create and change them. Writes go through crm.services (invite,
role/team changes with last-admin protection, deactivation with reassignment)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from crm import services
from crm.api.serializers import OrgSerializer, StrictInputMixin
from crm.api.views import OrgViewSet, sorts
from crm.filters import MemberFilter, TeamFilter
from crm.models import Membership, Team
from crm.permissions import CHANGE, Role


def member_counts():
    """Members per team as a correlated subquery (no GROUP BY on the list query)."""
    counts = (Membership.objects.filter(team_id=OuterRef("pk")).order_by().values("team_id")
              .annotate(n=Count("*")).values("n"))
    return Coalesce(Subquery(counts, output_field=IntegerField()), 0)


class TeamSerializer(OrgSerializer):
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Team
        fields = ["id", "name", "description", "member_count", "created_at", "updated_at"]

    def create(self, validated_data):
        return services.create_team(self.scope.organization_id, actor=self.user, **validated_data)

    def update(self, instance, validated_data):
        return services.update_team(instance, data=validated_data, actor=self.user)

    def to_representation(self, instance):
        if not hasattr(instance, "member_count"):
            instance.member_count = instance.memberships.count()
        return super().to_representation(instance)


class TeamViewSet(OrgViewSet):
    """Teams of the organization: every member reads them; org admins create, rename and delete
    them. Deleting a team leaves its members and contacts without a team."""

    queryset = Team.objects.all()
    serializer_class = TeamSerializer
    filterset_class = TeamFilter
    orderings = sorts(name="name", created="created_at")
    default_ordering = "name"

    def rows(self):
        return Team.objects.annotate(member_count=member_counts())

    def perform_destroy(self, instance):
        services.delete_team(instance, actor=self.request.user)


class MemberSerializer(OrgSerializer):
    """A member: their user (email, name, whether they can sign in) and their role and team.
    `id` is the membership's id (used by /api/members/ and `reassign_to`); `user` is the user
    id that owner and assignee fields elsewhere hold."""

    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name", required=False, allow_blank=True, max_length=150)
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    has_password = serializers.SerializerMethodField(
        help_text="False while an invited member has not chosen a password yet.")
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False,
                                     style={"input_type": "password"},
                                     help_text="On create: set this password instead of emailing an invitation.")

    write_hints = {
        "is_active": "Use POST /api/members/{id}/deactivate/ or /api/members/{id}/reactivate/.",
        "user": "This field is read-only: create a member with email (and full_name).",
    }

    class Meta:
        model = Membership
        fields = ["id", "user", "email", "full_name", "role", "team", "is_active", "has_password", "password",
                  "created_at", "updated_at"]
        read_only_fields = ["user"]

    def get_has_password(self, obj) -> bool:
        return obj.user.has_usable_password()

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if self.instance is not None:
            errors = {}
            if "email" in attrs.get("user", {}) and attrs["user"]["email"].strip().lower() != self.instance.user.email:
                errors["email"] = ["A member's email cannot be changed here."]
            if "password" in attrs:
                errors["password"] = ["Members choose their own password."]
            if errors:
                raise serializers.ValidationError(errors)
        return attrs

    def create(self, validated_data):
        user = validated_data.get("user", {})
        request = self.context.get("request")
        return services.invite_member(
            self.scope.organization_id, email=user.get("email", ""), full_name=user.get("full_name", ""),
            role=validated_data.get("role", Role.REP), team=validated_data.get("team"),
            password=validated_data.get("password") or None, actor=self.user,
            request=request._request if request is not None else None)

    def update(self, instance, validated_data):
        data = {name: validated_data[name] for name in ("role", "team") if name in validated_data}
        if "full_name" in validated_data.get("user", {}):
            data["full_name"] = validated_data["user"]["full_name"]
        return services.update_member(instance, data=data, actor=self.user)


class DeactivateSerializer(StrictInputMixin, serializers.Serializer):
    reassign_to = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="Member id (of /api/members/) who takes over the contacts, companies and open tasks; "
                  "required when the member owns any.")


DeactivateResult = inline_serializer("DeactivateResult", {
    "member": MemberSerializer(),
    "reassigned": inline_serializer("Reassigned", {
        "contacts": serializers.IntegerField(), "companies": serializers.IntegerField(),
        "tasks": serializers.IntegerField()}),
})


class MemberViewSet(OrgViewSet):
    """Members of the organization: every member reads the list; org admins add or invite
    members, change roles and teams, deactivate (handing over their records) and reactivate.
    Members are never deleted: their history stays attributed."""

    queryset = Membership.objects.all()
    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    orderings = sorts(created="created_at")
    default_ordering = "created"
    http_method_names = ["get", "post", "put", "patch", "head", "options"]

    def rows(self):
        return Membership.objects.select_related("user", "team")

    @extend_schema(request=DeactivateSerializer, responses=DeactivateResult)
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=DeactivateSerializer)
    def deactivate(self, request, pk=None):
        """Deactivate the member (no sign-in, no API token) and hand their contacts, companies and open
        tasks to `reassign_to`, in one transaction."""
        membership = self.get_object()
        body = DeactivateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        target_id = body.validated_data.get("reassign_to")
        target = None
        if target_id is not None:
            # Only members of the caller's organization: another organization's id reads as unknown.
            target = Membership.objects.visible_to(request.user).filter(pk=target_id).first()
            if target is None:
                raise DjangoValidationError({"reassign_to": "Choose another active member of your organization."})
        moved = services.deactivate_member(membership, reassign_to=target, actor=request.user)
        membership = self.rows().get(pk=membership.pk)
        return Response({"member": MemberSerializer(membership, context=self.get_serializer_context()).data,
                         "reassigned": moved})

    @extend_schema(request=None, responses=MemberSerializer)
    @action(detail=True, methods=["post"], permission_action=CHANGE, serializer_class=MemberSerializer)
    def reactivate(self, request, pk=None):
        """Let a deactivated member sign in again (their records stay with whoever took them over)."""
        membership = self.get_object()
        services.reactivate_member(membership, actor=request.user)
        return Response(MemberSerializer(self.rows().get(pk=membership.pk),
                                         context=self.get_serializer_context()).data)
